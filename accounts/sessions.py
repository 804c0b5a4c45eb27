"""Browser sessions: their limits (idle and absolute), the table of each user's live sessions,
and ending them.

What a session carries (besides Django's own keys):
- ``itb_login_at`` and ``itb_seen_at``: when the user signed in and when the session last showed
  activity (Unix seconds, UTC). ``itb_seen_at`` is written at most once a minute, so most
  requests write nothing to the session store;
- ``itb_session_limits``: the idle and absolute limits that apply, refreshed with
  ``itb_seen_at`` so a clinic's new setting reaches open sessions within a minute;
- ``itb_signed_out``: after a timeout, why, for the sign-in page to say.

The limits: the strictest of the user's clinics (clinics they work in, and the clinics of the
patients they care for); users with no clinic get ``ITB_SESSION_IDLE_MINUTES`` and
``ITB_SESSION_MAX_HOURS``.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.lockout import client_address, user_agent
from accounts.models import UserSession

logger = logging.getLogger(__name__)

LOGIN_AT = "itb_login_at"
SEEN_AT = "itb_seen_at"
LIMITS = "itb_session_limits"
SIGNED_OUT = "itb_signed_out"
# Set once the user has entered their two-factor code (or set up an authenticator) in this
# session; cleared at every sign-in.
TWO_FACTOR_VERIFIED = "itb_two_factor_verified"
# Until then (Unix seconds), the session's user needs no two-factor code: checked again once a
# minute, so a clinic that starts requiring it reaches open sessions within a minute.
TWO_FACTOR_NOT_NEEDED_UNTIL = "itb_two_factor_not_needed_until"
# ``itb_seen_at`` (and the limits with it) is rewritten when older than this. The idle limit is
# therefore measured to the minute: a session is signed out between ``idle`` and ``idle`` + 1
# minutes after its last request, never earlier.
ACTIVITY_RESOLUTION_SECONDS = 60


@dataclass(frozen=True)
class SessionLimits:
    idle_minutes: int
    max_hours: int


@dataclass(frozen=True)
class SignedOut:
    """Why a session was ended: ``idle`` (``minutes`` without activity) or ``lifetime``
    (``hours`` since signing in)."""

    reason: str
    amount: int

    @property
    def message(self) -> str:
        if self.reason == "idle":
            unit = "minute" if self.amount == 1 else "minutes"
            return (
                f"You were signed out after {self.amount} {unit} without activity. "
                "Sign in again to continue."
            )
        unit = "hour" if self.amount == 1 else "hours"
        return (
            f"You were signed out because you signed in {self.amount} {unit} ago, the longest "
            "a session lasts in your clinic. Sign in again to continue."
        )


def default_limits() -> SessionLimits:
    return SessionLimits(
        idle_minutes=int(settings.ITB_SESSION_IDLE_MINUTES),
        max_hours=int(settings.ITB_SESSION_MAX_HOURS),
    )


def session_limits_for(user: Any) -> SessionLimits:
    """The strictest limits of ``user``'s clinics, or the defaults when they have none. One
    query."""
    from pumps.models import Clinic

    limits = (
        Clinic.objects.filter(Q(care_team__user=user) | Q(patients__care_team__user=user))
        .order_by()
        .aggregate(idle=Min("session_idle_minutes"), hours=Min("session_max_hours"))
    )
    if limits["idle"] is None:
        return default_limits()
    return SessionLimits(idle_minutes=limits["idle"], max_hours=limits["hours"])


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def session_start(request: HttpRequest, user: Any, *, now: datetime | None = None) -> None:
    """On sign-in: stamp the session and add it to the user's live sessions. Rows of the user's
    sessions older than the session store keeps any session are dropped on the way."""
    now = now or timezone.now()
    session = request.session
    session[LOGIN_AT] = session[SEEN_AT] = _epoch(now)
    limits = session_limits_for(user)
    session[LIMITS] = [limits.idle_minutes, limits.max_hours]
    if session.session_key is None:
        session.save()
    UserSession.objects.filter(
        user=user, created_at__lt=now - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    ).delete()
    UserSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": user,
            "created_at": now,
            "address": client_address(request),
            "user_agent": user_agent(request),
        },
    )


def session_forget(request: HttpRequest) -> None:
    """On sign-out: the session is no longer one of the user's live sessions."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        UserSession.objects.filter(session_key=key).delete()


def session_check(request: HttpRequest, *, now: datetime | None = None) -> SignedOut | None:
    """Whether the signed-in session of ``request`` has run out; if not, note the activity
    (at most once a minute). A session with no stamps (opened before this check existed) is
    stamped now."""
    now = now or timezone.now()
    session = request.session
    user: Any = request.user
    login_at, seen_at, limits = session.get(LOGIN_AT), session.get(SEEN_AT), session.get(LIMITS)
    if not isinstance(login_at, int) or not isinstance(seen_at, int) or not limits:
        session_start(request, user, now=now)
        return None
    idle_minutes, max_hours = int(limits[0]), int(limits[1])
    current = _epoch(now)
    if current - login_at >= max_hours * 3600:
        return SignedOut(reason="lifetime", amount=max_hours)
    if current - seen_at >= idle_minutes * 60 + ACTIVITY_RESOLUTION_SECONDS:
        return SignedOut(reason="idle", amount=idle_minutes)
    if current - seen_at >= ACTIVITY_RESOLUTION_SECONDS or current < seen_at:
        session[SEEN_AT] = current
        fresh = session_limits_for(user)
        session[LIMITS] = [fresh.idle_minutes, fresh.max_hours]
        # A session whose key changed since sign-in (a password change cycles it) is still one
        # of the user's live sessions.
        if (
            session.session_key
            and not UserSession.objects.filter(session_key=session.session_key).exists()
        ):
            UserSession.objects.create(
                session_key=session.session_key,
                user=user,
                created_at=datetime.fromtimestamp(login_at, tz=UTC),
                address=client_address(request),
                user_agent=user_agent(request),
            )
    return None


def _session_store() -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore


def _delete_from_store(keys: list[str]) -> None:
    store = _session_store()
    for key in keys:
        try:
            store(session_key=key).delete(key)
        except Exception:  # a store that is down must not undo the deactivation
            logger.exception("Could not delete session %s… from the session store", key[:6])


def user_sessions_end(*, user: Any) -> int:
    """End every live browser session of ``user``: their rows go now, in the caller's
    transaction, and the sessions leave the session store when it commits (a rolled-back
    change ends nothing). Returns how many sessions were ended."""
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    if not keys:
        return 0
    UserSession.objects.filter(session_key__in=keys).delete()
    transaction.on_commit(lambda: _delete_from_store(keys))
    return len(keys)
