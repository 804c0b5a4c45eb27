"""The authentication backend every password sign-in goes through (the site's sign-in page
and the admin's): Django's model backend behind the lockout of ``accounts.lockout``.

A refused attempt stops the backend chain (``PermissionDenied``), so a locked pair is refused
before its password is checked, and leaves the lockout on ``request.itb_lockout`` for the
sign-in forms to show (``accounts.forms.LockoutMessageMixin``); a form that does not know about
it still refuses, with its usual message.

Calls without a request (``manage.py`` commands, Django's test client ``login()``) are not an
HTTP sign-in and have no address: they are checked like the model backend does, unrecorded.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.lockout import (
    client_address,
    find_user,
    lockout_status,
    login_event_record,
    login_failure_record,
    normalise_username,
)
from accounts.models import LoginMethod, LoginOutcome

LOCKOUT_ATTRIBUTE = "itb_lockout"


class LockoutModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if request is None or username is None or password is None:
            return super().authenticate(request, username=username, password=password, **kwargs)

        key, address = normalise_username(username), client_address(request)
        status = lockout_status(key, address)
        if status.locked:
            login_event_record(
                request=request,
                username=key,
                user=find_user(username),
                method=LoginMethod.PASSWORD,
                outcome=LoginOutcome.LOCKED_OUT,
            )
            setattr(request, LOCKOUT_ATTRIBUTE, status)
            raise PermissionDenied("Sign-in is paused for this username from this address.")

        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            status = login_failure_record(request=request, username=key, user=find_user(username))
            if status.locked:
                setattr(request, LOCKOUT_ATTRIBUTE, status)
        # A success is recorded when the user is signed in (accounts.signals): a right password
        # that a form then refuses (a non-staff user at the admin) signs nobody in.
        return user
