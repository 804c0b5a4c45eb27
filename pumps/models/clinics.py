"""Clinics and care teams: who looks after which patients."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"{value!r} is not an IANA time zone name (for example America/New_York)."
        ) from exc


def default_clinic_time_zone() -> str:
    return str(settings.CLINIC_TIME_ZONE)


def default_refill_buffer_days() -> int:
    return int(settings.ITB_DEFAULT_REFILL_BUFFER_DAYS)


def default_high_risk_refill_buffer_days() -> int:
    return int(settings.ITB_DEFAULT_HIGH_RISK_REFILL_BUFFER_DAYS)


def default_require_two_factor() -> bool:
    return bool(settings.ITB_TWO_FACTOR_REQUIRED_DEFAULT)


def default_session_idle_minutes() -> int:
    return int(settings.ITB_SESSION_IDLE_MINUTES)


def default_session_max_hours() -> int:
    return int(settings.ITB_SESSION_MAX_HOURS)


# Bounds of the clinic session settings: short enough that a forgotten session on a shared
# workstation ends within a shift, long enough to write a refill note without being signed out.
SESSION_IDLE_MINUTES_MIN, SESSION_IDLE_MINUTES_MAX = 5, 480
SESSION_MAX_HOURS_MIN, SESSION_MAX_HOURS_MAX = 1, 24


class Clinic(models.Model):
    name = models.CharField(max_length=200, unique=True)
    time_zone = models.CharField(
        max_length=64,
        default=default_clinic_time_zone,
        validators=[validate_time_zone],
        help_text="IANA time zone the clinic works in; dates are shown and flex steps run in it.",
    )
    phone = models.CharField(max_length=40, blank=True, help_text="Clinic number for caregivers.")
    after_hours_phone = models.CharField(
        max_length=40, blank=True, help_text="Number to call out of hours (on-call clinician)."
    )
    email = models.EmailField(blank=True)
    # Refill is due this many days before the projected low-reservoir alarm (domain.md §4: clinics
    # use 3–10 days); patients at high withdrawal risk get the longer buffer (§8).
    refill_buffer_days = models.PositiveSmallIntegerField(
        default=default_refill_buffer_days,
        validators=[MaxValueValidator(60)],
        help_text="Days before the low-reservoir alarm that a refill is due.",
    )
    high_risk_refill_buffer_days = models.PositiveSmallIntegerField(
        default=default_high_risk_refill_buffer_days,
        validators=[MaxValueValidator(60)],
        help_text="The same buffer for patients at high withdrawal risk; at least the normal one.",
    )
    require_second_verification = models.BooleanField(
        default=False,
        help_text="A second clinician or nurse must co-sign program changes that need an "
        "override or change the concentration.",
    )
    # Sign-in and sessions (accounts.two_factor, accounts.sessions). A user in several clinics
    # gets the strictest: two-factor if any of them requires it, the shortest session limits.
    require_two_factor = models.BooleanField(
        "require two-factor authentication",
        default=default_require_two_factor,
        help_text="Clinicians and nurses of this clinic must sign in with a code from an "
        "authenticator app as well as their password.",
    )
    session_idle_minutes = models.PositiveSmallIntegerField(
        "sign out after inactivity (minutes)",
        default=default_session_idle_minutes,
        validators=[
            MinValueValidator(SESSION_IDLE_MINUTES_MIN),
            MaxValueValidator(SESSION_IDLE_MINUTES_MAX),
        ],
        help_text=f"A browser session with no activity for this long is signed out "
        f"({SESSION_IDLE_MINUTES_MIN}–{SESSION_IDLE_MINUTES_MAX} minutes).",
    )
    session_max_hours = models.PositiveSmallIntegerField(
        "longest session (hours)",
        default=default_session_max_hours,
        validators=[
            MinValueValidator(SESSION_MAX_HOURS_MIN),
            MaxValueValidator(SESSION_MAX_HOURS_MAX),
        ],
        help_text=f"A browser session is signed out this long after signing in, even when in "
        f"use ({SESSION_MAX_HOURS_MIN}–{SESSION_MAX_HOURS_MAX} hours).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    session_idle_minutes__gte=SESSION_IDLE_MINUTES_MIN,
                    session_idle_minutes__lte=SESSION_IDLE_MINUTES_MAX,
                    session_max_hours__gte=SESSION_MAX_HOURS_MIN,
                    session_max_hours__lte=SESSION_MAX_HOURS_MAX,
                ),
                name="clinic_session_limits_in_bounds",
                violation_error_message=(
                    f"Sign out after inactivity must be {SESSION_IDLE_MINUTES_MIN}–"
                    f"{SESSION_IDLE_MINUTES_MAX} minutes and the longest session "
                    f"{SESSION_MAX_HOURS_MIN}–{SESSION_MAX_HOURS_MAX} hours."
                ),
            ),
            models.CheckConstraint(
                condition=Q(session_idle_minutes__lte=models.F("session_max_hours") * 60),
                name="clinic_session_idle_within_max",
                violation_error_message=(
                    "Sign out after inactivity (minutes) cannot be longer than the longest "
                    "session (hours)."
                ),
            ),
            models.CheckConstraint(
                condition=Q(high_risk_refill_buffer_days__gte=models.F("refill_buffer_days")),
                name="clinic_high_risk_buffer_not_shorter",
                violation_error_message=(
                    "The high-risk refill buffer (days) must be at least the normal refill buffer."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CareRole(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    NURSE = "nurse", "Nurse"
    CAREGIVER = "caregiver", "Caregiver"
    INTEGRATOR = "integrator", "Integrator (API)"


STAFF_ROLES = (CareRole.CLINICIAN, CareRole.NURSE, CareRole.INTEGRATOR)


class CareTeamMember(models.Model):
    """A user's place on a care team.

    Staff (clinicians, nurses, integrators) belong to a clinic and care for all its patients;
    caregivers belong to one patient. The access selector (``pumps.selectors``) reads only this
    table to decide who may see whom.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="care_roles"
    )
    role = models.CharField(max_length=20, choices=CareRole.choices)
    clinic = models.ForeignKey(
        Clinic, null=True, blank=True, on_delete=models.CASCADE, related_name="care_team"
    )
    patient = models.ForeignKey(
        "pumps.Patient", null=True, blank=True, on_delete=models.CASCADE, related_name="care_team"
    )
    is_clinic_lead = models.BooleanField(
        default=False, help_text="Clinic lead: last stage of alert escalation (clinicians only)."
    )
    is_on_call = models.BooleanField(
        "on call",
        default=False,
        help_text="Clinician on call: second stage of alert escalation, and the first for "
        "critical alerts and refill discrepancies (clinicians only). With nobody on call, "
        "every clinician of the clinic is.",
    )
    relationship = models.CharField(
        max_length=60, blank=True, help_text="For caregivers: mother, spouse, home nurse…"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["role", "user__username"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(role=CareRole.CAREGIVER, patient__isnull=False, clinic__isnull=True)
                    | Q(role__in=STAFF_ROLES, clinic__isnull=False, patient__isnull=True)
                ),
                name="care_team_scope_matches_role",
                violation_error_message=(
                    "Caregivers are added to one patient; clinicians, nurses and integrators to a "
                    "clinic."
                ),
            ),
            models.CheckConstraint(
                condition=Q(is_clinic_lead=False) | Q(role=CareRole.CLINICIAN),
                name="care_team_lead_is_clinician",
                violation_error_message="Only a clinician can be the clinic lead.",
            ),
            models.CheckConstraint(
                condition=Q(is_on_call=False) | Q(role=CareRole.CLINICIAN),
                name="care_team_on_call_is_clinician",
                violation_error_message="Only a clinician can be on call.",
            ),
            models.UniqueConstraint(
                fields=["user", "clinic"],
                condition=Q(clinic__isnull=False),
                name="care_team_one_role_per_clinic",
                violation_error_message="This user already has a role in this clinic.",
            ),
            models.UniqueConstraint(
                fields=["user", "patient"],
                condition=Q(patient__isnull=False),
                name="care_team_one_role_per_patient",
                violation_error_message="This user is already on this patient's care team.",
            ),
        ]

    def __str__(self) -> str:
        scope = self.clinic if self.clinic_id else self.patient
        return f"{self.user} — {self.get_role_display()} — {scope}"


__all__ = [
    "STAFF_ROLES",
    "CareRole",
    "CareTeamMember",
    "Clinic",
    "validate_time_zone",
]
