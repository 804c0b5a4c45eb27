"""Issuing and revoking API tokens.

Like the other services: keyword-only arguments, full validation before any write, one transaction
with the audit entry, ``ValidationError`` keyed by field. The clear token is returned once by
``api_token_issue`` and is never stored or audited (neither is its hash).
"""

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, ApiTokenScope
from accounts.tokens import generate_prefix, generate_token, hash_token
from audit.models import AuditAction
from audit.services import audit_record, diff, snapshot

DEFAULT_EXPIRES_IN_DAYS = 90
MAX_EXPIRES_IN_DAYS = 3660  # ten years; longer lives are "never expires" (expires_in_days=None)
_NOT_AUDITED = frozenset({"token_hash"})


def _audited_snapshot(token: ApiToken) -> dict[str, Any]:
    return {k: v for k, v in snapshot(token).items() if k not in _NOT_AUDITED}


def _unused_prefix() -> str:
    for _ in range(10):
        prefix = generate_prefix()
        if not ApiToken.objects.filter(prefix=prefix).exists():
            return prefix
    raise RuntimeError("Could not find an unused API token prefix.")  # pragma: no cover


@transaction.atomic
def api_token_issue(
    *,
    actor: Any,
    user: Any,
    scope: str,
    name: str = "",
    expires_in_days: int | None = DEFAULT_EXPIRES_IN_DAYS,
) -> tuple[ApiToken, str]:
    """Issue a token acting as ``user``. Returns the token's row and the clear token, which is
    shown to the person who asked for it once and cannot be recovered afterwards.

    ``expires_in_days=None`` makes a token that never expires."""
    errors: dict[str, str] = {}
    if user is None or getattr(user, "pk", None) is None:
        errors["user"] = "Choose the user the token acts as."
    elif not user.is_active:
        errors["user"] = "This user is inactive; API tokens can only be issued to active users."
    if scope not in ApiTokenScope.values:
        errors["scope"] = f"Choose a scope: {' or '.join(ApiTokenScope.values)}."
    if expires_in_days is not None and (
        isinstance(expires_in_days, bool)
        or not isinstance(expires_in_days, int)
        or not 1 <= expires_in_days <= MAX_EXPIRES_IN_DAYS
    ):
        errors["expires_in_days"] = (
            f"Give the token's lifetime as a whole number of days from 1 to "
            f"{MAX_EXPIRES_IN_DAYS}, or no expiry."
        )
    if errors:
        raise ValidationError(errors)

    now = timezone.now()
    clear, prefix = generate_token(_unused_prefix())
    token = ApiToken(
        user=user,
        name=name.strip(),
        prefix=prefix,
        token_hash=hash_token(clear),
        scope=scope,
        created_at=now,
        created_by=actor if getattr(actor, "pk", None) else None,
        expires_at=None if expires_in_days is None else now + timedelta(days=expires_in_days),
    )
    token.full_clean()
    token.save()
    audit_record(
        actor=actor,
        instance=token,
        action=AuditAction.CREATE,
        changes=diff({}, _audited_snapshot(token)),
        reason=f"API token issued to {user.username}",
    )
    return token, clear


@transaction.atomic
def api_token_revoke(*, actor: Any, token: ApiToken, reason: str = "") -> ApiToken:
    """Revoke ``token`` now: every later request made with it is refused (401)."""
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is not None:
        raise ValidationError({"token": "This API token is already revoked."})
    before = _audited_snapshot(locked)
    locked.revoked_at = timezone.now()
    locked.revoked_by = actor if getattr(actor, "pk", None) else None
    locked.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        actor=actor,
        instance=locked,
        action=AuditAction.UPDATE,
        changes=diff(before, _audited_snapshot(locked)),
        reason=reason.strip() or "API token revoked",
    )
    token.revoked_at, token.revoked_by = locked.revoked_at, locked.revoked_by
    return locked


# --- Deactivation ---------------------------------------------------------------------------------

_ACTOR_ATTRIBUTE = "_itb_change_actor"
_REASON_ATTRIBUTE = "_itb_change_reason"


def set_change_actor(user: Any, *, actor: Any, reason: str = "") -> None:
    """Name who is saving ``user`` and why, for what the save sets off (the deactivation's audit
    entry and token revocations)."""
    setattr(user, _ACTOR_ATTRIBUTE, actor)
    setattr(user, _REASON_ATTRIBUTE, reason)


def change_actor(user: Any) -> Any:
    return getattr(user, _ACTOR_ATTRIBUTE, None)


def change_reason(user: Any) -> str:
    return str(getattr(user, _REASON_ATTRIBUTE, "") or "")


@transaction.atomic
def user_deactivate(*, actor: Any, user: Any, reason: str = "") -> Any:
    """Deactivate ``user``: they can no longer sign in, their browser sessions end and their API
    tokens are revoked, at once (``user_access_end``, set off by the save)."""
    from django.contrib.auth import get_user_model

    locked = get_user_model().objects.select_for_update().get(pk=user.pk)
    if not locked.is_active:
        raise ValidationError({"user": "This user is already inactive."})
    locked.is_active = False
    set_change_actor(locked, actor=actor, reason=reason)
    locked.save(update_fields=["is_active"])
    user.is_active = False
    return locked


@transaction.atomic
def user_access_end(*, user: Any, actor: Any = None, reason: str = "") -> tuple[int, int]:
    """What deactivating a user does, whatever path saved it: end their browser sessions,
    revoke their API tokens (``revoked_by`` the actor when known) and write the audit entry.
    Returns (sessions ended, tokens revoked)."""
    from accounts.sessions import user_sessions_end

    sessions = user_sessions_end(user=user)
    revoked = 0
    for token in ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("pk"):
        try:
            api_token_revoke(
                actor=actor, token=token, reason=f"User {user.get_username()} deactivated"
            )
        except ValidationError:  # revoked meanwhile
            continue
        revoked += 1
    summary = (
        f"{sessions} browser session{'s' if sessions != 1 else ''} ended, "
        f"{revoked} API token{'s' if revoked != 1 else ''} revoked"
    )
    audit_record(
        actor=actor,
        instance=user,
        action=AuditAction.UPDATE,
        changes={"is_active": [True, False]},
        reason=f"User deactivated ({summary})" + (f": {reason.strip()}" if reason.strip() else ""),
    )
    return sessions, revoked
