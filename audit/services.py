"""Writing the audit trail. Callers run inside the transaction of the change they describe."""

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone

from audit.context import current_via
from audit.models import AuditAction, AuditEntry


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a field value that keeps its meaning (Decimals as exact text)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The stored values of a record, by field name (foreign keys by their id)."""
    values: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if isinstance(field, models.GeneratedField) or field.primary_key:
            continue
        values[field.name] = _plain(getattr(instance, field.attname))
    return values


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value changed."""
    keys = before.keys() | after.keys()
    return {k: [before.get(k), after.get(k)] for k in sorted(keys) if before.get(k) != after.get(k)}


def audit_record(
    *,
    actor: Any,
    instance: models.Model,
    action: AuditAction,
    changes: dict[str, list[Any]],
    reason: str = "",
    patient: Any = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one audit entry for ``instance``. ``actor`` may be None for system changes."""
    return AuditEntry.objects.create(
        occurred_at=at or timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        record_type=instance._meta.label,
        record_id=str(instance.pk),
        record_repr=str(instance)[:200],
        patient=patient,
        changes=changes,
        reason=reason,
        via=current_via(),
    )


def audit_create(
    *, actor: Any, instance: models.Model, reason: str = "", patient: Any = None
) -> AuditEntry:
    return audit_record(
        actor=actor,
        instance=instance,
        action=AuditAction.CREATE,
        changes=diff({}, snapshot(instance)),
        reason=reason,
        patient=patient,
    )
