"""The refill runway board's rows, order, flags and filters."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from pumps.models import CatheterModel, Pump, PumpModel
from pumps.services import pump_implant
from refills.board import board_rows, flags_for

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)
TODAY = date(2025, 3, 10)


def make_pump(world, patient, serial, **projection):
    pump = pump_implant(
        actor=world.clinician,
        patient=patient,
        pump_model=PumpModel.objects.get(model_number="8637-20"),
        serial_number=serial,
        implanted_on=date(2024, 1, 1),
        catheter_model=CatheterModel.objects.get(model_number="8709SC"),
        catheter_length_cm=D("60"),
        catheter_volume_per_cm_ml=D("0.002"),
    )
    # The stored projection as the services would leave it.
    Pump.objects.filter(pk=pump.pk).update(**projection)
    return Pump.objects.select_related("patient", "patient__clinic", "pump_model").get(pk=pump.pk)


def codes(pump):
    return [f.code for f in flags_for(pump, now=NOW, today=TODAY)]


def projected(
    due_in_days,
    *,
    alarm_after_due=7,
    empty_after_due=10,
    visit_in_days=None,
    reason="low_reservoir_alarm",
):
    due = NOW + timedelta(days=due_in_days)
    return {
        "refill_due_at": due,
        "projected_alarm_at": due + timedelta(days=alarm_after_due),
        "projected_empty_at": due + timedelta(days=empty_after_due),
        "refill_due_reason": reason,
        "next_visit_at": NOW + timedelta(days=visit_in_days) if visit_in_days is not None else None,
    }


@pytest.mark.parametrize(
    ("projection", "expected"),
    [
        (projected(5, visit_in_days=3), []),
        (projected(5), ["not_booked"]),
        (projected(-1), ["overdue"]),
        (projected(5, visit_in_days=8), ["after_due"]),
        (projected(5, visit_in_days=13), ["after_alarm"]),
        (projected(10, visit_in_days=8, reason="drug_stability"), ["stability"]),
        (projected(30, visit_in_days=28, reason="drug_stability"), []),
        ({"projection_error": "no program at fill"}, ["projection_failed"]),
        ({}, ["no_fill"]),
    ],
)
def test_flags(world, projection, expected):
    pump = make_pump(world, world.patient_a2, "P1", **projection)
    assert codes(pump) == expected


def test_high_risk_and_replacement_flags(world):
    world.patient_a1.history_of_withdrawal = True
    world.patient_a1.save()
    pump = make_pump(
        world,
        world.patient_a1,
        "P2",
        elective_replacement_on=TODAY + timedelta(days=60),
        **projected(5, visit_in_days=2),
    )
    assert codes(pump) == ["high_risk", "replacement"]
    Pump.objects.filter(pk=pump.pk).update(elective_replacement_on=TODAY + timedelta(days=200))
    pump.refresh_from_db()
    assert codes(pump) == ["high_risk"]


def test_rows_are_ordered_by_urgency_and_limited_to_the_care_team(world, implanted_pump):
    later = make_pump(world, world.patient_a2, "LATER", **projected(20, visit_in_days=18))
    Pump.objects.filter(pk=implanted_pump.pk).update(**projected(2))
    make_pump(world, world.patient_b1, "OTHER-CLINIC", **projected(1))
    rows = board_rows(world.clinician, now=NOW, today=TODAY)
    assert [r.pump.serial_number for r in rows] == ["NGP100001", "LATER"]
    assert rows[0].time_left == timedelta(days=2)
    assert rows[0].worst_level == "warning"
    assert rows[1].worst_level == "ok"
    assert [r.pump.serial_number for r in board_rows(world.clinician_b, now=NOW, today=TODAY)] == [
        "OTHER-CLINIC"
    ]
    assert later.pk in {r.pump.pk for r in board_rows(world.nurse, now=NOW, today=TODAY)}


def test_failed_projections_come_first(world, implanted_pump):
    Pump.objects.filter(pk=implanted_pump.pk).update(**projected(1))
    make_pump(world, world.patient_a2, "BROKEN", projection_error="no program at fill")
    rows = board_rows(world.clinician, now=NOW, today=TODAY)
    assert rows[0].pump.serial_number == "BROKEN"
    assert rows[0].worst_level == "danger"


def test_filters(world, implanted_pump):
    Pump.objects.filter(pk=implanted_pump.pk).update(**projected(2))
    make_pump(world, world.patient_a2, "BOOKED", **projected(9, visit_in_days=7))
    mrn_a2 = world.patient_a2.mrn
    assert [
        r.pump.serial_number
        for r in board_rows(world.clinician, now=NOW, today=TODAY, search=mrn_a2)
    ] == ["BOOKED"]
    assert [
        r.pump.serial_number
        for r in board_rows(world.clinician, now=NOW, today=TODAY, flag="not_booked")
    ] == ["NGP100001"]
    assert board_rows(world.clinician, now=NOW, today=TODAY, high_risk_only=True) == []
    assert board_rows(world.clinician, now=NOW, today=TODAY, clinic_id=world.clinic_b.pk) == []


def test_only_clinicians_and_nurses_get_board_rows(world, implanted_pump):
    Pump.objects.filter(pk=implanted_pump.pk).update(**projected(2))
    assert len(board_rows(world.clinician, now=NOW, today=TODAY)) == 1
    assert len(board_rows(world.nurse, now=NOW, today=TODAY)) == 1
    for user in (world.caregiver_a, world.caregiver_b, world.integrator, world.stranger):
        assert board_rows(user, now=NOW, today=TODAY) == [], user.username


def test_board_is_one_query_whatever_the_size(world, django_assert_num_queries):
    for i in range(5):
        make_pump(
            world, world.patient_a2 if i == 0 else _patient(world, i), f"S{i}", **projected(i + 1)
        )
    with django_assert_num_queries(1):
        rows = board_rows(world.clinician, now=NOW, today=TODAY)
        assert len(rows) == 5
        assert all(r.pump.patient.clinic.name for r in rows)


def _patient(world, i):
    from tests.factories import PatientFactory

    return PatientFactory.create(clinic=world.clinic_a, mrn=f"Q{i}")
