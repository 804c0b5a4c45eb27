"""The audit trail: one append-only row for every change to a clinical record.

Rows are written by the services in the same transaction as the change they describe, so a
change without its audit row (or the reverse) cannot be committed. On PostgreSQL a trigger
refuses UPDATE and DELETE on the table (migration 0002).
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from audit.history import HistoryRecord


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"


class AuditEntry(HistoryRecord):
    EDIT_REFUSED = "Audit entries are append-only and cannot be changed."
    DELETE_REFUSED = "Audit entries are append-only and cannot be deleted."

    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_entries",
        help_text="Who made the change; empty for changes made by the system itself.",
    )
    action = models.CharField(max_length=10, choices=AuditAction.choices)
    # The record changed, named by model label ("pumps.Pump") and primary key, so entries outlive
    # the row and survive a deleted record.
    record_type = models.CharField(max_length=100)
    record_id = models.CharField(max_length=64)
    record_repr = models.CharField(max_length=200, help_text="The record as it was shown.")
    # The patient the record belongs to, for the patient's timeline; empty for catalog records.
    patient = models.ForeignKey(
        "pumps.Patient",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_entries",
    )
    # {field name: [old value, new value]}; old is null on create, new is null on delete.
    changes = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    reason = models.TextField(blank=True)
    via = models.CharField(
        max_length=60,
        blank=True,
        help_text="What the change came through when not a page: the API token it used.",
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["record_type", "record_id"], name="audit_record_idx"),
            models.Index(fields=["patient", "-occurred_at"], name="audit_patient_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_action_display()} {self.record_repr} at {self.occurred_at:%Y-%m-%d %H:%M}"
        )
