"""The sign-in lockout: too many failures for one username from one address pause sign-in for
that pair only.

Why per (username, address) and not per account: a global lockout lets anyone who knows a
nurse's username lock her out of the app in the middle of a clinic by typing wrong passwords.
Keyed by the pair, the stranger only locks themselves out; the nurse still signs in from her
own workstation. Why not per address alone: clinics sit behind one shared address (NAT), and
one person's typos must not lock out the whole ward.

The rule, with the settings ``ITB_LOGIN_MAX_FAILURES`` (N), ``ITB_LOGIN_FAILURE_WINDOW_MINUTES``
and ``ITB_LOGIN_LOCKOUT_MINUTES``:

1. failures (wrong passwords and wrong two-factor codes, ``LoginEvent`` rows with outcome
   ``failed``) are counted per pair, inside the window, since the pair's last complete sign-in
   and since its last lockout ended;
2. the failure that makes the count reach N is stored with ``locked_until`` = its time plus the
   cool-off;
3. until then every attempt for the pair is refused before the password is checked (and kept as
   ``locked_out``; these do not extend the lockout), with the same message whether or not the
   account exists;
4. after the cool-off the count starts again from zero.

Concurrent attempts may each read the count before the others' rows are committed, so a burst
can get a few more tries than N before the lock row is written; never unlimited ones.
"""

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max, Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import LoginEvent, LoginMethod, LoginOutcome

USERNAME_MAX_LENGTH = 150
USER_AGENT_MAX_LENGTH = 300


@dataclass(frozen=True)
class LockoutStatus:
    locked: bool
    until: datetime | None = None

    def minutes_left(self, now: datetime | None = None) -> int:
        if self.until is None:
            return 0
        seconds = (self.until - (now or timezone.now())).total_seconds()
        return max(1, math.ceil(seconds / 60))


NOT_LOCKED = LockoutStatus(locked=False)


def normalise_username(raw: str | None) -> str:
    """The username as the lockout and the sign-in log key it: Unicode-normalised (NFKC, as
    Django normalises usernames), without surrounding spaces, case-folded, at most 150
    characters. "Nurse " and "nurse" are one key."""
    text = unicodedata.normalize("NFKC", raw or "").strip().casefold()
    return text[:USERNAME_MAX_LENGTH]


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent ``request``, as the access log records it
    (``audit.access.client_address``: ``REMOTE_ADDR``, or behind ``ITB_TRUSTED_PROXIES``
    reverse proxies the address the outermost one saw); "" when unknown."""
    from audit.access import client_address as access_log_address

    return access_log_address(request) or ""


def user_agent(request: HttpRequest) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))[:USER_AGENT_MAX_LENGTH]


def _window() -> timedelta:
    return timedelta(minutes=settings.ITB_LOGIN_FAILURE_WINDOW_MINUTES)


def _cool_off() -> timedelta:
    return timedelta(minutes=settings.ITB_LOGIN_LOCKOUT_MINUTES)


def lockout_status(username: str, address: str, *, now: datetime | None = None) -> LockoutStatus:
    """Whether sign-in for the pair is paused at ``now``. One indexed query."""
    now = now or timezone.now()
    last_lock = (
        LoginEvent.objects.filter(username=username, address=address, locked_until__isnull=False)
        .order_by("-occurred_at", "-id")
        .values_list("locked_until", flat=True)
        .first()
    )
    if last_lock is not None and last_lock > now:
        return LockoutStatus(locked=True, until=last_lock)
    return NOT_LOCKED


def recent_failures(username: str, address: str, *, now: datetime | None = None) -> int:
    """Failures of the pair that count towards the next lockout (steps 1 and 4 above)."""
    now = now or timezone.now()
    pair = LoginEvent.objects.filter(username=username, address=address)
    since = now - _window()
    marks = pair.aggregate(
        last_success=Max("occurred_at", filter=Q(outcome=LoginOutcome.SUCCEEDED)),
        last_lock_end=Max("locked_until"),
    )
    for mark in (marks["last_success"], marks["last_lock_end"]):
        if mark is not None and mark > since:
            since = mark
    return pair.filter(outcome=LoginOutcome.FAILED, occurred_at__gt=since).count()


def find_user(username_as_typed: str) -> Any:
    """The account a typed username names, for the sign-in log: the one Django would sign in
    (exact match), else the only one that matches without case or surrounding spaces; None
    when no account (or more than one) does."""
    User = get_user_model()
    manager, field = User._default_manager, User.USERNAME_FIELD
    typed = User.normalize_username(username_as_typed)
    exact = manager.filter(**{field: typed}).first()
    if exact is not None:
        return exact
    loose = list(manager.filter(**{f"{field}__iexact": typed.strip()})[:2])
    return loose[0] if len(loose) == 1 else None


def login_event_record(
    *,
    request: HttpRequest | None,
    username: str,
    user: Any,
    method: str,
    outcome: str,
    now: datetime | None = None,
) -> LoginEvent:
    """Keep one attempt. ``username`` is normalised here."""
    return LoginEvent.objects.create(
        occurred_at=now or timezone.now(),
        username=normalise_username(username),
        user=user if getattr(user, "pk", None) else None,
        address=client_address(request) if request is not None else "",
        method=method,
        outcome=outcome,
        user_agent=user_agent(request) if request is not None else "",
    )


@transaction.atomic
def login_failure_record(
    *,
    request: HttpRequest | None,
    username: str,
    user: Any,
    method: str = LoginMethod.PASSWORD,
    now: datetime | None = None,
) -> LockoutStatus:
    """Keep a failed attempt and lock the pair if it is the N-th (step 2). Returns the pair's
    status after this failure."""
    now = now or timezone.now()
    event = login_event_record(
        request=request,
        username=username,
        user=user,
        method=method,
        outcome=LoginOutcome.FAILED,
        now=now,
    )
    failures = recent_failures(event.username, event.address, now=now)
    if failures >= settings.ITB_LOGIN_MAX_FAILURES:
        event.locked_until = now + _cool_off()
        event.save(update_fields=["locked_until"])
        return LockoutStatus(locked=True, until=event.locked_until)
    # Locked meanwhile by a concurrent attempt: say so.
    return lockout_status(event.username, event.address, now=now)


def locked_out_message(status: LockoutStatus, *, now: datetime | None = None) -> str:
    """The same words whether or not the account exists: they speak of the attempts, never of
    the account."""
    minutes = status.minutes_left(now)
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "Too many failed sign-in attempts. For your security, signing in with this username "
        f"from this network address is paused: try again in {minutes} {unit}. If you have "
        "forgotten your password, use “Forgot your password?”."
    )
