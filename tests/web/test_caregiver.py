"""The caregiver page: only the caregiver's own patients; 404 for everyone else."""

import pytest
from django.test import Client
from django.urls import reverse

from pumps.models import CareRole, Clinic
from pumps.services import care_team_add
from tests.conftest import World
from tests.html import shows_word


@pytest.fixture
def phones(world: World) -> None:
    Clinic.objects.filter(pk=world.clinic_a.pk).update(
        phone="+1 555 0100", after_hours_phone="+1 555 1900"
    )


def test_caregiver_a_sees_patient_a1_only(client: Client, world: World, phones, implant) -> None:
    implant(world.patient_a1, "NGP1")
    implant(world.patient_a2, "NGP2")
    client.force_login(world.caregiver_a)
    response = client.get(reverse("web:caregiver"))
    assert response.status_code == 200
    html = response.content.decode()
    assert world.patient_a1.full_name in html
    assert world.patient_a2.given_name not in html and world.patient_a2.family_name not in html
    # Whom to call.
    assert "+1 555 0100" in html and 'href="tel:+15550100"' in html
    assert "+1 555 1900" in html
    # Nothing a caregiver has no use for: no MRN, no other patients' rows.
    assert not shows_word(html, "MRN") and not shows_word(html, "A1")
    assert html.count('class="card patient-card"') == 1


def test_caregiver_b_sees_patient_a2_only(client: Client, world: World) -> None:
    client.force_login(world.caregiver_b)
    html = client.get(reverse("web:caregiver")).content.decode()
    assert world.patient_a2.full_name in html
    assert world.patient_a1.full_name not in html


def test_the_page_explains_beeps_and_warning_signs(client: Client, world: World, implant) -> None:
    implant(world.patient_a1, "NGP1")
    client.force_login(world.caregiver_a)
    html = client.get(reverse("web:caregiver")).content.decode()
    for text in (
        "What the pump's beeps mean",
        "about once an hour",
        "within 90 days",
        "A two-tone alarm is critical",
        "no longer flowing",
        "Call the clinic at once",
        "more spasticity or stiffness",
        "itching",
        "tingling",
        "fever, confusion or very stiff (rigid) muscles",
        "slow or shallow breathing",
        "floppy, weak muscles",
        "What to do now",
        "Pump: SynchroMed II 20 mL",
    ):
        assert text in html, text
    # The next-visit block renders a sensible sentence until the refill dates exist.
    assert "Your clinic will tell you the next refill date." in html
    # Missing phone numbers are said in words, not left blank.
    assert "Ask your clinic for its number." in html


def test_a_fixed_rate_pump_is_said_to_have_no_alarm(client: Client, world: World, implant) -> None:
    from decimal import Decimal

    implant(
        world.patient_a1,
        "C1",
        model_number="CODMAN-3000",
        low_reservoir_alarm_ml=Decimal("3"),
        fixed_flow_rate_ml_per_day=Decimal("1.0"),
    )
    client.force_login(world.caregiver_a)
    html = client.get(reverse("web:caregiver")).content.decode()
    assert "no alarm" in html
    assert "about once an hour" not in html


@pytest.mark.parametrize("who", ["clinician", "nurse", "integrator", "clinician_b", "stranger"])
def test_people_without_a_caregiver_role_get_404(client: Client, world: World, who: str) -> None:
    client.force_login(getattr(world, who))
    assert client.get(reverse("web:caregiver")).status_code == 404


def test_a_clinician_who_is_also_a_caregiver_sees_only_that_patient(
    client: Client, world: World
) -> None:
    care_team_add(
        actor=world.admin,
        user=world.clinician_b,
        role=CareRole.CAREGIVER,
        patient=world.patient_a1,
    )
    client.force_login(world.clinician_b)
    html = client.get(reverse("web:caregiver")).content.decode()
    assert world.patient_a1.full_name in html
    assert world.patient_b1.full_name not in html  # their clinic patient, not as caregiver
    assert world.patient_a2.full_name not in html


def test_inactive_caregiver_cannot_see_the_page(client: Client, world: World) -> None:
    client.force_login(world.caregiver_a)
    world.caregiver_a.is_active = False
    world.caregiver_a.save()
    response = client.get(reverse("web:caregiver"))
    assert response.status_code in (302, 404)
    assert world.patient_a1.full_name not in response.content.decode()


def _stored(pump, **values) -> None:
    from pumps.models import Pump

    Pump.objects.filter(pk=pump.pk).update(**values)


def test_the_next_booked_refill_and_alarm_date_are_shown(
    client: Client, world: World, implant
) -> None:
    from datetime import UTC, datetime

    pump = implant(world.patient_a1, "NGP1")
    _stored(
        pump,
        refill_due_at=datetime(2030, 3, 20, 12, tzinfo=UTC),
        projected_alarm_at=datetime(2030, 3, 27, 12, tzinfo=UTC),
        projected_empty_at=datetime(2030, 3, 30, 12, tzinfo=UTC),
        next_visit_at=datetime(2030, 3, 18, 14, 30, tzinfo=UTC),
    )
    client.force_login(world.caregiver_a)
    html = client.get(reverse("web:caregiver")).content.decode()
    # Clinic A works in America/New_York (EDT in March 2030): 14:30 UTC is 10:30.
    assert "Monday 18 March 2030, 10:30" in html
    assert "Please keep this appointment." in html
    assert "expected from Wednesday 27 March 2030" in html


def test_an_unbooked_refill_asks_the_caregiver_to_call(
    client: Client, world: World, implant
) -> None:
    from datetime import UTC, datetime

    pump = implant(world.patient_a1, "NGP1")
    _stored(
        pump,
        refill_due_at=datetime(2030, 3, 20, 12, tzinfo=UTC),
        projected_alarm_at=datetime(2030, 3, 27, 12, tzinfo=UTC),
        projected_empty_at=datetime(2030, 3, 30, 12, tzinfo=UTC),
    )
    client.force_login(world.caregiver_a)
    html = client.get(reverse("web:caregiver")).content.decode()
    assert "No refill is booked yet." in html
    assert "by Wednesday 20 March 2030" in html
