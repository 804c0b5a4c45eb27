"""``seed_demo``: the demo world is complete, consistent, and a second run changes nothing."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from audit.models import AuditEntry
from dosing.display import plain
from pumps.demo import DEMO_PASSWORD
from pumps.models import (
    CareTeamMember,
    Catheter,
    Clinic,
    FlexStep,
    Patient,
    Pump,
    PumpProgram,
    ReservoirFill,
)
from pumps.selectors import patients_visible_to

COUNTED = (
    Clinic,
    Patient,
    Pump,
    Catheter,
    PumpProgram,
    FlexStep,
    ReservoirFill,
    CareTeamMember,
    AuditEntry,
)


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in (*COUNTED, get_user_model())}


@pytest.fixture
def seeded(db) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_twice_changes_nothing(seeded):
    first = counts()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert counts() == first
    assert "0 clinics and 0 patients created" in out.getvalue()


def test_seed_demo_prints_the_logins_and_password(seeded):
    assert DEMO_PASSWORD in seeded
    for username in ("admin", "clinician", "nurse", "caregiver", "caregiver2", "integrator"):
        assert username in seeded


def test_demo_users_can_log_in_with_the_demo_password(seeded):
    User = get_user_model()
    for username in ("admin", "clinician", "nurse", "caregiver", "caregiver2", "integrator"):
        assert User.objects.get(username=username).check_password(DEMO_PASSWORD), username
    assert User.objects.get(username="admin").is_superuser


def test_demo_world_looks_like_a_clinic(seeded):
    assert Clinic.objects.count() == 2
    assert 18 <= Patient.objects.count() <= 24
    assert Pump.objects.filter(status="active").count() == Patient.objects.count()
    assert Catheter.objects.filter(removed_on__isnull=True).count() == Pump.objects.count()
    assert PumpProgram.objects.filter(mode="simple").exists()
    assert PumpProgram.objects.filter(mode="flex").exists()
    assert {
        plain(c) for c in PumpProgram.objects.values_list("concentration_mcg_per_ml", flat=True)
    } >= {"500", "1000", "2000"}
    assert Pump.objects.filter(pump_model__kind="fixed_rate").exists()
    assert Pump.objects.filter(pump_model__model_number__in=["8637-20"]).exists()
    assert Pump.objects.filter(pump_model__model_number__in=["8637-40"]).exists()
    assert Pump.objects.filter(pump_model__manufacturer="Flowonix").exists()
    assert Patient.objects.filter(high_withdrawal_risk=True).exists()
    assert Patient.objects.filter(high_withdrawal_risk=False).exists()
    assert Patient.objects.filter(spasticity_origin="cerebral").exists()
    # Every programmable pump has a program and every pump a fill to project from.
    for pump in Pump.objects.select_related("pump_model"):
        assert pump.fills.exists(), pump
        if not pump.pump_model.is_fixed_rate:
            assert pump.programs.exists(), pump


def test_demo_caregivers_each_see_one_patient(seeded):
    User = get_user_model()
    one = list(patients_visible_to(User.objects.get(username="caregiver")))
    two = list(patients_visible_to(User.objects.get(username="caregiver2")))
    assert len(one) == 1 and len(two) == 1 and one != two


def test_demo_staff_see_their_clinic_only(seeded):
    User = get_user_model()
    demo = Clinic.objects.get(name="Riverside ITB Clinic")
    for username in ("clinician", "nurse", "integrator"):
        seen = patients_visible_to(User.objects.get(username=username))
        assert set(seen) == set(Patient.objects.filter(clinic=demo)), username
    assert not patients_visible_to(User.objects.get(username="admin")).exists()


def test_demo_history_is_audited(seeded):
    assert (
        AuditEntry.objects.filter(record_type="pumps.PumpProgram").count()
        == PumpProgram.objects.count()
    )
    assert (
        AuditEntry.objects.filter(record_type="pumps.ReservoirFill").count()
        == ReservoirFill.objects.count()
    )
