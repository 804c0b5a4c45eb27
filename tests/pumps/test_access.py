"""The access selector: each role sees exactly the patients on its care team."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection

from pumps.models import CareRole, CareTeamMember, Patient
from pumps.selectors import (
    is_caregiver_only,
    patients_visible_to,
    pumps_visible_to,
    pumps_visible_to_for_list,
    roles_for_patient,
    visible_patients_sql,
)
from pumps.services import care_team_add


def visible(user) -> set[str]:
    return set(patients_visible_to(user).values_list("mrn", flat=True))


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("clinician", {"A1", "A2"}),
        ("nurse", {"A1", "A2"}),
        ("integrator", {"A1", "A2"}),
        ("clinician_b", {"B1"}),
        ("caregiver_a", {"A1"}),
        ("caregiver_b", {"A2"}),
        ("stranger", set()),
    ],
)
def test_each_role_sees_exactly_its_patients(world, username, expected):
    assert visible(getattr(world, username)) == expected


def test_superuser_sees_no_patient_without_a_care_role(world):
    assert visible(world.admin) == set()


def test_anonymous_sees_nothing(world):
    assert visible(AnonymousUser()) == set()


def test_deactivated_user_sees_nothing(world):
    world.nurse.is_active = False
    world.nurse.save(update_fields=["is_active"])
    assert visible(world.nurse) == set()


def test_caregiver_cannot_read_other_patient(world):
    assert not patients_visible_to(world.caregiver_a).filter(pk=world.patient_a2.pk).exists()


def test_clinician_cannot_read_other_clinics_patient(world):
    assert not patients_visible_to(world.clinician).filter(pk=world.patient_b1.pk).exists()


def test_removing_membership_withdraws_access(world):
    CareTeamMember.objects.filter(user=world.caregiver_a).delete()
    assert visible(world.caregiver_a) == set()


def test_staff_of_two_clinics_sees_both_without_duplicates(world):
    care_team_add(actor=world.admin, user=world.nurse, role=CareRole.NURSE, clinic=world.clinic_b)
    patients = list(patients_visible_to(world.nurse))
    assert sorted(p.mrn for p in patients) == ["A1", "A2", "B1"]


def test_caregiver_of_two_patients_sees_both(world):
    care_team_add(
        actor=world.admin,
        user=world.caregiver_a,
        role=CareRole.CAREGIVER,
        patient=world.patient_a2,
    )
    assert visible(world.caregiver_a) == {"A1", "A2"}


def test_pumps_follow_the_patients(world, implanted_pump):
    assert list(pumps_visible_to(world.caregiver_a)) == [implanted_pump]
    assert list(pumps_visible_to(world.caregiver_b)) == []
    assert list(pumps_visible_to(world.clinician_b)) == []


def test_roles_for_patient(world):
    assert roles_for_patient(world.clinician, world.patient_a1) == {"clinician"}
    assert roles_for_patient(world.caregiver_a, world.patient_a1) == {"caregiver"}
    assert roles_for_patient(world.caregiver_a, world.patient_a2) == set()
    assert roles_for_patient(world.clinician_b, world.patient_a1) == set()
    assert is_caregiver_only(world.caregiver_a)
    assert not is_caregiver_only(world.nurse)


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        (CareRole.CAREGIVER, "clinic"),
        (CareRole.CLINICIAN, "patient"),
        (CareRole.NURSE, "patient"),
        (CareRole.INTEGRATOR, "patient"),
    ],
)
def test_role_must_match_its_scope(world, role, scope):
    kwargs = {"clinic": world.clinic_a} if scope == "clinic" else {"patient": world.patient_a1}
    with pytest.raises(ValidationError, match="Caregivers are added to one patient"):
        care_team_add(actor=world.admin, user=world.stranger, role=role, **kwargs)
    assert visible(world.stranger) == set()


def test_only_a_clinician_can_be_clinic_lead(world):
    with pytest.raises(ValidationError, match="Only a clinician"):
        care_team_add(
            actor=world.admin,
            user=world.stranger,
            role=CareRole.NURSE,
            clinic=world.clinic_a,
            is_clinic_lead=True,
        )


def test_one_role_per_user_and_clinic(world):
    with pytest.raises(ValidationError, match="already has a role"):
        care_team_add(
            actor=world.admin, user=world.nurse, role=CareRole.CLINICIAN, clinic=world.clinic_a
        )


def test_the_sql_form_of_the_rule_agrees_with_the_selector(world):
    """``visible_patients_sql`` (the hand-written hot read paths) decides exactly as
    ``patients_visible_to`` for every user, a second membership and a deactivated user
    included."""
    care_team_add(
        actor=world.admin, user=world.caregiver_a, role=CareRole.CAREGIVER, patient=world.patient_a2
    )
    inactive = world.nurse
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    for user in world.users():  # the deactivated one included
        condition, params = visible_patients_sql(user, "p.id", "p.clinic_id")
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT p.mrn FROM {Patient._meta.db_table} p WHERE {condition}",  # noqa: S608
                params,
            )
            by_sql = {mrn for (mrn,) in cursor.fetchall()}
        assert by_sql == visible(user), str(user)
    assert visible(world.caregiver_a) == {"A1", "A2"}  # the second membership counted


def test_the_list_form_of_the_rule_agrees_with_the_selector(world, implant):
    """``pumps_visible_to_for_list`` (the API's pump list, ``visible_patient_ids_sql``) sees
    exactly the pumps ``pumps_visible_to`` sees, for every user, a second membership and a
    deactivated user included."""
    for patient, serial in (
        (world.patient_a1, "L1"),
        (world.patient_a2, "L2"),
        (world.patient_b1, "L3"),
    ):
        implant(patient, serial)
    care_team_add(
        actor=world.admin, user=world.caregiver_a, role=CareRole.CAREGIVER, patient=world.patient_a2
    )
    inactive = world.nurse
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    for user in world.users():
        expected = set(pumps_visible_to(user).values_list("serial_number", flat=True))
        got = set(pumps_visible_to_for_list(user).values_list("serial_number", flat=True))
        assert got == expected, str(user)
    assert set(
        pumps_visible_to_for_list(world.caregiver_a).values_list("serial_number", flat=True)
    ) == {"L1", "L2"}
    assert set(
        pumps_visible_to_for_list(world.clinician_b).values_list("serial_number", flat=True)
    ) == {"L3"}
