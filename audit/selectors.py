"""Reads of the patient access log: who may open a patient's log, and the log itself.

A patient's access log is for the clinic leads of the patient's clinic and for system
administrators (superusers). Everyone else gets the answer the app gives for a patient outside
one's care team: 404, so the page does not even confirm that the patient exists.
"""

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import Http404

from audit.models import AccessLogEntry
from pumps.models import CareRole, CareTeamMember, Patient
from pumps.selectors import patients_visible_to

ADMINISTRATOR = "Administrator"
NO_ROLE_NOW = "No role now"


def _active(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def can_view_access_log(user: Any, patient: Patient) -> bool:
    """True for a superuser or a clinic lead of ``patient``'s clinic (one query)."""
    if not _active(user):
        return False
    if user.is_superuser:
        return True
    return CareTeamMember.objects.filter(
        user=user, clinic_id=patient.clinic_id, role=CareRole.CLINICIAN, is_clinic_lead=True
    ).exists()


def access_log_patient_or_404(user: Any, pk: int) -> Patient:
    """The patient whose access log ``user`` may open; 404 otherwise."""
    patients = (
        Patient.objects.all() if _active(user) and user.is_superuser else patients_visible_to(user)
    )
    patient = patients.select_related("clinic").filter(pk=pk).first()
    if patient is None or not can_view_access_log(user, patient):
        raise Http404("No such patient in your clinics.")
    return patient


def day_bounds(
    start: date | None, end: date | None, zone: str
) -> tuple[datetime | None, datetime | None]:
    """The instants from the start of ``start`` to the end of ``end`` (both whole days in
    ``zone``, so a day is 23 or 25 hours long across a daylight-saving change)."""
    tz = ZoneInfo(zone)
    since = datetime.combine(start, time.min, tzinfo=tz) if start else None
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz) if end else None
    return since, until


def patient_access_log(
    patient: Patient,
    *,
    actor_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AccessLogEntry]:
    """``patient``'s access log, newest first (the index on patient and time)."""
    entries = AccessLogEntry.objects.filter(patient=patient)
    if actor_id is not None:
        entries = entries.filter(actor_id=actor_id)
    if since is not None:
        entries = entries.filter(occurred_at__gte=since)
    if until is not None:
        entries = entries.filter(occurred_at__lt=until)
    return entries.select_related("actor", "api_token").order_by("-occurred_at", "-id")


def readers_of(patient: Patient) -> QuerySet[Any]:
    """Everyone who has read ``patient``'s record, by name (for the filter)."""
    readers = AccessLogEntry.objects.filter(patient=patient, actor__isnull=False)
    return (
        get_user_model()
        .objects.filter(pk__in=readers.values("actor_id"))
        .order_by("last_name", "first_name", "username")
    )


def roles_now(patient: Patient, users: list[Any]) -> dict[int, str]:
    """Each user's role for ``patient`` today ("Nurse", "Clinician, clinic lead"), one query;
    a role that has since ended shows as "No role now"."""
    ids = {user.pk for user in users}
    labels: dict[int, list[str]] = {}
    members = CareTeamMember.objects.filter(
        Q(clinic_id=patient.clinic_id) | Q(patient=patient), user_id__in=ids
    )
    for member in members:
        label = member.get_role_display()
        if member.is_clinic_lead:
            label += ", clinic lead"
        labels.setdefault(member.user_id, []).append(label)
    roles: dict[int, str] = {}
    for user in users:
        if user.pk in labels:
            roles[user.pk] = "; ".join(sorted(labels[user.pk]))
        else:
            roles[user.pk] = ADMINISTRATOR if user.is_superuser else NO_ROLE_NOW
    return roles
