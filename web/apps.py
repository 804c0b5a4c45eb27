from typing import Any

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "web"
    verbose_name = "Web pages"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        user_logged_out.connect(_say_signed_out, dispatch_uid="web_signed_out_message")


def _say_signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Tell the user on the next page (the sign-in page) that they are signed out."""
    from django.contrib import messages

    if request is not None and hasattr(request, "_messages"):
        messages.success(request, "You have been signed out.")
