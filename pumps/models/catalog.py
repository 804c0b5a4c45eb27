"""The catalogs of pump and catheter models, seeded by a data migration from domain.md §3.

Values the sources do not confirm (❓ in domain.md) are stored with their confidence, so the admin
shows them as unconfirmed until a clinician checks them against the device manual.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

POSITIVE = [MinValueValidator(Decimal("0.0001"))]


class Confidence(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed in a primary source"
    SECONDARY = "secondary", "Secondary source: check against the manual"
    UNCONFIRMED = "unconfirmed", "Unconfirmed: a clinician must verify"


def confidence_field(what: str) -> models.CharField:
    return models.CharField(
        max_length=12,
        choices=Confidence.choices,
        default=Confidence.UNCONFIRMED,
        help_text=f"How sure we are of the {what}.",
    )


class PumpKind(models.TextChoices):
    PROGRAMMABLE = "programmable", "Programmable"
    FIXED_RATE = "fixed_rate", "Fixed-rate (constant flow)"


class PumpModel(models.Model):
    manufacturer = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    model_number = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=12, choices=PumpKind.choices)
    reservoir_capacity_ml = models.DecimalField(
        "reservoir capacity (mL)", max_digits=5, decimal_places=2, validators=POSITIVE
    )
    reservoir_capacity_confidence = confidence_field("reservoir capacity")
    default_low_reservoir_alarm_ml = models.DecimalField(
        "default low-reservoir alarm (mL)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=POSITIVE,
        help_text="Alarm volume new implants start with. Empty: the device has no such alarm.",
    )
    default_low_reservoir_alarm_confidence = confidence_field("low-reservoir alarm volume")
    pump_tubing_volume_ml = models.DecimalField(
        "pump tubing volume (mL)",
        max_digits=6,
        decimal_places=4,
        null=True,
        blank=True,
        validators=POSITIVE,
        help_text="Internal fluid path volume (part of the dead volume for bridge boluses).",
    )
    pump_tubing_volume_confidence = confidence_field("pump tubing volume")
    fixed_flow_rate_ml_per_day = models.DecimalField(
        "nominal flow rate (mL/day)",
        max_digits=6,
        decimal_places=4,
        null=True,
        blank=True,
        validators=POSITIVE,
        help_text="Nominal flow of a fixed-rate pump. Each device's label rate is recorded on the "
        "pump itself.",
    )
    fixed_flow_rate_confidence = confidence_field("nominal flow rate")
    battery_life_months = models.PositiveSmallIntegerField(
        "battery life (months)",
        null=True,
        blank=True,
        help_text="Design battery life; empty for pumps with no battery.",
    )
    battery_life_confidence = confidence_field("battery life")
    eri_to_shutdown_days = models.PositiveSmallIntegerField(
        "ERI to shutdown (days)",
        null=True,
        blank=True,
        help_text="Days the pump keeps running after its elective replacement indicator (ERI).",
    )
    mri_notes = models.TextField(blank=True)
    source_notes = models.TextField(blank=True, help_text="Where the values come from.")
    is_available = models.BooleanField(default=True, help_text="Offered for new implants.")

    class Meta:
        ordering = ["manufacturer", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reservoir_capacity_ml__gt=0), name="pump_model_capacity_positive"
            ),
            models.CheckConstraint(
                condition=Q(kind=PumpKind.PROGRAMMABLE, fixed_flow_rate_ml_per_day__isnull=True)
                | Q(kind=PumpKind.FIXED_RATE),
                name="pump_model_flow_rate_only_fixed",
                violation_error_message="Only a fixed-rate pump has a fixed flow rate (mL/day).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.manufacturer} {self.name} ({self.model_number})"

    @property
    def is_fixed_rate(self) -> bool:
        return self.kind == PumpKind.FIXED_RATE

    def unconfirmed_values(self) -> list[str]:
        """Names of the values a clinician still has to check against the manual."""
        pairs = [
            ("reservoir capacity", self.reservoir_capacity_confidence, True),
            (
                "low-reservoir alarm",
                self.default_low_reservoir_alarm_confidence,
                self.default_low_reservoir_alarm_ml is not None,
            ),
            (
                "pump tubing volume",
                self.pump_tubing_volume_confidence,
                self.pump_tubing_volume_ml is not None,
            ),
            (
                "flow rate",
                self.fixed_flow_rate_confidence,
                self.fixed_flow_rate_ml_per_day is not None,
            ),
            ("battery life", self.battery_life_confidence, self.battery_life_months is not None),
        ]
        return [name for name, conf, present in pairs if present and conf != Confidence.CONFIRMED]

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        cap = self.reservoir_capacity_ml
        alarm = self.default_low_reservoir_alarm_ml
        if cap is not None and alarm is not None and alarm >= cap:
            errors["default_low_reservoir_alarm_ml"] = (
                f"The low-reservoir alarm volume ({alarm} mL) must be below the reservoir "
                f"capacity ({cap} mL)."
            )
        if self.kind == PumpKind.PROGRAMMABLE and self.fixed_flow_rate_ml_per_day is not None:
            errors["fixed_flow_rate_ml_per_day"] = (
                "A programmable pump has no fixed flow rate (mL/day); leave it empty."
            )
        if errors:
            raise ValidationError(errors)


class CatheterModel(models.Model):
    manufacturer = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    model_number = models.CharField(max_length=40, unique=True)
    max_length_cm = models.DecimalField(
        "length (cm)",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=POSITIVE,
        help_text="Full length as supplied; an implanted length cannot exceed it.",
    )
    max_length_confidence = confidence_field("catheter length")
    volume_per_cm_ml = models.DecimalField(
        "volume per cm (mL/cm)",
        max_digits=7,
        decimal_places=5,
        null=True,
        blank=True,
        validators=POSITIVE,
        help_text="Internal volume per cm (mL/cm). Empty: take it from the catheter manual "
        "for each implant.",
    )
    volume_per_cm_confidence = confidence_field("volume per cm")
    source_notes = models.TextField(blank=True)
    is_available = models.BooleanField(default=True)

    class Meta:
        ordering = ["manufacturer", "name"]

    def __str__(self) -> str:
        return f"{self.manufacturer} {self.name} ({self.model_number})"
