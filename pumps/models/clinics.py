"""Clinics and care teams: who looks after which patients."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
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
