from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib.auth.signals import user_logged_in, user_logged_out
        from django.db.models.signals import post_save, pre_save

        # Registers the API token scheme with the OpenAPI generator, and the system checks.
        from accounts import checks, schema, signals  # noqa: F401

        user_logged_in.connect(signals.on_signed_in, dispatch_uid="accounts_signed_in")
        user_logged_out.connect(signals.on_signed_out, dispatch_uid="accounts_signed_out")
        pre_save.connect(
            signals.remember_was_active,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="accounts_remember_was_active",
        )
        post_save.connect(
            signals.end_access_when_deactivated,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="accounts_end_access_when_deactivated",
        )
