"""The staff patient page: each section with exact values, access, timeline, query count."""

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal as D

import pytest
from django.urls import reverse

from pumps.models import CatheterModel, Pump, PumpModel
from pumps.services import (
    StepInput,
    patient_update,
    pump_implant,
    pump_program_create,
    reservoir_fill_record,
)
from refills.services import refill_cancel, refill_schedule
from tests.conftest import program_and_fill, pump_fill_product

FILL = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)
BOOKING_NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)


def page_url(patient) -> str:
    return reverse("pumps:patient", args=[patient.pk])


def text_of(response) -> str:
    """The page as text with tags removed and whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def section(response, section_id: str) -> str:
    html = response.content.decode()
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', html, flags=re.S)
    assert match is not None, f"no section #{section_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(0)).split())


@pytest.fixture
def tc01_pump(world, implanted_pump):
    """TC-01: 300 mcg/day at 500 mcg/mL, 20 mL filled 2025-03-03 00:00 UTC (Clinic A is in
    America/New_York), a refill booked for 2025-03-24 14:00 UTC."""
    program_and_fill(
        world,
        implanted_pump,
        program_from=datetime(2025, 1, 1, tzinfo=UTC),
        filled_at=FILL,
        reason="Maintenance dose",
        lot_number="LOT-77",
    )
    refill_schedule(
        actor=world.nurse,
        pump=implanted_pump,
        scheduled_at=datetime(2025, 3, 24, 14, tzinfo=UTC),
        now=BOOKING_NOW,
    )
    return Pump.objects.get(pk=implanted_pump.pk)


@pytest.fixture
def tc06_pump(world, implanted_pump):
    """TC-06: flex 06:00–22:00 12.5 mcg/h, 22:00–06:00 25 mcg/h at 500 mcg/mL."""
    pump_program_create(
        actor=world.clinician,
        pump=implanted_pump,
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
        concentration_mcg_per_ml=D("500"),
        mode="flex",
        steps=[StepInput(time(6), D("12.5")), StepInput(time(22), D("25"))],
        reason="Night-time spasms",
    )
    reservoir_fill_record(
        actor=world.nurse,
        pump=implanted_pump,
        filled_at=FILL,
        volume_ml=D("20"),
        concentration_mcg_per_ml=D("500"),
        product=pump_fill_product("500"),
    )
    return implanted_pump


# --- Access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["clinician", "nurse"])
def test_clinic_staff_see_the_page(client, world, username):
    client.force_login(getattr(world, username))
    response = client.get(page_url(world.patient_a1))
    assert response.status_code == 200
    assert world.patient_a1.full_name in response.content.decode()


@pytest.mark.parametrize(
    "username", ["clinician_b", "caregiver_a", "caregiver_b", "integrator", "stranger", "admin"]
)
def test_everyone_else_gets_404(client, world, username):
    client.force_login(getattr(world, username))
    assert client.get(page_url(world.patient_a1)).status_code == 404


def test_other_clinic_patient_is_404_for_clinician_a(client, world):
    client.force_login(world.clinician)
    assert client.get(page_url(world.patient_b1)).status_code == 404
    assert client.get(reverse("pumps:patient", args=[999999])).status_code == 404


def test_anonymous_is_sent_to_sign_in(client, world):
    response = client.get(page_url(world.patient_a1))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- Header and care team -----------------------------------------------------------------------


def test_header_shows_identity_and_risk_in_words(client, world):
    patient = patient_update(
        actor=world.clinician,
        patient=world.patient_a1,
        reason="Injury level recorded",
        sci_level="T4",
        history_of_withdrawal=True,
        date_of_birth=date(1980, 5, 17),
    )
    client.force_login(world.clinician)
    response = client.get(page_url(patient))
    text = text_of(response)
    assert f"MRN {patient.mrn}" in text
    assert "Born 17 May 1980 (age " in text
    assert "Clinic A" in text
    assert "High withdrawal risk" in text
    risk = section(response, "risk")
    assert "Spinal-cord-injury level T4" in risk
    assert "History of withdrawal Yes" in risk
    assert "Communication difficulty No" in risk
    assert "Spasticity origin Spinal" in risk
    assert "Spinal cord injury at T4; History of baclofen withdrawal" in risk


def test_low_risk_patient_is_said_so(client, world):
    client.force_login(world.clinician)
    text = text_of(client.get(page_url(world.patient_a1)))
    assert "Not at high withdrawal risk" in text
    assert "High withdrawal risk:" not in text


def test_care_team_lists_staff_and_this_patients_caregivers(client, world):
    client.force_login(world.nurse)
    team = section(client.get(page_url(world.patient_a1)), "care-team")
    assert "clinician Clinician" in team
    assert "nurse Nurse" in team
    assert "caregiver_a Caregiver" in team
    assert "caregiver_b" not in team  # another patient's caregiver
    assert "clinician_b" not in team  # another clinic


# --- Pump, program and projection ---------------------------------------------------------------


def test_pump_and_catheter(client, world, tc01_pump):
    client.force_login(world.clinician)
    pump = section(client.get(page_url(world.patient_a1)), "pump")
    assert "SynchroMed II" in pump and "(8637-20)" in pump
    assert "Serial NGP100001" in pump
    assert "Implanted 10 Jan 2024" in pump
    assert "Low-reservoir alarm 2 mL" in pump
    assert "Reservoir capacity 20 mL" in pump
    assert "Elective replacement Not recorded" in pump
    assert "(8709SC)" in pump
    assert "Implanted length 60 cm" in pump
    # 60 cm × 0.002 mL/cm (the engine's catheter volume).
    assert "Catheter volume 0.12 mL" in pump


def test_simple_program_tc01(client, world, tc01_pump):
    client.force_login(world.clinician)
    program = section(client.get(page_url(world.patient_a1)), "program")
    assert "Mode Simple continuous" in program
    assert "Concentration 500 mcg/mL" in program
    assert "Daily dose 300 mcg/day" in program
    assert "Daily volume 0.6 mL/day" in program
    assert "Average mcg/h 12.5 mcg/h" in program
    assert "Average mL/h 0.025 mL/h" in program


def test_flex_program_tc06_lists_every_step(client, world, tc06_pump):
    client.force_login(world.clinician)
    response = client.get(page_url(world.patient_a1))
    program = section(response, "program")
    assert "Daily dose 400 mcg/day" in program
    assert "Daily volume 0.8 mL/day" in program
    rows = re.findall(r'<tr class="step-row">(.*?)</tr>', response.content.decode(), flags=re.S)
    cells = [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]
    assert cells == [
        "1 06:00–22:00 16 h 12.5 mcg/h 0.025 mL/h 200 mcg 0.4 mL",
        "2 22:00–06:00 8 h 25 mcg/h 0.05 mL/h 200 mcg 0.4 mL",
    ]


def test_fixed_rate_pump_shows_label_rate_and_dose_at_fill_concentration(client, world):
    pump = pump_implant(
        actor=world.clinician,
        patient=world.patient_a1,
        pump_model=PumpModel.objects.get(model_number="CODMAN-3000"),
        serial_number="C3K-1",
        implanted_on=date(2024, 1, 10),
        catheter_model=CatheterModel.objects.get(model_number="8709SC"),
        catheter_length_cm=D("60"),
        catheter_volume_per_cm_ml=D("0.0020"),
        low_reservoir_alarm_ml=D("3"),
        fixed_flow_rate_ml_per_day=D("0.5"),
    )
    client.force_login(world.clinician)
    before = section(client.get(page_url(world.patient_a1)), "program")
    assert "No fill recorded" in before
    reservoir_fill_record(
        actor=world.nurse,
        pump=pump,
        filled_at=FILL,
        volume_ml=D("20"),
        concentration_mcg_per_ml=D("500"),
        product=pump_fill_product("500"),
    )
    program = section(client.get(page_url(world.patient_a1)), "program")
    assert "Mode Fixed rate (constant flow)" in program
    assert "Label flow rate 0.5 mL/day" in program
    assert "Concentration 500 mcg/mL" in program
    # 0.5 mL/day × 500 mcg/mL = 250 mcg/day; 250 / 24 = 10.4 mcg/h; 0.5 / 24 = 0.0208 mL/h.
    assert "Daily dose 250 mcg/day" in program
    assert "Average mcg/h 10.4 mcg/h" in program
    assert "Average mL/h 0.0208 mL/h" in program


def test_stored_projection_in_the_patients_zone(client, world, tc01_pump):
    # Stored in UTC: due 2025-03-26 00:00, alarm 2025-04-02 00:00, empty 2025-04-05 08:00,
    # visit 2025-03-24 14:00; New York is on EDT (UTC−4) from 9 March 2025.
    assert tc01_pump.refill_due_at == datetime(2025, 3, 26, tzinfo=UTC)
    client.force_login(world.clinician)
    projection = section(client.get(page_url(world.patient_a1)), "projection")
    assert "in America/New_York" in projection
    assert "Refill due Tue 25 Mar 2025, 20:00 Low-reservoir alarm minus buffer" in projection
    assert "Low-reservoir alarm Tue 1 Apr 2025, 20:00" in projection
    assert "Empty Sat 5 Apr 2025, 04:00" in projection
    assert "Next booked refill Mon 24 Mar 2025, 10:00" in projection


def test_stored_projection_follows_the_patients_own_zone(client, world, tc01_pump):
    patient_update(
        actor=world.clinician, patient=world.patient_a1, reason="Moved", time_zone="Europe/Paris"
    )
    client.force_login(world.clinician)
    projection = section(client.get(page_url(world.patient_a1)), "projection")
    # Paris is on CET (UTC+1) until 30 March 2025, CEST (UTC+2) after.
    assert "Refill due Wed 26 Mar 2025, 01:00" in projection
    assert "Low-reservoir alarm Wed 2 Apr 2025, 02:00" in projection


def test_no_pump(client, world):
    client.force_login(world.clinician)
    response = client.get(page_url(world.patient_a1))
    assert "No active pump" in section(response, "pump")
    assert 'id="projection"' not in response.content.decode()


# --- Timeline -----------------------------------------------------------------------------------


def test_timeline_merges_programs_fills_visits_and_audit_newest_first(client, world, tc01_pump):
    visit = tc01_pump.refill_visits.get()
    refill_cancel(actor=world.clinician, visit=visit, reason="Patient in hospital", now=BOOKING_NOW)
    client.force_login(world.clinician)
    html = client.get(page_url(world.patient_a1)).content.decode()
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', html, flags=re.S)
    assert timeline is not None
    items = re.findall(r'data-kind="(\w+)">(.*?)</li>', timeline.group(1), flags=re.S)
    kinds = [kind for kind, _ in items]
    texts = [" ".join(re.sub(r"<[^>]+>", " ", body).split()) for _, body in items]
    # Audit entries were written now (after 2025), then the visit (24 Mar 2025), the fill
    # (3 Mar 2025) and the program (1 Jan 2025).
    first_record = kinds.index("visit")
    assert set(kinds[:first_record]) == {"audit"}
    assert kinds[first_record:] == ["visit", "fill", "program"]
    visit_text, fill_text, program_text = texts[first_record:]
    assert visit_text.startswith("24 Mar 2025, 10:00 Refill visit Refill visit cancelled")
    assert "By clinician" in visit_text and "Reason: Patient in hospital" in visit_text
    assert fill_text.startswith("2 Mar 2025, 19:00 Fill Reservoir filled: 20 mL at 500 mcg/mL")
    assert "By nurse" in fill_text and "lot LOT-77" in fill_text
    assert program_text.startswith(
        "31 Dec 2024, 19:00 Program Simple continuous program from this time: "
        "300 mcg/day at 500 mcg/mL"
    )
    assert "Reason: Maintenance dose" in program_text
    audit_texts = [t for k, t in zip(kinds, texts, strict=True) if k == "audit"]
    assert any(
        "Updated refill visit" in t and "Reason: Patient in hospital" in t for t in audit_texts
    )
    assert any("Created pump program" in t and "By clinician" in t for t in audit_texts)
    # Audit rows are themselves newest first.
    assert "Updated refill visit" in audit_texts[0]


def test_timeline_keeps_the_latest_50(client, world, tc01_pump):
    for day in range(4, 30):
        reservoir_fill_record(
            actor=world.nurse,
            pump=tc01_pump,
            filled_at=datetime(2025, 3, day, 12, tzinfo=UTC),
            volume_ml=D("20"),
            concentration_mcg_per_ml=D("500"),
            product=pump_fill_product("500"),
        )
    client.force_login(world.clinician)
    html = client.get(page_url(world.patient_a1)).content.decode()
    assert html.count('class="timeline__item ') == 50
    assert "Showing the latest 50 entries" in html


def test_query_count_is_bounded(client, world, tc06_pump, django_assert_max_num_queries):
    for day in range(4, 20):
        reservoir_fill_record(
            actor=world.nurse,
            pump=tc06_pump,
            filled_at=datetime(2025, 3, day, 12, tzinfo=UTC),
            volume_ml=D("20"),
            concentration_mcg_per_ml=D("500"),
            product=pump_fill_product("500"),
        )
    client.force_login(world.clinician)
    with django_assert_max_num_queries(30):
        response = client.get(page_url(world.patient_a1))
    assert response.status_code == 200


def test_board_links_each_patient_to_their_page(client, world, tc01_pump):
    client.force_login(world.clinician)
    html = client.get(reverse("home")).content.decode()
    assert f'<a href="{page_url(world.patient_a1)}">' in html
