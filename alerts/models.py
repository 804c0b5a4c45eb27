"""Withdrawal-risk alerts, their outbox of email deliveries, and each clinic's alert policy.

An alert is one condition of one pump in one cycle (the fill, the booked visit or the device
date it is about). The sweep raises it, escalates it and resolves it; people acknowledge it.
Every email it causes is a ``Delivery`` row: the outbox the workers send from.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class AlertKind(models.TextChoices):
    REFILL_NOT_BOOKED = "refill_not_booked", "Refill not booked"
    REFILL_OVERDUE = "refill_overdue", "Refill overdue and not booked"
    REFILL_BOOKED_LATE = "refill_booked_late", "Refill booked after the due date"
    REFILL_BOOKED_AFTER_ALARM = "refill_booked_after_alarm", "Refill booked after the alarm date"
    REFILL_REMINDER = "refill_reminder", "Refill reminder"
    MISSED_REFILL = "missed_refill", "Missed refill"
    RESERVOIR_LOW = "reservoir_low", "Reservoir low"
    RESERVOIR_EMPTY_SOON = "reservoir_empty_soon", "Reservoir empty soon"
    DEVICE_REPLACEMENT = "device_replacement", "Pump replacement approaching"
    STABILITY_LIMIT = "stability_limit", "Drug stability limit approaching"
    REFILL_DISCREPANCY = "refill_discrepancy", "Refill discrepancy"
    PROJECTION_FAILED = "projection_failed", "Pump cannot be projected"


# Raised once per cycle and closed by a person (the condition never "clears" by itself).
EVENT_KINDS = (AlertKind.REFILL_DISCREPANCY,)


class Severity(models.TextChoices):
    INFO = "info", "Information"
    WARNING = "warning", "Warning"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK: dict[str, int] = {
    Severity.INFO: 0,
    Severity.WARNING: 1,
    Severity.HIGH: 2,
    Severity.CRITICAL: 3,
}


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Audience(models.TextChoices):
    CAREGIVER = "caregiver", "Caregiver"
    STAFF = "staff", "Clinic staff"


class Alert(models.Model):
    pump = models.ForeignKey("pumps.Pump", on_delete=models.PROTECT, related_name="alerts")
    # Copied from the pump at raise time: the access filter and the escalation policy read them
    # without joins.
    patient = models.ForeignKey("pumps.Patient", on_delete=models.PROTECT, related_name="alerts")
    clinic = models.ForeignKey("pumps.Clinic", on_delete=models.PROTECT, related_name="alerts")
    high_risk = models.BooleanField(help_text="The patient was at high withdrawal risk.")
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    cycle_key = models.CharField(
        max_length=80,
        help_text="What this alert is about (a fill, a booked visit at a time, a device date): "
        "one open alert per pump, kind and cycle.",
    )
    visit = models.ForeignKey(
        "refills.RefillVisit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alerts",
    )
    fill = models.ForeignKey(
        "pumps.ReservoirFill",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alerts",
    )
    subject_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The time the alert is about when raised: the due, alarm, empty, visit or "
        "replacement time.",
    )
    status = models.CharField(max_length=10, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    raised_at = models.DateTimeField()
    # Escalation: stage 0 goes to the kind's first recipients; each later stage to the next
    # (clinician on call, then clinic lead; critical alerts then repeat to everyone).
    stage = models.PositiveSmallIntegerField(default=0)
    recipient_groups = models.PositiveSmallIntegerField(
        help_text="Bit mask of the recipient groups of the current stage."
    )
    initial_groups = models.PositiveSmallIntegerField(
        help_text="Bit mask of the kind's first recipients."
    )
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    sweep_token = models.CharField(
        max_length=32, help_text="The sweep that last raised or escalated it.", db_index=True
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alerts_acknowledged",
    )
    acknowledged_via = models.CharField(max_length=20, blank=True)
    acknowledge_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alerts_resolved",
        help_text="Empty when the sweep resolved it because the condition cleared.",
    )
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-raised_at"]
        indexes = [
            models.Index(fields=["status", "kind"], name="alert_status_kind_idx"),
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(status="open", next_escalation_at__isnull=False),
                name="alert_escalation_due_idx",
            ),
            models.Index(fields=["pump", "status"], name="alert_pump_status_idx"),
            models.Index(fields=["clinic", "status", "-raised_at"], name="alert_clinic_list_idx"),
        ]
        constraints = [
            # The dedupe key: reruns and concurrent sweeps insert with ON CONFLICT DO NOTHING.
            models.UniqueConstraint(
                fields=["pump", "kind", "cycle_key"],
                condition=Q(status="open"),
                name="alert_one_open_per_cycle",
            ),
            models.UniqueConstraint(
                fields=["pump", "kind", "cycle_key"],
                condition=Q(kind__in=EVENT_KINDS),
                name="alert_event_once_per_cycle",
            ),
            models.CheckConstraint(
                condition=Q(status="open", resolved_at__isnull=True)
                | Q(status="resolved", resolved_at__isnull=False),
                name="alert_resolved_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.pump} ({self.status})"

    @property
    def is_event(self) -> bool:
        return self.kind in EVENT_KINDS

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled (alert resolved first)"


class Delivery(models.Model):
    """One email of one alert to one person at one escalation stage: the outbox row.

    queued → sending → sent | failed (or back to queued with a later ``next_attempt_at``).
    A worker claims a row by compare-and-set and marks it sent only after the mail server
    accepted the message."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="deliveries")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="alert_deliveries"
    )
    to_email = models.EmailField(help_text="The address when the delivery was queued.")
    audience = models.CharField(max_length=10, choices=Audience.choices)
    stage = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When a send task was last put on the broker."
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="queued"),
                name="delivery_queued_due_idx",
            ),
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="sending"),
                name="delivery_sending_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "user", "stage"], name="delivery_one_per_recipient_stage"
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="delivery_sent_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert.get_kind_display()} to {self.to_email} (stage {self.stage})"


def _policy_default(name: str) -> int:
    return int(settings.ITB_ALERT_POLICY_DEFAULTS[name])


def default_not_booked_lead_days() -> int:
    return _policy_default("not_booked_lead_days")


def default_high_risk_not_booked_lead_days() -> int:
    return _policy_default("high_risk_not_booked_lead_days")


def default_reminder_lead_days() -> int:
    return _policy_default("reminder_lead_days")


def default_high_risk_reminder_lead_days() -> int:
    return _policy_default("high_risk_reminder_lead_days")


def default_missed_grace_hours() -> int:
    return _policy_default("missed_grace_hours")


def default_high_risk_missed_grace_hours() -> int:
    return _policy_default("high_risk_missed_grace_hours")


def default_empty_soon_hours() -> int:
    return _policy_default("empty_soon_hours")


def default_replacement_lead_days() -> int:
    return _policy_default("replacement_lead_days")


def default_stability_lead_days() -> int:
    return _policy_default("stability_lead_days")


def default_escalation_minutes() -> int:
    return _policy_default("escalation_minutes")


def default_high_risk_escalation_minutes() -> int:
    return _policy_default("high_risk_escalation_minutes")


def default_critical_repeat_minutes() -> int:
    return _policy_default("critical_repeat_minutes")


DAYS = [MinValueValidator(0), MaxValueValidator(365)]
HOURS = [MinValueValidator(0), MaxValueValidator(24 * 14)]
MINUTES = [MinValueValidator(1), MaxValueValidator(7 * 24 * 60)]


class AlertPolicy(models.Model):
    """A clinic's alert lead times and escalation delays. A clinic without a row uses the
    defaults from settings (``ITB_ALERT_POLICY_DEFAULTS``). Patients at high withdrawal risk
    get the longer leads, the shorter missed-visit grace and the faster escalation."""

    clinic = models.OneToOneField(
        "pumps.Clinic", on_delete=models.CASCADE, related_name="alert_policy"
    )
    not_booked_lead_days = models.PositiveSmallIntegerField(
        "refill not booked: lead (days)",
        default=default_not_booked_lead_days,
        validators=DAYS,
        help_text="Warn staff this many days before the refill-due time when no refill is "
        "booked (also the window for visits booked after the due time).",
    )
    high_risk_not_booked_lead_days = models.PositiveSmallIntegerField(
        "refill not booked, high risk: lead (days)",
        default=default_high_risk_not_booked_lead_days,
        validators=DAYS,
    )
    reminder_lead_days = models.PositiveSmallIntegerField(
        "caregiver reminder: lead (days)",
        default=default_reminder_lead_days,
        validators=DAYS,
        help_text="Remind caregivers this many days before a booked refill.",
    )
    high_risk_reminder_lead_days = models.PositiveSmallIntegerField(
        "caregiver reminder, high risk: lead (days)",
        default=default_high_risk_reminder_lead_days,
        validators=DAYS,
    )
    missed_grace_hours = models.PositiveSmallIntegerField(
        "missed refill: grace (hours)",
        default=default_missed_grace_hours,
        validators=HOURS,
        help_text="A booked visit this many hours past with no refill recorded is missed.",
    )
    high_risk_missed_grace_hours = models.PositiveSmallIntegerField(
        "missed refill, high risk: grace (hours)",
        default=default_high_risk_missed_grace_hours,
        validators=HOURS,
    )
    empty_soon_hours = models.PositiveSmallIntegerField(
        "reservoir empty soon: window (hours)",
        default=default_empty_soon_hours,
        validators=HOURS,
        help_text="Critical alert when the reservoir is projected empty within this time.",
    )
    replacement_lead_days = models.PositiveSmallIntegerField(
        "pump replacement: lead (days)",
        default=default_replacement_lead_days,
        validators=DAYS,
        help_text="Warn this many days before the pump stops (ERI + shutdown days, or battery "
        "end). Replacement is scheduled at least 3 months ahead.",
    )
    stability_lead_days = models.PositiveSmallIntegerField(
        "drug stability limit: lead (days)",
        default=default_stability_lead_days,
        validators=DAYS,
    )
    escalation_minutes = models.PositiveIntegerField(
        "escalation delay (minutes)",
        default=default_escalation_minutes,
        validators=MINUTES,
        help_text="An alert not acknowledged this long goes to the next stage: nurse → "
        "clinician on call → clinic lead.",
    )
    high_risk_escalation_minutes = models.PositiveIntegerField(
        "escalation delay, high risk (minutes)",
        default=default_high_risk_escalation_minutes,
        validators=MINUTES,
    )
    critical_repeat_minutes = models.PositiveIntegerField(
        "critical alerts: repeat every (minutes)",
        default=default_critical_repeat_minutes,
        validators=MINUTES,
        help_text="Critical alerts escalate at least this fast and repeat until acknowledged.",
    )

    class Meta:
        verbose_name_plural = "alert policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(high_risk_not_booked_lead_days__gte=models.F("not_booked_lead_days")),
                name="policy_high_risk_lead_not_shorter",
                violation_error_message="The high-risk lead (days) must be at least the normal "
                "one.",
            ),
            models.CheckConstraint(
                condition=Q(high_risk_missed_grace_hours__lte=models.F("missed_grace_hours")),
                name="policy_high_risk_grace_not_longer",
                violation_error_message="The high-risk grace (hours) must be at most the normal "
                "one.",
            ),
            models.CheckConstraint(
                condition=Q(high_risk_escalation_minutes__lte=models.F("escalation_minutes")),
                name="policy_high_risk_escalation_not_slower",
                violation_error_message="The high-risk escalation delay (minutes) must be at "
                "most the normal one.",
            ),
        ]

    def __str__(self) -> str:
        return f"Alert policy of {self.clinic}"


class SweepState(models.Model):
    """The last finished sweep (one row): what the health endpoint reports."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_started_at = models.DateTimeField()
    last_finished_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    raised = models.PositiveIntegerField()
    escalated = models.PositiveIntegerField()
    resolved = models.PositiveIntegerField()
    deliveries_queued = models.PositiveIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="sweep_state_single_row")]

    def __str__(self) -> str:
        return f"Sweep at {self.last_finished_at:%Y-%m-%d %H:%M:%S} UTC"
