"""Which alerts a user may see: those of the patients they may see, for staff only (caregivers
get their alerts by email and see their patient's page)."""

from typing import Any

from django.db.models import Count, Q, QuerySet

from alerts.models import SEVERITY_RANK, Alert, AlertStatus
from pumps.models import CareRole, CareTeamMember
from pumps.selectors import patients_visible_to

STAFF_ALERT_ROLES = (CareRole.CLINICIAN, CareRole.NURSE)


# Through the REST API, an integration (an EHR inbox) may also list and acknowledge alerts.
API_ALERT_ROLES = (*STAFF_ALERT_ROLES, CareRole.INTEGRATOR)


def alert_clinic_ids(user: Any, roles: tuple[str, ...] = STAFF_ALERT_ROLES) -> QuerySet[Any]:
    """Clinics where ``user`` works in one of ``roles`` (clinician or nurse by default)."""
    return CareTeamMember.objects.filter(user=user, role__in=roles, clinic__isnull=False).values(
        "clinic_id"
    )


def alerts_visible_to(user: Any, roles: tuple[str, ...] = STAFF_ALERT_ROLES) -> QuerySet[Alert]:
    """The alerts ``user`` may see and act on: patients on their care team, in clinics where
    they are a clinician or nurse (or, through the API, an integrator)."""
    if not (user is not None and user.is_authenticated and user.is_active):
        return Alert.objects.none()
    return Alert.objects.filter(
        patient__in=patients_visible_to(user), clinic_id__in=alert_clinic_ids(user, roles)
    ).select_related("pump", "pump__pump_model", "patient", "clinic", "acknowledged_by")


def can_handle_alerts(user: Any) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and CareTeamMember.objects.filter(
            user=user, role__in=STAFF_ALERT_ROLES, clinic__isnull=False
        ).exists()
    )


def open_alerts_by_pump(user: Any, pump_ids: list[int]) -> dict[int, list[Alert]]:
    """The open alerts of these pumps, most severe first: one query (for the board)."""
    alerts = alerts_visible_to(user).filter(status=AlertStatus.OPEN, pump_id__in=pump_ids)
    by_pump: dict[int, list[Alert]] = {}
    for alert in alerts:
        by_pump.setdefault(alert.pump_id, []).append(alert)
    for rows in by_pump.values():
        rows.sort(key=lambda a: (-SEVERITY_RANK[a.severity], a.raised_at))
    return by_pump


def open_alert_counts(user: Any) -> dict[str, int]:
    """Open alerts by severity (for the navigation badge)."""
    rows = (
        alerts_visible_to(user)
        .filter(status=AlertStatus.OPEN)
        .values("severity")
        .annotate(n=Count("id", filter=Q(acknowledged_at__isnull=True)))
    )
    return {row["severity"]: row["n"] for row in rows}
