"""Who may see which patients. Every page and endpoint that shows patient data starts from
``patients_visible_to``; nothing else decides access.

A user sees a patient when they are on that patient's care team: staff (clinician, nurse,
integrator) through a membership of the patient's clinic, a caregiver through a membership of the
patient. Superuser and staff flags grant nothing here: the Django admin is a separate tool for
system administrators.
"""

from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from pumps.models import CareRole, CareTeamMember, Clinic, Patient, Pump, PumpStatus


def _can_see_anything(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def patients_visible_to(user: Any) -> QuerySet[Patient]:
    """The patients ``user`` may see. Two indexed subqueries, no joins that duplicate rows."""
    if not _can_see_anything(user):
        return Patient.objects.none()
    memberships = CareTeamMember.objects.filter(user=user)
    clinic_ids = memberships.filter(clinic__isnull=False).values("clinic_id")
    patient_ids = memberships.filter(patient__isnull=False).values("patient_id")
    return Patient.objects.filter(Q(clinic_id__in=clinic_ids) | Q(pk__in=patient_ids))


def visible_patients_sql(
    user: Any, patient_id_column: str, clinic_id_column: str
) -> tuple[str, list[Any]]:
    """``patients_visible_to`` as an SQL condition on a patient's id and clinic id columns, for
    the few hand-written statements of hot read paths (``api.representations``). The same two
    subqueries on the care team; ``tests/pumps/test_access.py`` checks that both agree for
    every user and patient."""
    if not _can_see_anything(user):
        return "1 = 0", []
    team = CareTeamMember._meta.db_table
    return (
        f"({clinic_id_column} IN (SELECT clinic_id FROM {team} "  # noqa: S608 - our columns; values are parameters
        "WHERE user_id = %s AND clinic_id IS NOT NULL) "
        f"OR {patient_id_column} IN (SELECT patient_id FROM {team} "
        "WHERE user_id = %s AND patient_id IS NOT NULL))",
        [user.pk, user.pk],
    )


def visible_patient_ids_sql(user: Any) -> tuple[str, list[Any]]:
    """``patients_visible_to`` as an SQL subquery of patient ids (``visible_patients_sql`` on
    the patient table), for a hand-written filter on any patient id column
    (``pumps_visible_to_for_list``). ``tests/pumps/test_access.py`` checks that both agree."""
    condition, params = visible_patients_sql(user, "pt.id", "pt.clinic_id")
    return f"SELECT pt.id FROM {Patient._meta.db_table} pt WHERE {condition}", params  # noqa: S608 - our table; values are parameters


def pumps_visible_to_for_list(user: Any) -> QuerySet[Pump]:
    """The pumps of ``pumps_visible_to`` with no related rows, filtered by
    ``visible_patient_ids_sql``: for the API's pump list, where compiling the ORM's form of the
    rule was a fifth of the request."""
    sql, params = visible_patient_ids_sql(user)
    return Pump.objects.filter(patient_id__in=RawSQL(sql, params))  # noqa: S611 - see above


def clinics_staffed_by(user: Any) -> QuerySet[Clinic]:
    """Clinics in which ``user`` is a clinician, nurse or integrator."""
    if not _can_see_anything(user):
        return Clinic.objects.none()
    return Clinic.objects.filter(care_team__user=user)


def roles_for_patient(user: Any, patient: Patient) -> set[str]:
    """The care roles ``user`` holds for ``patient`` (empty when none)."""
    if not _can_see_anything(user):
        return set()
    rows = CareTeamMember.objects.filter(
        Q(clinic_id=patient.clinic_id) | Q(patient=patient), user=user
    ).values_list("role", flat=True)
    return set(rows)


def pumps_visible_to(user: Any, *, active_only: bool = False) -> QuerySet[Pump]:
    pumps = Pump.objects.filter(patient__in=patients_visible_to(user)).select_related(
        "patient", "patient__clinic", "pump_model"
    )
    if active_only:
        pumps = pumps.filter(status=PumpStatus.ACTIVE)
    return pumps


def is_caregiver_only(user: Any) -> bool:
    """True for a user whose only care roles are caregiver roles."""
    roles = set(CareTeamMember.objects.filter(user=user).values_list("role", flat=True))
    return roles == {CareRole.CAREGIVER}


def default_time_zone_for(user: Any) -> str:
    """The time zone a user's clinic works in (the clinic setting when they have none)."""
    from django.conf import settings

    if _can_see_anything(user):
        member = (
            CareTeamMember.objects.filter(user=user)
            .select_related("clinic", "patient__clinic")
            .order_by("pk")
            .first()
        )
        if member is not None and member.clinic is not None:
            return member.clinic.time_zone
        if member is not None and member.patient is not None:
            return member.patient.effective_time_zone
    return str(settings.CLINIC_TIME_ZONE)
