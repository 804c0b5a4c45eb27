"""Implanted pumps and their catheters."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import ExpressionWrapper, F, Q
from django.utils import timezone

from pumps.models.catalog import POSITIVE, CatheterModel, PumpKind, PumpModel
from pumps.models.patients import Patient


class RefillDueReason(models.TextChoices):
    LOW_RESERVOIR_ALARM = "low_reservoir_alarm", "Low-reservoir alarm minus buffer"
    DRUG_STABILITY = "drug_stability", "Drug stability limit"


class PumpStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPLANTED = "explanted", "Explanted"


class Pump(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="pumps")
    pump_model = models.ForeignKey(PumpModel, on_delete=models.PROTECT, related_name="pumps")
    serial_number = models.CharField(max_length=60)
    implanted_on = models.DateField()
    low_reservoir_alarm_ml = models.DecimalField(
        "low-reservoir alarm (mL)",
        max_digits=5,
        decimal_places=2,
        validators=POSITIVE,
        help_text="Alarm volume programmed into this pump. For a fixed-rate pump, which has no "
        "alarm, the residual at which the clinic plans the refill.",
    )
    fixed_flow_rate_ml_per_day = models.DecimalField(
        "fixed flow rate (mL/day)",
        max_digits=6,
        decimal_places=4,
        null=True,
        blank=True,
        validators=POSITIVE,
        help_text="Fixed-rate pumps only: the flow rate printed on this device's label.",
    )
    status = models.CharField(max_length=10, choices=PumpStatus.choices, default=PumpStatus.ACTIVE)
    explanted_on = models.DateField(null=True, blank=True)
    elective_replacement_on = models.DateField(
        "elective replacement date",
        null=True,
        blank=True,
        help_text="Date the pump reports (or is expected to reach) its elective replacement "
        "indicator.",
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # The stored projection: when to look at this pump next. Recomputed by the services in the
    # same transaction as every program change, fill and booking, so the alert sweep and the
    # board read indexed columns instead of projecting every pump (domain.md §8).
    projected_alarm_at = models.DateTimeField(
        "low-reservoir alarm (projected)", null=True, blank=True
    )
    projected_empty_at = models.DateTimeField("empty (projected)", null=True, blank=True)
    refill_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    refill_due_reason = models.CharField(max_length=24, blank=True, choices=RefillDueReason.choices)
    next_visit_at = models.DateTimeField(
        "next booked refill", null=True, blank=True, help_text="The earliest booked refill visit."
    )
    stability_limit_at = models.DateTimeField(
        "drug stability limit",
        null=True,
        blank=True,
        help_text="Latest fill + the product's "
        "maximum days in the pump: the refill must happen before it whatever the volume.",
    )
    projection_fill = models.ForeignKey(
        "pumps.ReservoirFill",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The fill the stored projection starts from: the current fill cycle.",
    )
    replace_by_on = models.DateField(
        "replace by",
        null=True,
        blank=True,
        help_text="When the pump stops: its elective replacement date plus the model's "
        "ERI-to-shutdown days, or the end of its design battery life, whichever is sooner.",
    )
    # Derived in the database so the alert sweep finds pumps booked after their alarm with an
    # index instead of comparing every booked visit with every pump.
    booked_after_alarm = models.GeneratedField(
        expression=ExpressionWrapper(
            Q(next_visit_at__gt=F("projected_alarm_at")), output_field=models.BooleanField()
        ),
        output_field=models.BooleanField(null=True),
        db_persist=True,
    )
    projection_updated_at = models.DateTimeField(null=True, blank=True)
    projection_error = models.TextField(
        blank=True, help_text="Why the last projection failed; empty when it succeeded."
    )

    class Meta:
        ordering = ["patient", "-implanted_on"]
        indexes = [
            models.Index(fields=["status", "refill_due_at"], name="pump_status_due_idx"),
            models.Index(fields=["status", "projected_alarm_at"], name="pump_status_alarm_idx"),
            models.Index(fields=["status", "projected_empty_at"], name="pump_status_empty_idx"),
            models.Index(fields=["status", "stability_limit_at"], name="pump_status_stability_idx"),
            models.Index(fields=["status", "replace_by_on"], name="pump_status_replace_idx"),
            models.Index(fields=["status", "next_visit_at"], name="pump_status_next_visit_idx"),
            # Small partial indexes: the rare pumps the sweep looks for.
            models.Index(
                fields=["id"],
                condition=Q(status="active", booked_after_alarm=True),
                name="pump_booked_after_alarm_idx",
            ),
            models.Index(
                fields=["id"],
                condition=Q(status="active") & ~Q(projection_error=""),
                name="pump_projection_error_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["pump_model", "serial_number"],
                name="pump_serial_unique_per_model",
                violation_error_message="A pump of this model with this serial number exists.",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status=PumpStatus.ACTIVE),
                name="pump_one_active_per_patient",
                violation_error_message="This patient already has an active pump; record the "
                "explant of the old one first.",
            ),
            models.CheckConstraint(
                condition=Q(low_reservoir_alarm_ml__gt=0), name="pump_alarm_positive"
            ),
            models.CheckConstraint(
                condition=Q(status=PumpStatus.ACTIVE, explanted_on__isnull=True)
                | Q(status=PumpStatus.EXPLANTED, explanted_on__isnull=False),
                name="pump_explant_date_matches_status",
                violation_error_message="An explanted pump needs its explant date, and only an "
                "explanted pump has one.",
            ),
            models.CheckConstraint(
                condition=Q(explanted_on__isnull=True) | Q(explanted_on__gte=F("implanted_on")),
                name="pump_explant_after_implant",
                violation_error_message="The explant date cannot be before the implant date.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pump_model.name} #{self.serial_number}"

    @property
    def alarm_kind(self) -> str:
        """Which alarm wording applies: "synchromed", "fixed_rate" (no alarm) or "other"."""
        if self.pump_model.kind == PumpKind.FIXED_RATE:
            return "fixed_rate"
        if "synchromed" in self.pump_model.name.lower():
            return "synchromed"
        return "other"

    @property
    def reservoir_capacity_ml(self) -> Decimal:
        return self.pump_model.reservoir_capacity_ml

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        model = self.pump_model if self.pump_model_id else None
        if model is not None and self.low_reservoir_alarm_ml is not None:
            cap = model.reservoir_capacity_ml
            if self.low_reservoir_alarm_ml >= cap:
                errors["low_reservoir_alarm_ml"] = (
                    f"The low-reservoir alarm ({self.low_reservoir_alarm_ml} mL) must be below "
                    f"the reservoir capacity of the {model.name} ({cap} mL)."
                )
        if model is not None:
            if model.kind == PumpKind.FIXED_RATE and self.fixed_flow_rate_ml_per_day is None:
                errors["fixed_flow_rate_ml_per_day"] = (
                    "A fixed-rate pump needs the flow rate (mL/day) printed on its label."
                )
            if model.kind == PumpKind.PROGRAMMABLE and self.fixed_flow_rate_ml_per_day is not None:
                errors["fixed_flow_rate_ml_per_day"] = (
                    "A programmable pump has no fixed flow rate (mL/day); leave it empty."
                )
        if self.implanted_on and self.implanted_on > timezone.localdate():
            errors["implanted_on"] = "The implant date cannot be in the future."
        if errors:
            raise ValidationError(errors)


class Catheter(models.Model):
    """The intrathecal catheter attached to a pump. A revision adds a new row and marks the old
    one removed, so the history stays."""

    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="catheters")
    catheter_model = models.ForeignKey(
        CatheterModel, on_delete=models.PROTECT, related_name="catheters"
    )
    lot_number = models.CharField(max_length=60, blank=True)
    implanted_on = models.DateField()
    implanted_length_cm = models.DecimalField(
        "implanted length (cm)", max_digits=5, decimal_places=1, validators=POSITIVE
    )
    volume_per_cm_ml = models.DecimalField(
        "volume per cm (mL/cm)",
        max_digits=7,
        decimal_places=5,
        validators=POSITIVE,
        help_text="From the catheter model, or from its manual when the catalog has no value.",
    )
    removed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["pump", "-implanted_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["pump"],
                condition=Q(removed_on__isnull=True),
                name="catheter_one_current_per_pump",
                violation_error_message="This pump already has a current catheter; record its "
                "removal first.",
            ),
            models.CheckConstraint(
                condition=Q(implanted_length_cm__gt=0), name="catheter_length_positive"
            ),
            models.CheckConstraint(
                condition=Q(volume_per_cm_ml__gt=0), name="catheter_volume_per_cm_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.catheter_model.name}, {self.implanted_length_cm} cm"

    @property
    def catheter_volume_ml(self) -> float:
        from dosing.engine.boluses import catheter_volume_ml

        return catheter_volume_ml(
            implanted_length_cm=float(self.implanted_length_cm),
            volume_per_cm_ml=float(self.volume_per_cm_ml),
        )

    def clean(self) -> None:
        super().clean()
        model = self.catheter_model if self.catheter_model_id else None
        if model is None:
            return
        if (
            model.max_length_cm is not None
            and self.implanted_length_cm is not None
            and self.implanted_length_cm > model.max_length_cm
        ):
            raise ValidationError(
                {
                    "implanted_length_cm": (
                        f"The implanted length ({self.implanted_length_cm} cm) is longer than "
                        f"the {model.name} catheter itself ({model.max_length_cm} cm)."
                    )
                }
            )
