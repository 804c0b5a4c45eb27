"""The home page by role: staff see their clinics' active pumps, caregivers go to their page,
integrators and users with no care role see that they have no patients here."""

from datetime import date, timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pumps.models import Patient, Pump, PumpStatus
from tests.conftest import World


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.split("<tr ")[1:]


def _with_projection(pump: Pump, *, due_in_days: float, visit_in_days: float | None = None) -> None:
    """Give a pump the stored projection the services would leave after a fill."""
    now = timezone.now()
    due = now + timedelta(days=due_in_days)
    Pump.objects.filter(pk=pump.pk).update(
        refill_due_at=due,
        refill_due_reason="low_reservoir_alarm",
        projected_alarm_at=due + timedelta(days=7),
        projected_empty_at=due + timedelta(days=10),
        next_visit_at=now + timedelta(days=visit_in_days) if visit_in_days is not None else None,
    )


def test_clinician_sees_the_refill_board_of_clinic_a_only(
    client: Client, world: World, implant
) -> None:
    Patient.objects.filter(pk=world.patient_a1.pk).update(given_name="Zoe", family_name="Young")
    Patient.objects.filter(pk=world.patient_a2.pk).update(given_name="Adam", family_name="Abbott")
    Patient.objects.filter(pk=world.patient_b1.pk).update(given_name="Bea", family_name="Bravo")
    _with_projection(implant(world.patient_a1, "NGP1"), due_in_days=2)
    _with_projection(implant(world.patient_a2, "NGP2"), due_in_days=20, visit_in_days=18)
    _with_projection(implant(world.patient_b1, "NGP3"), due_in_days=1)

    client.force_login(world.clinician)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "refills/board.html"
    html = response.content.decode()
    assert '<h1 class="page-header__title">Refill board</h1>' in html
    rows = _rows(html)
    assert len(rows) == 2
    # Most urgent first: Young (due in 2 days, not booked) before Abbott (booked, on track).
    # Due in 2 days less the seconds the test took: "in 1 day" (whole days, rounded down).
    assert "Young, Zoe" in rows[0] and "in 1 day" in rows[0]
    assert "No refill booked" in rows[0] and "board__row--warning" in rows[0]
    assert "Abbott, Adam" in rows[1] and "On track" in rows[1]
    assert "Bravo" not in html
    assert "2 pumps." in html


def test_nurse_sees_the_same_clinic(client: Client, world: World, implant) -> None:
    implant(world.patient_a1, "NGP1")
    implant(world.patient_b1, "NGP3")
    client.force_login(world.nurse)
    html = client.get(reverse("home")).content.decode()
    assert len(_rows(html)) == 1
    assert world.patient_a1.family_name in html
    assert world.patient_b1.family_name not in html
    assert "No fill recorded yet" in html


def test_clinician_b_sees_clinic_b_only(client: Client, world: World, implant) -> None:
    implant(world.patient_a1, "NGP1")
    implant(world.patient_b1, "NGP3")
    client.force_login(world.clinician_b)
    html = client.get(reverse("home")).content.decode()
    assert len(_rows(html)) == 1
    assert f"{world.patient_b1.family_name}, {world.patient_b1.given_name}" in html
    assert world.patient_a1.family_name not in html


def test_explanted_pumps_are_not_listed(client: Client, world: World, implant) -> None:
    pump = implant(world.patient_a1, "NGP1")
    Pump.objects.filter(pk=pump.pk).update(
        status=PumpStatus.EXPLANTED, explanted_on=date(2025, 1, 1)
    )
    client.force_login(world.clinician)
    html = client.get(reverse("home")).content.decode()
    assert "No active pumps in your clinics yet." in html
    assert "<table" not in html


def test_empty_state_when_no_pumps(client: Client, world: World) -> None:
    client.force_login(world.clinician)
    html = client.get(reverse("home")).content.decode()
    assert "No active pumps in your clinics yet." in html
    assert "empty-state" in html


def test_high_withdrawal_risk_is_flagged_in_words(client: Client, world: World, implant) -> None:
    Patient.objects.filter(pk=world.patient_a1.pk).update(history_of_withdrawal=True)
    implant(world.patient_a1, "NGP1")
    implant(world.patient_a2, "NGP2")
    client.force_login(world.clinician)
    html = client.get(reverse("home")).content.decode()
    assert html.count(">High withdrawal risk</span>") == 1


def test_board_filters(client: Client, world: World, implant) -> None:
    _with_projection(implant(world.patient_a1, "NGP1"), due_in_days=2)
    _with_projection(implant(world.patient_a2, "NGP2"), due_in_days=20, visit_in_days=18)
    client.force_login(world.clinician)
    html = client.get(reverse("home"), {"q": world.patient_a2.mrn}).content.decode()
    assert len(_rows(html)) == 1 and world.patient_a2.family_name in html
    html = client.get(reverse("home"), {"flag": "not_booked"}).content.decode()
    assert len(_rows(html)) == 1 and world.patient_a1.family_name in html
    html = client.get(reverse("home"), {"high_risk": "1"}).content.decode()
    assert "No pumps match these filters." in html
    # Unknown filter values are ignored, never an error.
    assert client.get(reverse("home"), {"flag": "nope", "clinic": "x"}).status_code == 200


def test_caregiver_is_redirected_to_their_page(client: Client, world: World) -> None:
    client.force_login(world.caregiver_a)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("web:caregiver")


def test_integrator_is_pointed_to_the_api(client: Client, world: World, implant) -> None:
    implant(world.patient_a1, "NGP1")
    client.force_login(world.integrator)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "No patients in the app" in html
    assert "use the API" in html.replace("Use the API", "use the API")
    assert 'href="/api/docs/"' in html
    assert world.patient_a1.family_name not in html and "<table" not in html


def test_user_without_a_care_role_has_no_patients(client: Client, world: World, implant) -> None:
    implant(world.patient_a1, "NGP1")
    client.force_login(world.stranger)
    html = client.get(reverse("home")).content.decode()
    assert "not on any patient's care team" in html
    assert 'href="/api/docs/"' not in html
    assert world.patient_a1.family_name not in html


def test_admin_without_a_care_role_sees_no_patients(client: Client, world: World, implant) -> None:
    implant(world.patient_a1, "NGP1")
    client.force_login(world.admin)
    html = client.get(reverse("home")).content.decode()
    assert world.patient_a1.family_name not in html and "<table" not in html
