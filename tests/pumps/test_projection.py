"""Stored pumps projected through the dosing engine: latest fill, program history, clinic
buffers, the high-risk buffer, product stability, fixed-rate pumps."""

from datetime import UTC, date, datetime, time
from decimal import Decimal as D

import pytest

from pumps.models import CatheterModel, Patient, PumpModel
from pumps.projection import project_pump
from pumps.services import (
    StepInput,
    patient_update,
    pump_implant,
    pump_program_create,
    reservoir_fill_record,
)
from tests.conftest import program_and_fill, pump_fill_product

FILL = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)


@pytest.fixture
def tc01_pump(world, implanted_pump):
    """TC-01 as stored records: 300 mcg/day at 500 mcg/mL, 20 mL filled 2025-03-03 00:00 UTC."""
    return program_and_fill(
        world, implanted_pump, program_from=datetime(2025, 1, 1, tzinfo=UTC), filled_at=FILL
    )


def test_stored_pump_projects_like_tc01(tc01_pump):
    projection = project_pump(tc01_pump)
    assert projection is not None
    assert projection.low_reservoir_alarm_at == datetime(2025, 4, 2, tzinfo=UTC)
    assert projection.empty_at == datetime(2025, 4, 5, 8, tzinfo=UTC)
    # Clinic A's default buffer is 7 days.
    assert projection.refill_due_at == datetime(2025, 3, 26, tzinfo=UTC)
    assert projection.daily_volume_ml == pytest.approx(0.6)


def test_high_risk_patient_gets_the_longer_buffer(world, tc01_pump):
    patient_update(
        actor=world.clinician, patient=world.patient_a1, reason="SCI level", sci_level="T4"
    )
    pump = type(tc01_pump).objects.get(pk=tc01_pump.pk)
    assert Patient.objects.get(pk=world.patient_a1.pk).high_withdrawal_risk
    projection = project_pump(pump)
    assert projection is not None
    # High-risk buffer 10 days: 2025-04-02 − 10 d.
    assert projection.refill_due_at == datetime(2025, 3, 23, tzinfo=UTC)


def test_program_change_after_the_fill_counts(world, tc01_pump):
    # 10 days at 0.6 mL/day = 6 mL; then 600 mcg/day = 1.2 mL/day: (20 − 6 − 2)/1.2 = 10 days
    # more to the alarm: 2025-03-23 00:00.
    pump_program_create(
        actor=world.clinician,
        pump=tc01_pump,
        effective_from=datetime(2025, 3, 13, tzinfo=UTC),
        concentration_mcg_per_ml=D("500"),
        mode="simple",
        daily_dose_mcg=D("600"),
        reason="Titration",
    )
    projection = project_pump(tc01_pump)
    assert projection is not None
    assert projection.low_reservoir_alarm_at == datetime(2025, 3, 23, tzinfo=UTC)
    assert projection.daily_dose_mcg == pytest.approx(600.0)


def test_flex_program_runs_in_the_patients_time_zone(world, implanted_pump):
    # TC-06 in Asia/Kolkata (no DST), filled 2025-03-03 08:00 IST: 18 mL at 0.8 mL/day → 22
    # days to 2025-03-25 08:00 IST with 0.4 mL left; 0.35 mL by 22:00, 0.05 mL by 23:00 IST.
    patient_update(
        actor=world.clinician, patient=world.patient_a1, reason="Moved", time_zone="Asia/Kolkata"
    )
    implanted_pump.refresh_from_db()
    pump_program_create(
        actor=world.clinician,
        pump=implanted_pump,
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
        concentration_mcg_per_ml=D("500"),
        mode="flex",
        steps=[StepInput(time(6), D("12.5")), StepInput(time(22), D("25"))],
        reason="Night spasms",
    )
    reservoir_fill_record(
        actor=world.nurse,
        pump=implanted_pump,
        filled_at=datetime(2025, 3, 3, 2, 30, tzinfo=UTC),
        volume_ml=D("20"),
        concentration_mcg_per_ml=D("500"),
        product=pump_fill_product("500"),
    )
    pump = type(implanted_pump).objects.get(pk=implanted_pump.pk)
    projection = project_pump(pump)
    assert projection is not None
    assert projection.low_reservoir_alarm_at == datetime(2025, 3, 25, 17, 30, tzinfo=UTC)


def test_pump_without_fill_has_no_projection(implanted_pump):
    assert project_pump(implanted_pump) is None


def test_product_stability_limit_binds(world, implanted_pump):
    # 100 mcg/day at 2000 mcg/mL: 0.05 mL/day, alarm after 360 days; the product's 180 days bind.
    program_and_fill(
        world,
        implanted_pump,
        program_from=datetime(2025, 1, 1, tzinfo=UTC),
        filled_at=FILL,
        daily_dose_mcg="100",
        concentration="2000",
        reason="Low dose",
    )
    projection = project_pump(implanted_pump)
    assert projection is not None
    assert projection.refill_due_reason == "drug_stability"
    assert projection.refill_due_at == datetime(2025, 8, 30, tzinfo=UTC)


def test_fixed_rate_pump_projects_from_its_label_rate(world):
    pump = pump_implant(
        actor=world.clinician,
        patient=world.patient_a2,
        pump_model=PumpModel.objects.get(model_number="CODMAN-3000"),
        serial_number="C3000-1",
        implanted_on=date(2024, 6, 1),
        catheter_model=CatheterModel.objects.get(model_number="8709SC"),
        catheter_length_cm=D("60"),
        catheter_volume_per_cm_ml=D("0.002"),
        low_reservoir_alarm_ml=D("3"),
        fixed_flow_rate_ml_per_day=D("1.0"),
    )
    reservoir_fill_record(
        actor=world.nurse,
        pump=pump,
        filled_at=FILL,
        volume_ml=D("30"),
        concentration_mcg_per_ml=D("500"),
        product=pump_fill_product("500"),
    )
    projection = project_pump(pump)
    assert projection is not None
    # 1 mL/day: alarm at 3 mL after 27 days, empty after 30; 500 mcg/day delivered.
    assert projection.daily_dose_mcg == pytest.approx(500.0)
    assert projection.low_reservoir_alarm_at == datetime(2025, 3, 30, tzinfo=UTC)
    assert projection.empty_at == datetime(2025, 4, 2, tzinfo=UTC)


def test_every_demo_pump_can_be_projected(db):
    from io import StringIO

    from django.core.management import call_command

    from pumps.models import Pump

    call_command("seed_demo", stdout=StringIO())
    for pump in Pump.objects.select_related("patient__clinic", "pump_model"):
        projection = project_pump(pump)
        assert projection is not None, pump
        assert projection.low_reservoir_alarm_at < projection.empty_at
        assert projection.refill_due_at <= projection.low_reservoir_alarm_at
