"""Two-factor authentication: who must use it, setting up an authenticator, checking a code,
recovery codes, turning it off, and the administrators' reset.

Who: clinicians and nurses (``TWO_FACTOR_ROLES``) and administrators (``is_staff`` or
superuser) may set up an authenticator. It is required for a clinician or nurse of any clinic
with ``require_two_factor``, and for administrators when ``ITB_TWO_FACTOR_REQUIRED_FOR_ADMINS``
is set. Whoever has a confirmed authenticator enters a code at every sign-in, required or not.
Caregivers and integrators (who use API tokens) are not asked.

Like the other services: keyword-only arguments, ``ValidationError`` keyed by field, one
transaction with the audit entry. The shared secret and the recovery codes are never audited.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts import totp
from accounts.models import RecoveryCode, TwoFactorDevice
from accounts.sessions import user_sessions_end
from audit.models import AuditAction
from audit.services import audit_record

WRONG_CODE = (
    "That code is not right. Enter the 6-digit code your authenticator app shows now (check "
    "that your phone sets its clock automatically), or one of your recovery codes."
)
SETUP_WRONG_CODE = (
    "That code is not right. Enter the 6-digit code the app shows for “ITB pump clinic” "
    "after adding the key (check that your phone sets its clock automatically)."
)
REUSED_CODE = "That code has already been used. Wait for the next code in your app and enter it."


def two_factor_roles() -> tuple[str, ...]:
    from pumps.models import CareRole

    return (CareRole.CLINICIAN.value, CareRole.NURSE.value)


@dataclass(frozen=True)
class TwoFactorState:
    eligible: bool  # may set up an authenticator
    has_device: bool  # has a confirmed authenticator: a code at every sign-in
    required: bool  # must have one before using the app


def two_factor_state(user: Any) -> TwoFactorState:
    """Everything the middleware needs to know about ``user``, in one query."""
    from pumps.models import CareTeamMember

    if user is None or not getattr(user, "is_authenticated", False):
        return TwoFactorState(eligible=False, has_device=False, required=False)
    memberships = CareTeamMember.objects.filter(user=OuterRef("pk"), role__in=two_factor_roles())
    row = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(
            has_device=Exists(
                TwoFactorDevice.objects.filter(user=OuterRef("pk"), confirmed_at__isnull=False)
            ),
            works_in_clinic=Exists(memberships),
            clinic_requires=Exists(memberships.filter(clinic__require_two_factor=True)),
        )
        .values_list("has_device", "works_in_clinic", "clinic_requires", "is_staff", "is_superuser")
        .first()
    )
    if row is None:
        return TwoFactorState(eligible=False, has_device=False, required=False)
    has_device, works_in_clinic, clinic_requires, is_staff, is_superuser = row
    admin = bool(is_staff or is_superuser)
    eligible = bool(works_in_clinic) or admin
    required = bool(clinic_requires) or (
        admin and bool(settings.ITB_TWO_FACTOR_REQUIRED_FOR_ADMINS)
    )
    return TwoFactorState(eligible=eligible, has_device=bool(has_device), required=required)


def clinics_requiring_two_factor(user: Any) -> QuerySet[Any]:
    """The clinics that make ``user`` use two-factor authentication (for the messages)."""
    from pumps.models import Clinic

    return (
        Clinic.objects.filter(
            require_two_factor=True,
            care_team__user=user,
            care_team__role__in=two_factor_roles(),
        )
        .distinct()
        .order_by("name")
    )


def why_required(user: Any) -> str:
    """ "Clinic A and Clinic B require", or "Administrators must use"."""
    names = [clinic.name for clinic in clinics_requiring_two_factor(user)]
    if names:
        joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"{joined} {'requires' if len(names) == 1 else 'require'}"
    return "The system settings require"


def confirmed_device(user: Any) -> TwoFactorDevice | None:
    return TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


def recovery_codes_left(user: Any) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


# --- Setting up -------------------------------------------------------------------------------


def two_factor_setup_start(*, user: Any) -> TwoFactorDevice:
    """The authenticator being set up: the unconfirmed one already started (so reloading the
    page keeps the same key), or a new one with a new secret."""
    if not two_factor_state(user).eligible:
        raise ValidationError(
            "Two-factor authentication is for clinicians, nurses and administrators."
        )
    device, _created = TwoFactorDevice.objects.get_or_create(
        user=user, defaults={"secret": totp.generate_secret()}
    )
    if device.confirmed_at is not None:
        raise ValidationError("Two-factor authentication is already set up for this account.")
    return device


def _recovery_codes_replace(user: Any, now: datetime) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = totp.generate_recovery_codes()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=totp.hash_recovery_code(code), created_at=now)
        for code in codes
    )
    return codes


@transaction.atomic
def two_factor_setup_confirm(*, user: Any, code: str, now: datetime | None = None) -> list[str]:
    """Confirm the authenticator being set up with a first right code. Returns new recovery
    codes, to be shown once."""
    now = now or timezone.now()
    device = TwoFactorDevice.objects.select_for_update().filter(user=user).first()
    if device is None or device.confirmed_at is not None:
        raise ValidationError(
            {"code": "Start again from the set-up page: there is no authenticator being set up."}
        )
    step = totp.matching_step(device.secret, totp.normalise_code(code), now)
    if step is None:
        raise ValidationError({"code": SETUP_WRONG_CODE})
    device.confirmed_at = now
    device.last_used_step, device.last_used_at = step, now
    device.save(update_fields=["confirmed_at", "last_used_step", "last_used_at"])
    codes = _recovery_codes_replace(user, now)
    audit_record(
        actor=user,
        instance=device,
        action=AuditAction.CREATE,
        changes={"confirmed_at": [None, now.isoformat()]},
        reason=f"Two-factor authentication set up ({len(codes)} recovery codes issued)",
    )
    return codes


# --- Signing in -------------------------------------------------------------------------------


class CodeCheck(Enum):
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"
    WRONG = "wrong"
    REUSED = "reused"

    @property
    def accepted(self) -> bool:
        return self in (CodeCheck.TOTP, CodeCheck.RECOVERY_CODE)


def two_factor_code_check(*, user: Any, code: str, now: datetime | None = None) -> CodeCheck:
    """Check a code typed at sign-in: a 6-digit authenticator code, or a recovery code.

    An authenticator code is accepted once: the step it belongs to must be later than the last
    accepted one (compare-and-set, so two requests racing with the same code cannot both pass).
    A recovery code is used up by the same kind of conditional update."""
    now = now or timezone.now()
    device = confirmed_device(user)
    if device is None:
        return CodeCheck.WRONG
    typed = totp.normalise_code(code)
    if totp.looks_like_totp(typed):
        step = totp.matching_step(device.secret, typed, now)
        if step is None:
            return CodeCheck.WRONG
        accepted = (
            TwoFactorDevice.objects.filter(pk=device.pk)
            .filter(Q(last_used_step__isnull=True) | Q(last_used_step__lt=step))
            .update(last_used_step=step, last_used_at=now)
        )
        return CodeCheck.TOTP if accepted else CodeCheck.REUSED
    if totp.looks_like_recovery_code(typed):
        with transaction.atomic():
            used = RecoveryCode.objects.filter(
                user=user, code_hash=totp.hash_recovery_code(typed), used_at__isnull=True
            ).update(used_at=now)
            if used:
                audit_record(
                    actor=user,
                    instance=device,
                    action=AuditAction.UPDATE,
                    changes={"recovery_codes_left": [None, recovery_codes_left(user)]},
                    reason="Signed in with a recovery code",
                )
                return CodeCheck.RECOVERY_CODE
    return CodeCheck.WRONG


# --- Managing ----------------------------------------------------------------------------------


def _password_error(user: Any, password: str) -> dict[str, str]:
    if not password or not user.check_password(password):
        return {"password": "That is not your current password."}
    return {}


@transaction.atomic
def recovery_codes_regenerate(
    *, user: Any, password: str, now: datetime | None = None
) -> list[str]:
    """New recovery codes for ``user`` (the old ones stop working), after their password."""
    now = now or timezone.now()
    errors = _password_error(user, password)
    device = confirmed_device(user)
    if device is None:
        errors["__all__"] = "Set up two-factor authentication first."
    if errors:
        raise ValidationError(errors)
    assert device is not None
    codes = _recovery_codes_replace(user, now)
    audit_record(
        actor=user,
        instance=device,
        action=AuditAction.UPDATE,
        changes={"recovery_codes_left": [None, len(codes)]},
        reason="New recovery codes made; the old ones no longer work",
    )
    return codes


def _remove(*, actor: Any, user: Any, reason: str) -> bool:
    device = TwoFactorDevice.objects.select_for_update().filter(user=user).first()
    RecoveryCode.objects.filter(user=user).delete()
    if device is None:
        return False
    if device.confirmed_at is not None:
        audit_record(
            actor=actor,
            instance=device,
            action=AuditAction.DELETE,
            changes={"confirmed_at": [device.confirmed_at.isoformat(), None]},
            reason=reason,
        )
    device.delete()
    return True


@transaction.atomic
def two_factor_disable(*, user: Any, password: str) -> None:
    """The user turns two-factor authentication off, after their password; refused while one
    of their clinics (or the settings) requires it."""
    errors = _password_error(user, password)
    state = two_factor_state(user)
    if state.required:
        errors["__all__"] = (
            f"{why_required(user)} two-factor authentication for your account, so it cannot be "
            "turned off. If you have a new phone, ask an administrator to reset it, then set it "
            "up again."
        )
    elif not state.has_device:
        errors["__all__"] = "Two-factor authentication is not turned on."
    if errors:
        raise ValidationError(errors)
    _remove(actor=user, user=user, reason="Two-factor authentication turned off by the user")


@transaction.atomic
def two_factor_reset(*, actor: Any, user: Any, reason: str = "") -> bool:
    """An administrator removes ``user``'s authenticator and recovery codes (a lost phone) and
    ends their sessions; at the next sign-in they set it up again if it is required. Returns
    whether there was anything to remove."""
    removed = _remove(
        actor=actor,
        user=user,
        reason=reason.strip() or "Two-factor authentication reset by an administrator",
    )
    if removed:
        user_sessions_end(user=user)
    return removed
