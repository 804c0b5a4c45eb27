"""Patients and their withdrawal-risk factors."""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import ExpressionWrapper, Q
from django.utils import timezone

from pumps.models.clinics import Clinic, validate_time_zone

# Neurological levels, head to tail. "Spinal cord injury at T-6 or above" (the boxed warning,
# domain.md §2.1) means any level from C1 to T6.
SCI_LEVELS: list[str] = (
    [f"C{i}" for i in range(1, 9)]
    + [f"T{i}" for i in range(1, 13)]
    + [f"L{i}" for i in range(1, 6)]
    + [f"S{i}" for i in range(1, 6)]
)
HIGH_RISK_SCI_LEVELS: list[str] = SCI_LEVELS[: SCI_LEVELS.index("T6") + 1]


class SpasticityOrigin(models.TextChoices):
    SPINAL = "spinal", "Spinal"
    CEREBRAL = "cerebral", "Cerebral"


def is_high_withdrawal_risk(
    *, sci_level: str, communication_difficulty: bool, history_of_withdrawal: bool
) -> bool:
    """The label's special-risk groups (domain.md §2.1). The database column
    ``Patient.high_withdrawal_risk`` computes the same expression; a test keeps them equal."""
    return sci_level in HIGH_RISK_SCI_LEVELS or communication_difficulty or history_of_withdrawal


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=40, help_text="Medical record number in this clinic.")
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    spasticity_origin = models.CharField(max_length=10, choices=SpasticityOrigin.choices)
    sci_level = models.CharField(
        "spinal-cord-injury level",
        max_length=3,
        blank=True,
        choices=[(level, level) for level in SCI_LEVELS],
        help_text="Neurological level of a spinal cord injury; empty when there is none.",
    )
    communication_difficulty = models.BooleanField(
        default=False, help_text="Cannot reliably report early withdrawal symptoms."
    )
    history_of_withdrawal = models.BooleanField(
        default=False, help_text="Has had withdrawal symptoms from oral or intrathecal baclofen."
    )
    # Derived in the database so it can never disagree with its inputs and can be indexed for
    # the alert sweep.
    high_withdrawal_risk = models.GeneratedField(
        expression=ExpressionWrapper(
            Q(sci_level__in=HIGH_RISK_SCI_LEVELS)
            | Q(communication_difficulty=True)
            | Q(history_of_withdrawal=True),
            output_field=models.BooleanField(),
        ),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="Where the patient lives, if not in the clinic's time zone.",
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["family_name", "given_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "mrn"],
                name="patient_mrn_unique_in_clinic",
                violation_error_message="A patient with this MRN already exists in this clinic.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} (MRN {self.mrn})"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def effective_time_zone(self) -> str:
        return self.time_zone or self.clinic.time_zone

    def age_in_years(self, on: date | None = None) -> int:
        today = on or timezone.localdate()
        dob = self.date_of_birth
        return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))

    def clean(self) -> None:
        super().clean()
        if self.date_of_birth and self.date_of_birth > timezone.localdate():
            raise ValidationError({"date_of_birth": "Date of birth cannot be in the future."})
