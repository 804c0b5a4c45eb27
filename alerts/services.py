"""Acknowledging and resolving alerts: who, when, how and why, each audited."""

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, AlertStatus, DeliveryStatus
from alerts.selectors import STAFF_ALERT_ROLES, alerts_visible_to
from audit.models import AuditAction
from audit.services import audit_record


@transaction.atomic
def alert_acknowledge(
    *,
    actor: Any,
    alert: Alert,
    via: str = "app",
    note: str = "",
    roles: tuple[str, ...] = STAFF_ALERT_ROLES,
) -> Alert:
    """Someone on the care team has seen the alert and is acting on it: escalation stops. The
    alert stays open until its condition clears (or, for a refill discrepancy, until it is
    resolved). Acknowledging twice keeps the first acknowledgement."""
    if not alerts_visible_to(actor, roles).filter(pk=alert.pk).exists():
        raise PermissionDenied("You are not on this patient's care team.")
    alert = Alert.objects.select_for_update(no_key=True).get(pk=alert.pk)
    if alert.acknowledged_at is not None:
        return alert
    if alert.status != AlertStatus.OPEN:
        raise ValidationError("This alert is already resolved.")
    now = timezone.now()
    changed = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now,
        acknowledged_by=actor,
        acknowledged_via=via,
        acknowledge_note=note.strip(),
        next_escalation_at=None,
    )
    alert.refresh_from_db()
    if changed:
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            instance=alert,
            patient=alert.patient,
            changes={"acknowledged_at": [None, now.isoformat()], "via": [None, via]},
            reason=note.strip(),
        )
    return alert


@transaction.atomic
def alert_resolve(*, actor: Any, alert: Alert, reason: str) -> Alert:
    """Close an alert by hand. Only event alerts (a refill discrepancy) are closed this way:
    the others close themselves when their condition clears, so a person cannot silence a
    pump that is still running dry."""
    if not alerts_visible_to(actor).filter(pk=alert.pk).exists():
        raise PermissionDenied("You are not on this patient's care team.")
    alert = Alert.objects.select_for_update(no_key=True).get(pk=alert.pk)
    if alert.status != AlertStatus.OPEN:
        raise ValidationError("This alert is already resolved.")
    if not alert.is_event:
        raise ValidationError(
            "This alert resolves itself when its condition clears (a booking, a refill, a "
            "program change). Acknowledge it to stop the escalation."
        )
    if not reason.strip():
        raise ValidationError({"reason": "Say what was done about it."})
    now = timezone.now()
    Alert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN).update(
        status=AlertStatus.RESOLVED,
        resolved_at=now,
        resolved_by=actor,
        resolution=reason.strip(),
        next_escalation_at=None,
        acknowledged_at=alert.acknowledged_at or now,
        acknowledged_by=alert.acknowledged_by or actor,
        acknowledged_via=alert.acknowledged_via or "resolved",
    )
    alert.deliveries.filter(status=DeliveryStatus.QUEUED).update(status=DeliveryStatus.CANCELLED)
    alert.refresh_from_db()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        instance=alert,
        patient=alert.patient,
        changes={"status": [AlertStatus.OPEN, AlertStatus.RESOLVED]},
        reason=reason.strip(),
    )
    return alert
