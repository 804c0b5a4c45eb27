"""Pump programs (the dosing history) and reservoir fills (the reservoir state).

Both are clinical history: a past program or fill is never edited, only superseded by a newer
row. ``save()`` refuses updates (except recording the verifying user on a program) and the admin
shows them read-only; new rows come from the services, which validate with the dosing engine.
"""

from datetime import datetime

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from audit.history import HistoryRecord
from pumps.models.catalog import POSITIVE
from pumps.models.devices import Pump


def local_text(moment: datetime | None) -> str:
    """A stored UTC instant as the clinic reads it (the active time zone)."""
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "?"


class ProgramMode(models.TextChoices):
    SIMPLE = "simple", "Simple continuous"
    FLEX = "flex", "Flex (stepped schedule)"


class PumpProgram(HistoryRecord):
    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="programs")
    effective_from = models.DateTimeField(help_text="When the pump started running this program.")
    concentration_mcg_per_ml = models.DecimalField(
        "concentration (mcg/mL)", max_digits=7, decimal_places=2, validators=POSITIVE
    )
    dilution = models.ForeignKey(
        "dosing.Dilution",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="programs",
        help_text="Required for any concentration that is not a stock product's.",
    )
    mode = models.CharField(max_length=10, choices=ProgramMode.choices)
    daily_dose_mcg = models.DecimalField(
        "daily dose (mcg/day)",
        max_digits=9,
        decimal_places=3,
        null=True,
        blank=True,
        validators=POSITIVE,
        help_text="Simple continuous mode only; a flex program's dose is the sum of its steps.",
    )
    reason = models.TextField(help_text="Why the program was set or changed.")
    dose_change_verdict = models.CharField(
        max_length=10,
        blank=True,
        help_text="The dosing engine's verdict on the change (ok or soft_stop); empty for a "
        "first program.",
    )
    override_reason = models.TextField(
        blank=True, help_text="Why a change outside the label limits (soft stop) was made."
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="programs_entered"
    )
    entered_at = models.DateTimeField()
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="programs_verified",
    )
    verified_at = models.DateTimeField(null=True, blank=True)

    # The only fields that may be written after creation: a second user's verification.
    MUTABLE_FIELDS = frozenset({"verified_by", "verified_at"})
    EDIT_REFUSED = "A pump program is never edited; record a new program that supersedes it."
    DELETE_REFUSED = "A pump program is part of the dosing history; never deleted."

    class Meta:
        ordering = ["pump", "-effective_from"]
        get_latest_by = "effective_from"
        constraints = [
            models.UniqueConstraint(
                fields=["pump", "effective_from"],
                name="program_one_per_pump_instant",
                violation_error_message="This pump already has a program starting at that time.",
            ),
            models.CheckConstraint(
                condition=Q(concentration_mcg_per_ml__gt=0),
                name="program_concentration_positive",
            ),
            models.CheckConstraint(
                condition=Q(mode=ProgramMode.SIMPLE, daily_dose_mcg__gt=0)
                | Q(mode=ProgramMode.FLEX, daily_dose_mcg__isnull=True),
                name="program_dose_matches_mode",
                violation_error_message="A simple program needs a daily dose (mcg/day); a flex "
                "program takes its dose from its steps.",
            ),
            models.CheckConstraint(
                condition=Q(verified_by__isnull=True) | ~Q(verified_by=F("entered_by")),
                name="program_verifier_is_second_person",
                violation_error_message="A program must be verified by someone other than the "
                "person who entered it.",
            ),
            models.CheckConstraint(
                condition=Q(verified_by__isnull=True, verified_at__isnull=True)
                | Q(verified_by__isnull=False, verified_at__isnull=False),
                name="program_verification_complete",
            ),
        ]

    def __str__(self) -> str:
        start = local_text(self.effective_from)
        return f"{self.get_mode_display()} at {self.concentration_mcg_per_ml} mcg/mL from {start}"


class FlexStep(HistoryRecord):
    """One step of a flex program: from ``start_time`` (wall clock in the patient's time zone)
    until the next step's start, wrapping at midnight, at ``rate_mcg_per_hour``."""

    EDIT_REFUSED = "A flex step belongs to a program and is never edited."

    program = models.ForeignKey(PumpProgram, on_delete=models.PROTECT, related_name="steps")
    start_time = models.TimeField()
    rate_mcg_per_hour = models.DecimalField(
        "rate (mcg/h)", max_digits=8, decimal_places=3, validators=POSITIVE
    )

    class Meta:
        ordering = ["program", "start_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "start_time"],
                name="flex_step_start_unique",
                violation_error_message="Two steps cannot start at the same time.",
            ),
            models.CheckConstraint(
                condition=Q(rate_mcg_per_hour__gt=0), name="flex_step_rate_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start_time:%H:%M} {self.rate_mcg_per_hour} mcg/h"


class ReservoirFill(HistoryRecord):
    """The reservoir state: what was in the pump after a fill. The latest fill of a pump,
    with its programs, is what the dosing engine projects from."""

    EDIT_REFUSED = "A reservoir fill is never edited; record a new fill."
    DELETE_REFUSED = "A reservoir fill is part of the pump's history."

    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="fills")
    filled_at = models.DateTimeField()
    volume_ml = models.DecimalField(
        "volume in reservoir after fill (mL)",
        max_digits=5,
        decimal_places=2,
        validators=POSITIVE,
    )
    concentration_mcg_per_ml = models.DecimalField(
        "concentration (mcg/mL)", max_digits=7, decimal_places=2, validators=POSITIVE
    )
    product = models.ForeignKey(
        "dosing.DrugProduct",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fills",
    )
    dilution = models.ForeignKey(
        "dosing.Dilution", null=True, blank=True, on_delete=models.PROTECT, related_name="fills"
    )
    lot_number = models.CharField(max_length=60, blank=True)
    expiry_date = models.DateField(null=True, blank=True)
    volume_removed_ml = models.DecimalField(
        "volume removed before fill (mL)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Residual drawn from the reservoir before filling; empty for a first fill.",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fills_recorded"
    )
    recorded_at = models.DateTimeField()
    notes = models.TextField(blank=True)
    # Reconciliation of this refill against the previous fill's projection (domain.md §3.6,
    # §6.10), from the dosing engine; empty for a first fill.
    expected_residual_ml = models.DecimalField(
        "expected residual (mL)", max_digits=8, decimal_places=4, null=True, blank=True
    )
    residual_discrepancy_ml = models.DecimalField(
        "removed − expected (mL)", max_digits=8, decimal_places=4, null=True, blank=True
    )
    delivered_discrepancy_percent = models.DecimalField(
        "delivered volume discrepancy (%)", max_digits=9, decimal_places=3, null=True, blank=True
    )
    reconciliation_flags = models.CharField(
        max_length=80,
        blank=True,
        help_text="Comma-separated: under_delivery, over_delivery, residual_discrepancy.",
    )

    class Meta:
        ordering = ["pump", "-filled_at"]
        get_latest_by = "filled_at"
        indexes = [
            # The few flagged fills, for the alert sweep's refill-discrepancy check.
            models.Index(
                fields=["id"], condition=~Q(reconciliation_flags=""), name="fill_flagged_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["pump", "filled_at"],
                name="fill_one_per_pump_instant",
                violation_error_message="This pump already has a fill recorded at that time.",
            ),
            models.CheckConstraint(condition=Q(volume_ml__gt=0), name="fill_volume_positive"),
            models.CheckConstraint(
                condition=Q(concentration_mcg_per_ml__gt=0), name="fill_concentration_positive"
            ),
            models.CheckConstraint(
                condition=Q(volume_removed_ml__isnull=True) | Q(volume_removed_ml__gte=0),
                name="fill_removed_not_negative",
                violation_error_message="The volume removed (mL) cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        when = local_text(self.filled_at)
        return f"{self.volume_ml} mL at {self.concentration_mcg_per_ml} mcg/mL on {when}"


class BolusKind(models.TextChoices):
    BRIDGE = "bridge", "Bridge bolus (concentration change)"
    PRIMING = "priming", "Priming bolus"


class PumpBolus(HistoryRecord):
    """A bolus the pump delivers from its reservoir, so the projection counts it (domain.md
    §3.3, §6.4). A bridge bolus pushes the dead volume at the old rate and replaces the basal
    while it runs (§6.7); its figures come from the dosing engine."""

    EDIT_REFUSED = "A recorded bolus is never edited."

    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="boluses")
    program = models.ForeignKey(
        PumpProgram, null=True, blank=True, on_delete=models.PROTECT, related_name="boluses"
    )
    kind = models.CharField(max_length=10, choices=BolusKind.choices)
    starts_at = models.DateTimeField()
    volume_ml = models.DecimalField(
        "volume (mL)", max_digits=7, decimal_places=4, validators=POSITIVE
    )
    duration_hours = models.DecimalField(
        "duration (h)", max_digits=8, decimal_places=4, validators=[MinValueValidator(0)]
    )
    replaces_basal = models.BooleanField(default=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="boluses_recorded"
    )

    class Meta:
        ordering = ["pump", "starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(volume_ml__gt=0), name="bolus_volume_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.volume_ml} mL from {local_text(self.starts_at)}"
