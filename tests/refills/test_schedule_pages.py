"""Booking, moving and cancelling refills through the pages: who may open them, what they show,
and that every rule of ``refills.services`` reaches the form next to the right field."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.urls import reverse

from audit.models import AuditAction, AuditEntry
from pumps.models import CatheterModel, Pump, PumpModel
from pumps.services import pump_implant
from refills.models import RefillVisit, VisitStatus
from refills.services import refill_cancel, refill_schedule

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)  # Monday 08:00 EDT
DUE = datetime(2025, 3, 26, tzinfo=UTC)  # Tuesday 25 March, 20:00 EDT
ALARM = datetime(2025, 4, 2, tzinfo=UTC)
EMPTY = datetime(2025, 4, 5, 8, tzinfo=UTC)


def make_pump(world, patient, serial, *, due=DUE, alarm=ALARM, empty=EMPTY):
    """A pump with the stored projection the services would leave after a fill."""
    pump = pump_implant(
        actor=world.clinician if patient.clinic == world.clinic_a else world.clinician_b,
        patient=patient,
        pump_model=PumpModel.objects.get(model_number="8637-20"),
        serial_number=serial,
        implanted_on=date(2024, 1, 1),
        catheter_model=CatheterModel.objects.get(model_number="8709SC"),
        catheter_length_cm=D("60"),
        catheter_volume_per_cm_ml=D("0.002"),
    )
    Pump.objects.filter(pk=pump.pk).update(
        refill_due_at=due,
        projected_alarm_at=alarm,
        projected_empty_at=empty,
        refill_due_reason="low_reservoir_alarm",
    )
    return Pump.objects.select_related("patient__clinic").get(pk=pump.pk)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def pump(world):
    return make_pump(world, world.patient_a1, "NGP1")


@pytest.fixture
def visit(world, pump):
    return refill_schedule(actor=world.nurse, pump=pump, scheduled_at=DUE - timedelta(days=2))


def fixed_names(world):
    """Fixed, distinctive names (the factory's random ones can be substrings of page text)."""
    for patient, given, family in (
        (world.patient_a1, "Marcus", "Hale"),
        (world.patient_a2, "Elena", "Varga"),
        (world.patient_b1, "Bruno", "Kessler"),
    ):
        patient.given_name, patient.family_name = given, family
        patient.save(update_fields=["given_name", "family_name"])


def as_user(client, user):
    if user is not None:
        client.force_login(user)
    return client


def url_for(name, pump, visit):
    if name == "schedule":
        return reverse("refills:schedule", args=[pump.pk])
    return reverse(f"refills:{name}", args=[visit.pk])


@pytest.mark.parametrize("name", ["schedule", "reschedule", "cancel"])
@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("clinician", 200),
        ("nurse", 200),
        ("clinician_b", 404),
        ("caregiver_a", 404),
        ("integrator", 404),
        ("stranger", 404),
        ("admin", 404),
    ],
)
def test_only_clinicians_and_nurses_of_the_clinic(client, world, pump, visit, name, who, status):
    url = url_for(name, pump, visit)
    assert as_user(client, getattr(world, who)).get(url).status_code == status
    if status == 404:  # a POST is refused the same way, and changes nothing
        client.post(url, {"date": "2025-03-20", "time": "10:00", "reason": "x"})
        visit.refresh_from_db()
        assert visit.status == VisitStatus.BOOKED and visit.scheduled_at == DUE - timedelta(days=2)


@pytest.mark.parametrize("name", ["schedule", "reschedule", "cancel"])
def test_anonymous_is_sent_to_sign_in(client, pump, visit, name):
    url = url_for(name, pump, visit)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_schedule_page_shows_the_projection_and_suggests_slots(client, world, pump):
    response = as_user(client, world.nurse).get(reverse("refills:schedule", args=[pump.pk]))
    html = response.content.decode()
    # Due, alarm and empty in the patient's zone (America/New_York, EDT after 9 March).
    assert "Tue 25 Mar 2025, 20:00 EDT" in html
    assert "Tue 1 Apr 2025, 20:00 EDT" in html  # alarm 2 April 00:00 UTC
    assert "Sat 5 Apr 2025, 04:00 EDT" in html  # empty
    assert "Low-reservoir alarm minus the clinic's buffer" in html
    # The latest safe day is the due date; its latest slot (16:30 EDT) comes first.
    assert "Latest safe day: <strong>Tuesday 25 March 2025</strong>" in html
    slots = [part.split('"', 1)[0] for part in html.split('data-slot="')[1:]]
    assert slots[0] == "2025-03-25T20:30:00+00:00"
    assert slots[:3] == sorted(slots[:3], reverse=True)
    assert (
        f'href="{reverse("refills:schedule", args=[pump.pk])}?date=2025-03-25&amp;time=16%3A30"'
        in html
    )
    assert f'href="{reverse("home")}"' in html  # back to the board
    assert "<script" not in html and "style=" not in html


def test_a_suggested_slot_fills_the_form(client, world, pump):
    url = reverse("refills:schedule", args=[pump.pk])
    html = as_user(client, world.nurse).get(f"{url}?date=2025-03-25&time=16:30").content.decode()
    assert 'value="2025-03-25"' in html and 'value="16:30"' in html
    junk = client.get(f"{url}?date=not-a-date&time=25:99").content.decode()
    assert "not-a-date" not in junk and "25:99" not in junk


def test_booking_on_time(client, world, pump):
    url = reverse("refills:schedule", args=[pump.pk])
    response = as_user(client, world.nurse).post(
        url, {"date": "2025-03-25", "time": "16:30", "late_reason": ""}, follow=True
    )
    assert response.redirect_chain == [(reverse("home"), 302)]
    visit = RefillVisit.objects.get()
    assert visit.scheduled_at == datetime(2025, 3, 25, 20, 30, tzinfo=UTC)  # 16:30 EDT
    assert visit.booked_by == world.nurse and visit.late_reason == ""
    pump.refresh_from_db()
    assert pump.next_visit_at == visit.scheduled_at
    assert "Refill booked for" in response.content.decode()
    assert "Tue 25 Mar 2025, 16:30 EDT" in response.content.decode()


def test_after_the_due_date_needs_a_reason_next_to_the_field(client, world, pump):
    url = reverse("refills:schedule", args=[pump.pk])
    data = {"date": "2025-03-27", "time": "10:00", "late_reason": "  "}
    response = as_user(client, world.nurse).post(url, data)
    assert response.status_code == 200
    html = response.content.decode()
    errors = html.split('id="id_late_reason_errors"', 1)[1].split("</ul>", 1)[0]
    assert "The refill is due by" in errors and "say why this visit is later" in errors
    assert not RefillVisit.objects.exists()
    data["late_reason"] = "Patient in hospital until the 26th"
    assert client.post(url, data).status_code == 302
    visit = RefillVisit.objects.get()
    assert visit.late_reason == "Patient in hospital until the 26th"
    assert visit.scheduled_at == datetime(2025, 3, 27, 14, tzinfo=UTC)


def test_after_the_projected_empty_time_is_refused(client, world, pump):
    url = reverse("refills:schedule", args=[pump.pk])
    data = {"date": "2025-04-07", "time": "10:00", "late_reason": "Any reason"}
    html = as_user(client, world.nurse).post(url, data).content.decode()
    errors = html.split('id="id_time_errors"', 1)[1].split("</ul>", 1)[0]
    assert "projected to run empty" in errors
    assert not RefillVisit.objects.exists()


def test_in_the_past_is_refused(client, world, pump):
    url = reverse("refills:schedule", args=[pump.pk])
    html = as_user(client, world.nurse).post(url, {"date": "2025-03-07", "time": "10:00"})
    assert "cannot be booked in the past" in html.content.decode()
    assert not RefillVisit.objects.exists()


def test_a_time_the_clocks_repeat_is_refused(client, world, pump):
    url = reverse("refills:schedule", args=[pump.pk])
    data = {"date": "2025-11-02", "time": "01:30"}
    html = as_user(client, world.nurse).post(url, data).content.decode()
    assert "happens twice in America/New_York" in html
    assert not RefillVisit.objects.exists()


def test_double_submit_creates_one_visit(client, world, pump):
    url = reverse("refills:schedule", args=[pump.pk])
    data = {"date": "2025-03-24", "time": "10:00"}
    as_user(client, world.nurse)
    assert client.post(url, data).status_code == 302
    second = client.post(url, data)
    assert second.status_code == 200
    assert "A refill is already booked for" in second.content.decode()
    assert "reschedule that visit instead" in second.content.decode()
    assert RefillVisit.objects.count() == 1


def test_reschedule_needs_a_reason(client, world, visit):
    url = reverse("refills:reschedule", args=[visit.pk])
    as_user(client, world.clinician)
    html = client.get(url).content.decode()
    assert 'value="2025-03-23"' in html and 'value="20:00"' in html  # current time, clinic zone
    data = {"date": "2025-03-25", "time": "09:00", "reason": ""}
    html = client.post(url, data).content.decode()
    assert "Say why the visit is moved." in html.split('id="id_reason_errors"', 1)[1]
    visit.refresh_from_db()
    assert visit.scheduled_at == DUE - timedelta(days=2)
    data["reason"] = "Clinic closed that day"
    assert client.post(url, data).status_code == 302
    visit.refresh_from_db()
    assert visit.scheduled_at == datetime(2025, 3, 25, 13, tzinfo=UTC)
    entry = AuditEntry.objects.get(record_type="refills.RefillVisit", action=AuditAction.UPDATE)
    assert entry.reason == "Clinic closed that day" and entry.actor == world.clinician


def test_reschedule_after_empty_is_refused(client, world, visit):
    url = reverse("refills:reschedule", args=[visit.pk])
    data = {"date": "2025-04-08", "time": "09:00", "reason": "Moved", "late_reason": "x"}
    html = as_user(client, world.nurse).post(url, data).content.decode()
    assert "projected to run empty" in html
    visit.refresh_from_db()
    assert visit.scheduled_at == DUE - timedelta(days=2)


def test_cancel_asks_for_confirmation_and_a_reason(client, world, pump, visit):
    url = reverse("refills:cancel", args=[visit.pk])
    as_user(client, world.nurse)
    html = client.get(url).content.decode()
    name = world.patient_a1.full_name
    assert f"Cancel the refill of {name} on Sunday 23 March 2025?" in html
    html = client.post(url, {"reason": " "}).content.decode()
    assert "Say why the visit is cancelled." in html
    visit.refresh_from_db()
    assert visit.status == VisitStatus.BOOKED
    response = client.post(url, {"reason": "Admitted to hospital"}, follow=True)
    assert response.redirect_chain == [(reverse("home"), 302)]
    visit.refresh_from_db()
    pump.refresh_from_db()
    assert visit.status == VisitStatus.CANCELLED and visit.cancel_reason == "Admitted to hospital"
    assert pump.next_visit_at is None
    assert "cancelled" in response.content.decode()


def test_a_cancelled_visit_cannot_be_cancelled_or_moved_again(client, world, visit):
    refill_cancel(actor=world.nurse, visit=visit, reason="Duplicate")
    as_user(client, world.nurse)
    cancel_url = reverse("refills:cancel", args=[visit.pk])
    assert "there is nothing to cancel" in client.get(cancel_url).content.decode()
    assert "no longer booked" in client.post(cancel_url, {"reason": "again"}).content.decode()
    move_url = reverse("refills:reschedule", args=[visit.pk])
    assert "it cannot be moved" in client.get(move_url).content.decode()
    data = {"date": "2025-03-25", "time": "09:00", "reason": "again"}
    assert "This visit is cancelled." in client.post(move_url, data).content.decode()
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CANCELLED
