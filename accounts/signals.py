"""Signal receivers, connected in ``AccountsConfig.ready``. Each one hands over to a service at
once; the rules live in the services.

- Signing in and out: the sign-in log, the session's stamps and the table of live sessions.
- A user going from active to inactive by any path that saves the row (the admin's change form,
  ``accounts.services.user_deactivate``, a plain ``user.save()``): their sessions end and their
  API tokens are revoked (``accounts.services.user_access_end``). ``QuerySet.update()`` sends no
  signal; use the service. Whoever saves may name the actor and reason with
  ``accounts.services.set_change_actor``.
"""

from typing import Any

from django.http import HttpRequest


def on_signed_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    from accounts.lockout import login_event_record
    from accounts.models import LoginMethod, LoginOutcome
    from accounts.sessions import TWO_FACTOR_NOT_NEEDED_UNTIL, TWO_FACTOR_VERIFIED, session_start
    from accounts.two_factor import two_factor_state

    if request is None or not hasattr(request, "session"):
        return
    state = two_factor_state(user)
    request.session.pop(TWO_FACTOR_VERIFIED, None)
    request.session.pop(TWO_FACTOR_NOT_NEEDED_UNTIL, None)
    login_event_record(
        request=request,
        username=user.get_username(),
        user=user,
        method=LoginMethod.PASSWORD,
        outcome=(
            LoginOutcome.CODE_REQUIRED
            if state.has_device or state.required
            else LoginOutcome.SUCCEEDED
        ),
    )
    session_start(request, user)


def on_signed_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    from accounts.sessions import session_forget

    if request is not None:
        session_forget(request)


def remember_was_active(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if raw or instance.pk is None:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    instance._itb_was_active = (
        sender._default_manager.filter(pk=instance.pk).values_list("is_active", flat=True).first()
    )


def end_access_when_deactivated(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    from accounts.services import change_actor, change_reason, user_access_end

    was_active = instance.__dict__.pop("_itb_was_active", None)
    if raw or created or not was_active or instance.is_active:
        return
    user_access_end(user=instance, actor=change_actor(instance), reason=change_reason(instance))
