"""The program-change page: access, review, override, bridge, double submit, stale form."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pumps.models import Pump, PumpBolus, PumpProgram
from tests.conftest import program_and_fill


@pytest.fixture
def pump(world, implanted_pump) -> Pump:
    """300 mcg/day at 500 mcg/mL, filled with 20 mL two days ago."""
    return program_and_fill(
        world,
        implanted_pump,
        program_from=datetime(2025, 1, 1, tzinfo=UTC),
        filled_at=timezone.now() - timedelta(days=2),
    )


def url(pump) -> str:
    return reverse("pumps:program-change", args=[pump.pk])


def proposal(**changes) -> dict[str, str]:
    now_local = timezone.localtime(timezone.now() - timedelta(minutes=1))
    data = {
        "context": "refill",
        "effective_from": now_local.strftime("%Y-%m-%dT%H:%M"),
        "concentration_mcg_per_ml": "500",
        "concentration_confirm_mcg_per_ml": "500",
        "mode": "simple",
        "daily_dose_mcg": "330",
        "reason": "Spasms at night",
    }
    data.update(changes)
    return data


@pytest.fixture
def nurse(world) -> Client:
    client = Client()
    client.force_login(world.nurse)
    return client


def test_page_is_for_the_clinics_clinicians_and_nurses_only(world, pump):
    for user, status in (
        (world.clinician, 200),
        (world.nurse, 200),
        (world.clinician_b, 404),
        (world.caregiver_a, 404),
        (world.integrator, 404),
        (world.stranger, 404),
    ):
        client = Client()
        client.force_login(user)
        assert client.get(url(pump)).status_code == status, user.username
    assert Client().get(url(pump)).status_code == 302


def test_form_starts_from_the_current_program(nurse, pump):
    html = nurse.get(url(pump)).content.decode()
    assert 'name="daily_dose_mcg"' in html and 'value="300.000"' in html


def test_concentration_must_be_entered_twice_the_same(nurse, pump):
    response = nurse.post(url(pump), proposal(concentration_confirm_mcg_per_ml="2000"))
    assert "The two concentrations differ" in response.content.decode()
    assert PumpProgram.objects.count() == 1


def test_review_shows_both_programs_and_the_verdict(nurse, pump):
    html = nurse.post(url(pump), proposal()).content.decode()
    assert "Review the program change" in html
    assert "0.6 mL/day" in html and "0.66 mL/day" in html  # 300/500 and 330/500
    assert "Within the label limits" in html
    assert "New projected dates" in html
    assert PumpProgram.objects.count() == 1  # the review saves nothing


def test_save_needs_the_pump_running_confirmation_then_saves_once(nurse, pump):
    review = nurse.post(url(pump), proposal())
    expected = review.context["confirm"].initial["expected_current_program_id"]
    save = {**proposal(), "step": "save", "expected_current_program_id": expected}
    response = nurse.post(url(pump), save)
    assert "interrogated" in response.content.decode()
    assert PumpProgram.objects.count() == 1
    save["pump_running_confirmed"] = "on"
    assert nurse.post(url(pump), save).status_code == 302
    assert PumpProgram.objects.count() == 2
    # The same form sent again (double click, reload) saves nothing more.
    again = nurse.post(url(pump), save, follow=True)
    assert "already saved" in again.content.decode()
    assert PumpProgram.objects.count() == 2


def test_soft_stop_asks_for_an_override(nurse, pump):
    html = nurse.post(url(pump), proposal(daily_dose_mcg="450")).content.decode()
    assert "Soft stop" in html and 'name="override_reason"' in html
    expected = PumpProgram.objects.latest().pk
    save = {
        **proposal(daily_dose_mcg="450"),
        "step": "save",
        "expected_current_program_id": expected,
        "pump_running_confirmed": "on",
    }
    assert "document why" in nurse.post(url(pump), save).content.decode()
    save["override_reason"] = "Clinician reviewed; severe spasms"
    assert nurse.post(url(pump), save).status_code == 302
    assert PumpProgram.objects.latest().override_reason == "Clinician reviewed; severe spasms"


def test_hard_stop_has_no_save_button(nurse, pump):
    html = nurse.post(url(pump), proposal(daily_dose_mcg="1440")).content.decode()
    assert "Hard stop" in html
    assert "Save the new program" not in html


def test_concentration_change_shows_the_bridge_and_records_it(nurse, pump):
    change = proposal(
        concentration_mcg_per_ml="2000",
        concentration_confirm_mcg_per_ml="2000",
        daily_dose_mcg="300",
    )
    html = nurse.post(url(pump), change).content.decode()
    assert "a bridge bolus is required" in html
    assert "25 % of the prescribed dose" in html  # TC-04 pattern: 500 → 2000 gives 25 %
    assert "0.26 mL" in html  # 0.140 tubing + 60 cm × 0.002 mL/cm
    expected = PumpProgram.objects.latest().pk
    save = {
        **change,
        "step": "save",
        "expected_current_program_id": expected,
        "pump_running_confirmed": "on",
    }
    assert "bridge bolus" in nurse.post(url(pump), save).content.decode()
    save["bridge_confirmed"] = "on"
    assert nurse.post(url(pump), save).status_code == 302
    assert PumpBolus.objects.filter(pump=pump, kind="bridge").count() == 1


def test_a_form_on_a_superseded_program_is_refused(world, nurse, pump):
    stale = PumpProgram.objects.latest().pk
    other = Client()
    other.force_login(world.clinician)
    first = {
        **proposal(daily_dose_mcg="320"),
        "step": "save",
        "expected_current_program_id": stale,
        "pump_running_confirmed": "on",
    }
    assert other.post(url(pump), first).status_code == 302
    mine = {
        **proposal(daily_dose_mcg="340"),
        "step": "save",
        "expected_current_program_id": stale,
        "pump_running_confirmed": "on",
    }
    html = nurse.post(url(pump), mine).content.decode()
    assert "changed while this form was open" in html
    assert PumpProgram.objects.count() == 2


def test_bad_numbers_are_refused_next_to_their_field(nurse, pump):
    html = nurse.post(url(pump), proposal(daily_dose_mcg="-5")).content.decode()
    assert "field--error" in html
    html = nurse.post(url(pump), proposal(mode="flex", daily_dose_mcg="")).content.decode()
    assert "at least one step" in html
    assert PumpProgram.objects.count() == 1


def test_a_refused_proposal_field_is_shown_not_a_server_error(nurse, pump):
    latest = PumpProgram.objects.latest()
    same_start = timezone.localtime(latest.effective_from).strftime("%Y-%m-%dT%H:%M:%S")
    save = {
        **proposal(effective_from=same_start),
        "step": "save",
        "expected_current_program_id": latest.pk,
        "pump_running_confirmed": "on",
        # The same start is also "within 24 h of the last change": override that soft stop.
        "override_reason": "Documented",
    }
    response = nurse.post(url(pump), save)
    assert response.status_code == 200
    assert "can only supersede the current one" in response.content.decode()
    assert PumpProgram.objects.count() == 1


def test_patient_page_and_board_link_to_booking_and_program_change(nurse, pump):
    patient_page = nurse.get(reverse("pumps:patient", args=[pump.patient_id])).content.decode()
    assert reverse("pumps:program-change", args=[pump.pk]) in patient_page
    assert reverse("refills:schedule", args=[pump.pk]) in patient_page
    board = nurse.get(reverse("home")).content.decode()
    assert reverse("refills:schedule", args=[pump.pk]) in board


def test_number_errors_name_the_quantity_and_unit(nurse, pump):
    html = nurse.post(url(pump), proposal(daily_dose_mcg="lots")).content.decode()
    assert "Enter the daily dose in mcg/day as a number greater than 0" in html
    html = nurse.post(
        url(pump),
        proposal(
            mode="flex", daily_dose_mcg="", step_1_start="06:00", step_1_rate_mcg_per_hour="-2"
        ),
    ).content.decode()
    assert "rate of step 1 in mcg/h" in html
