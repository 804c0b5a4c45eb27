"""The audit trail: one append-only row for every change to a clinical record.

Rows are written by the services in the same transaction as the change they describe, so a
change without its audit row (or the reverse) cannot be committed. On PostgreSQL a trigger
refuses UPDATE and DELETE on the table (migration 0002).

The access log (``AccessLogEntry``) is its read-side twin: one row per patient record shown,
append-only in the same way (migration 0004).
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


class AccessChannel(models.TextChoices):
    PAGE = "page", "Page"
    API = "api", "API"
    FEED = "feed", "Calendar feed"
    ADMIN = "admin", "Admin"


class AccessLogEntry(HistoryRecord):
    """One read of one patient's record: who, which patient, what they looked at, when, and
    the request it came with. Written in bulk after the response (``audit.access``); never
    changed or deleted (on PostgreSQL a trigger refuses UPDATE and DELETE, migration 0004)."""

    EDIT_REFUSED = "The access log is append-only and cannot be changed."
    DELETE_REFUSED = "The access log is append-only and cannot be deleted."

    occurred_at = models.DateTimeField()
    # No single-column indexes on the foreign keys: the two composite indexes below serve the
    # reads (a patient's log, a person's reads) and every extra index costs each insert.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="patient_reads",
        help_text="Who read the record (a calendar feed's owner for a feed).",
    )
    api_token = models.ForeignKey(
        "accounts.ApiToken",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
        help_text="The API token the read came with, if any.",
    )
    patient = models.ForeignKey(
        "pumps.Patient",
        on_delete=models.PROTECT,
        db_index=False,
        related_name="access_log",
    )
    what = models.CharField(
        max_length=60, help_text='What was read, e.g. "patient page" or "API pump list".'
    )
    channel = models.CharField(max_length=10, choices=AccessChannel.choices)
    request_id = models.CharField(max_length=64, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    method = models.CharField(max_length=10)
    path = models.CharField(
        max_length=300, help_text="Without the query string; feed secrets are redacted."
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = "access log entry"
        verbose_name_plural = "access log"
        indexes = [
            models.Index(fields=["patient", "-occurred_at"], name="access_patient_idx"),
            models.Index(fields=["actor", "-occurred_at"], name="access_actor_idx"),
            # What a leaked token read: only API rows carry a token, so the index stays small.
            models.Index(
                fields=["api_token", "-occurred_at"],
                name="access_token_idx",
                condition=models.Q(api_token__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.what} of patient {self.patient_id} at {self.occurred_at:%Y-%m-%d %H:%M}"
