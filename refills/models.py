"""Refill visits: booked, rescheduled, cancelled or completed, each change audited."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class VisitStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class RefillVisit(models.Model):
    """A refill appointment for a pump. A pump has at most one booked visit at a time;
    rescheduling moves it (the audit trail keeps the old time and the reason)."""

    pump = models.ForeignKey("pumps.Pump", on_delete=models.PROTECT, related_name="refill_visits")
    scheduled_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=30)
    status = models.CharField(
        max_length=10, choices=VisitStatus.choices, default=VisitStatus.BOOKED
    )
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visits_booked"
    )
    booked_at = models.DateTimeField()
    late_reason = models.TextField(
        blank=True,
        help_text="Why the visit is after the refill-due time (required in that case).",
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits_cancelled",
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits_completed",
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    fill = models.OneToOneField(
        "pumps.ReservoirFill",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visit",
        help_text="The fill recorded at this visit.",
    )

    class Meta:
        ordering = ["scheduled_at"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="visit_status_time_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["pump"],
                condition=Q(status=VisitStatus.BOOKED),
                name="visit_one_booked_per_pump",
                violation_error_message="This pump already has a booked refill; reschedule it.",
            ),
            models.CheckConstraint(
                condition=Q(status=VisitStatus.CANCELLED, cancelled_at__isnull=False)
                | ~Q(status=VisitStatus.CANCELLED),
                name="visit_cancel_has_time",
            ),
            models.CheckConstraint(
                condition=Q(status=VisitStatus.COMPLETED, completed_at__isnull=False)
                | ~Q(status=VisitStatus.COMPLETED),
                name="visit_completion_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Refill of {self.pump} at {self.scheduled_at:%Y-%m-%d %H:%M} UTC ({self.status})"


def new_feed_token() -> str:
    """A secret, url-safe feed token: 32 random bytes (256 bits) from ``secrets``."""
    import secrets

    return secrets.token_urlsafe(32)


class FeedKind(models.TextChoices):
    CLINIC = "clinic", "Clinic calendar"
    CAREGIVER = "caregiver", "My patients' refills"


class CalendarFeed(models.Model):
    """A secret iCal feed URL. The token is the credential; revoking it ends the feed. What a
    feed shows is worked out when it is fetched, from the owner's current care-team roles."""

    token = models.CharField(max_length=64, unique=True, default=new_feed_token, editable=False)
    kind = models.CharField(max_length=10, choices=FeedKind.choices)
    clinic = models.ForeignKey(
        "pumps.Clinic",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="calendar_feeds",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=FeedKind.CLINIC, clinic__isnull=False)
                | Q(kind=FeedKind.CAREGIVER, clinic__isnull=True),
                name="calendar_feed_clinic_matches_kind",
                violation_error_message=(
                    "A clinic feed needs its clinic; a caregiver feed has none."
                ),
            ),
        ]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.get_kind_display()} feed of {self.user} ({state})"
