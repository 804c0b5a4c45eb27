"""Every alert kind raised and resolved at the right time, to the right people, once.

The clock is pinned (``clock`` fixture); the pump is TC-01 in patient A1 (see conftest.py):
refill due 24 Nov 12:00 UTC, alarm 1 Dec 12:00, empty 4 Dec 20:00.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import (
    Alert,
    AlertKind,
    AlertPolicy,
    AlertStatus,
    Audience,
    Delivery,
    DeliveryStatus,
    Severity,
)
from alerts.sweep import run_sweep
from pumps.models import CareRole, CareTeamMember, Patient, Pump, PumpStatus
from pumps.services import care_team_add, pump_implant
from refills.models import VisitStatus
from refills.services import refill_cancel, refill_record, refill_reschedule, refill_schedule
from tests.alerts.conftest import ALARM_AT, DUE_AT, EMPTY_AT, FILLED_AT
from tests.conftest import World, program_and_fill, pump_fill_product
from tests.factories import PatientFactory, UserFactory, pump_model

pytestmark = pytest.mark.django_db

NOT_BOOKED_FROM = DUE_AT - timedelta(days=14)  # the default lead


def open_kinds(pump: Pump) -> set[str]:
    return set(
        Alert.objects.filter(pump=pump, status=AlertStatus.OPEN).values_list("kind", flat=True)
    )


def recipients(kind: str, stage: int = 0) -> set[tuple[str, str]]:
    return set(
        Delivery.objects.filter(alert__kind=kind, stage=stage).values_list(
            "user__username", "audience"
        )
    )


def book(world: World, pump: Pump, when, reason: str = ""):
    return refill_schedule(actor=world.nurse, pump=pump, scheduled_at=when, late_reason=reason)


# --- refill not booked ----------------------------------------------------------------------


def test_refill_not_booked_is_raised_at_the_lead_time_for_the_nurses(filled_pump, clock, world):
    clock.move_to(NOT_BOOKED_FROM - timedelta(minutes=1))
    run_sweep()
    assert open_kinds(filled_pump) == set()

    clock.move_to(NOT_BOOKED_FROM)
    result = run_sweep()
    assert result.raised == 1
    alert = Alert.objects.get()
    assert (alert.kind, alert.severity, alert.stage) == (
        AlertKind.REFILL_NOT_BOOKED,
        Severity.WARNING,
        0,
    )
    assert alert.subject_at == DUE_AT
    assert alert.cycle_key == f"fill:{filled_pump.projection_fill_id}"
    assert recipients(AlertKind.REFILL_NOT_BOOKED) == {("nurse", Audience.STAFF)}


def test_an_overdue_unbooked_refill_is_high_and_reaches_the_clinician(filled_pump, clock, world):
    clock.move_to(DUE_AT - timedelta(minutes=1))
    run_sweep()
    assert open_kinds(filled_pump) == {AlertKind.REFILL_NOT_BOOKED}
    clock.move_to(DUE_AT)
    run_sweep()
    assert open_kinds(filled_pump) == {AlertKind.REFILL_NOT_BOOKED, AlertKind.REFILL_OVERDUE}
    overdue = Alert.objects.get(kind=AlertKind.REFILL_OVERDUE)
    assert overdue.severity == Severity.HIGH
    assert recipients(AlertKind.REFILL_OVERDUE) == {
        ("nurse", Audience.STAFF),
        ("clinician", Audience.STAFF),
    }
    book(world, filled_pump, DUE_AT + timedelta(days=1), reason="First free slot")
    run_sweep()
    assert Alert.objects.get(pk=overdue.pk).status == AlertStatus.RESOLVED


def test_booking_the_refill_resolves_it_within_one_sweep(filled_pump, clock, world):
    clock.move_to(NOT_BOOKED_FROM + timedelta(days=1))
    run_sweep()
    book(world, filled_pump, DUE_AT - timedelta(days=2))
    result = run_sweep()
    alert = Alert.objects.get(kind=AlertKind.REFILL_NOT_BOOKED)
    assert result.resolved == 1
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_at == NOT_BOOKED_FROM + timedelta(days=1)
    assert alert.resolved_by is None
    assert "booked" in alert.resolution
    # The email had not gone out yet: it is not sent about a condition that has cleared.
    assert Delivery.objects.get(alert=alert).status == DeliveryStatus.CANCELLED


def test_a_cancelled_booking_raises_the_alert_again(filled_pump, clock, world):
    clock.move_to(NOT_BOOKED_FROM + timedelta(days=1))
    run_sweep()
    visit = book(world, filled_pump, DUE_AT - timedelta(days=2))
    run_sweep()
    refill_cancel(actor=world.nurse, visit=visit, reason="Patient in hospital")
    result = run_sweep()
    assert result.raised == 1
    assert Alert.objects.filter(kind=AlertKind.REFILL_NOT_BOOKED).count() == 2
    assert open_kinds(filled_pump) == {AlertKind.REFILL_NOT_BOOKED}


def test_high_risk_patients_are_warned_earlier(world, implanted_pump, clock):
    Patient.objects.filter(pk=world.patient_a1.pk).update(history_of_withdrawal=True)
    pump = program_and_fill(
        world, implanted_pump, filled_at=FILLED_AT, program_from=FILLED_AT - timedelta(hours=1)
    )
    assert pump.patient.high_withdrawal_risk
    # The high-risk buffer (10 days) makes the refill due 3 days earlier than TC-01's.
    due = ALARM_AT - timedelta(days=10)
    assert pump.refill_due_at == due
    clock.move_to(due - timedelta(days=21, minutes=1))
    run_sweep()
    assert open_kinds(pump) == set()
    clock.move_to(due - timedelta(days=21))
    run_sweep()
    alert = Alert.objects.get(kind=AlertKind.REFILL_NOT_BOOKED)
    assert alert.high_risk


def test_each_clinic_uses_its_own_policy(filled_pump, clock, world):
    AlertPolicy.objects.create(
        clinic=world.clinic_a, not_booked_lead_days=3, high_risk_not_booked_lead_days=5
    )
    clock.move_to(DUE_AT - timedelta(days=4))
    run_sweep()
    assert open_kinds(filled_pump) == set()
    clock.move_to(DUE_AT - timedelta(days=3))
    run_sweep()
    assert open_kinds(filled_pump) == {AlertKind.REFILL_NOT_BOOKED}


# --- booked late ----------------------------------------------------------------------------


def test_a_visit_after_the_due_time_warns_the_nurses(filled_pump, clock, world):
    clock.move_to(NOT_BOOKED_FROM - timedelta(days=3))
    visit = book(world, filled_pump, DUE_AT + timedelta(days=2), reason="Only free day")
    run_sweep()
    assert open_kinds(filled_pump) == set()  # not yet inside the lead time
    clock.move_to(NOT_BOOKED_FROM)
    run_sweep()
    assert open_kinds(filled_pump) == {AlertKind.REFILL_BOOKED_LATE}
    assert Alert.objects.get().visit == visit
    assert recipients(AlertKind.REFILL_BOOKED_LATE) == {("nurse", Audience.STAFF)}

    refill_reschedule(
        actor=world.nurse,
        visit=visit,
        scheduled_at=DUE_AT - timedelta(days=1),
        reason="Earlier slot found",
    )
    run_sweep()
    assert open_kinds(filled_pump) == set()
    assert Alert.objects.get().status == AlertStatus.RESOLVED


def test_a_visit_after_the_alarm_is_high_and_goes_to_the_clinician_too(filled_pump, clock, world):
    clock.move_to(NOT_BOOKED_FROM)
    book(world, filled_pump, ALARM_AT + timedelta(hours=12), reason="Patient away")
    run_sweep()
    # One alert for the visit: the more serious kind, not both.
    assert open_kinds(filled_pump) == {AlertKind.REFILL_BOOKED_AFTER_ALARM}
    alert = Alert.objects.get()
    assert alert.severity == Severity.HIGH
    assert recipients(AlertKind.REFILL_BOOKED_AFTER_ALARM) == {
        ("nurse", Audience.STAFF),
        ("clinician", Audience.STAFF),
    }


def test_a_rescheduled_visit_is_a_new_cycle(filled_pump, clock, world):
    clock.move_to(NOT_BOOKED_FROM)
    visit = book(world, filled_pump, ALARM_AT + timedelta(hours=12), reason="Patient away")
    run_sweep()
    refill_reschedule(
        actor=world.nurse,
        visit=visit,
        scheduled_at=ALARM_AT + timedelta(hours=20),
        reason="Moved",
        late_reason="Patient away",
    )
    run_sweep()
    alerts = Alert.objects.filter(kind=AlertKind.REFILL_BOOKED_AFTER_ALARM).order_by("pk")
    assert [a.status for a in alerts] == [AlertStatus.RESOLVED, AlertStatus.OPEN]
    assert alerts[1].subject_at == ALARM_AT + timedelta(hours=20)


# --- reminder and missed refill ---------------------------------------------------------------


def test_caregivers_are_reminded_then_a_missed_visit_escalates(filled_pump, clock, world):
    visit_at = DUE_AT - timedelta(days=1)
    clock.move_to(NOT_BOOKED_FROM - timedelta(days=1))
    book(world, filled_pump, visit_at)
    clock.move_to(visit_at - timedelta(days=3, minutes=1))
    run_sweep()
    assert open_kinds(filled_pump) == set()

    clock.move_to(visit_at - timedelta(days=3))
    run_sweep()
    assert open_kinds(filled_pump) == {AlertKind.REFILL_REMINDER}
    reminder = Alert.objects.get()
    assert (reminder.severity, reminder.next_escalation_at) == (Severity.INFO, None)
    assert recipients(AlertKind.REFILL_REMINDER) == {("caregiver_a", Audience.CAREGIVER)}

    # The visit time passes: the reminder closes; the grace period (4 h) runs.
    clock.move_to(visit_at + timedelta(hours=3, minutes=59))
    run_sweep()
    assert open_kinds(filled_pump) == set()
    assert Alert.objects.get(pk=reminder.pk).status == AlertStatus.RESOLVED

    clock.move_to(visit_at + timedelta(hours=4))
    run_sweep()
    assert open_kinds(filled_pump) == {AlertKind.MISSED_REFILL}
    assert recipients(AlertKind.MISSED_REFILL) == {
        ("nurse", Audience.STAFF),
        ("caregiver_a", Audience.CAREGIVER),
    }
    missed = Alert.objects.get(kind=AlertKind.MISSED_REFILL)
    assert missed.severity == Severity.HIGH
    assert missed.next_escalation_at == visit_at + timedelta(hours=4, minutes=240)


def test_recording_the_refill_resolves_every_alert_it_answers(filled_pump, clock, world):
    visit_at = ALARM_AT - timedelta(days=1)
    clock.move_to(NOT_BOOKED_FROM)
    book(world, filled_pump, visit_at, reason="First free slot")
    clock.move_to(ALARM_AT + timedelta(hours=1))
    run_sweep()
    assert open_kinds(filled_pump) == {
        AlertKind.MISSED_REFILL,
        AlertKind.RESERVOIR_LOW,
        AlertKind.REFILL_BOOKED_LATE,
    }
    refill_record(
        actor=world.nurse,
        pump=filled_pump,
        refilled_at=ALARM_AT + timedelta(minutes=30),
        volume_removed_ml=Decimal("1.7"),
        volume_added_ml=Decimal("20"),
        product=pump_fill_product("500"),
        concentration_mcg_per_ml=Decimal("500"),
        lot_number="L1",
        expiry_date=date(2027, 6, 1),
        septum_confirmed=True,
    )
    run_sweep()
    assert open_kinds(filled_pump) == set()
    assert not Alert.objects.filter(status=AlertStatus.OPEN).exists()


# --- reservoir low, empty soon, escalation, critical repeats ----------------------------------


def test_reservoir_low_at_the_projected_alarm(filled_pump, clock, world):
    clock.move_to(ALARM_AT - timedelta(minutes=1))
    run_sweep()
    assert AlertKind.RESERVOIR_LOW not in open_kinds(filled_pump)
    clock.move_to(ALARM_AT)
    run_sweep()
    assert AlertKind.RESERVOIR_LOW in open_kinds(filled_pump)
    assert recipients(AlertKind.RESERVOIR_LOW) == {
        ("nurse", Audience.STAFF),
        ("caregiver_a", Audience.CAREGIVER),
    }


def test_empty_soon_is_critical_and_repeats_until_acknowledged(filled_pump, clock, world):
    from alerts.services import alert_acknowledge

    start = EMPTY_AT - timedelta(hours=72)
    clock.move_to(start - timedelta(minutes=1))
    run_sweep()
    assert AlertKind.RESERVOIR_EMPTY_SOON not in open_kinds(filled_pump)
    clock.move_to(start)
    run_sweep()
    alert = Alert.objects.get(kind=AlertKind.RESERVOIR_EMPTY_SOON)
    assert alert.severity == Severity.CRITICAL
    assert recipients(AlertKind.RESERVOIR_EMPTY_SOON) == {
        ("nurse", Audience.STAFF),
        ("clinician", Audience.STAFF),  # nobody is on call: every clinician is
        ("caregiver_a", Audience.CAREGIVER),
    }
    # Critical: escalates every repeat interval (60 min), not the normal 240.
    assert alert.next_escalation_at == start + timedelta(minutes=60)
    clock.move_to(start + timedelta(minutes=59))
    run_sweep()
    assert Alert.objects.get(pk=alert.pk).stage == 0
    for stage in (1, 2, 3, 4):
        clock.move_to(start + timedelta(minutes=60 * stage))
        run_sweep()
        assert Alert.objects.get(pk=alert.pk).stage == stage
        assert Delivery.objects.filter(alert=alert, stage=stage).exists()
    # Stage 3 and later: everyone again.
    assert recipients(AlertKind.RESERVOIR_EMPTY_SOON, 3) == {
        ("nurse", Audience.STAFF),
        ("clinician", Audience.STAFF),
        ("caregiver_a", Audience.CAREGIVER),
    }
    alert_acknowledge(actor=world.nurse, alert=Alert.objects.get(pk=alert.pk), note="Called")
    clock.move_to(start + timedelta(hours=10))
    run_sweep()
    alert.refresh_from_db()
    assert alert.stage == 4
    assert alert.acknowledged_by == world.nurse
    assert alert.status == AlertStatus.OPEN  # acknowledged, still true: it stays open


def test_escalation_goes_nurse_then_on_call_then_lead(filled_pump, clock, world, db):
    lead = UserFactory.create(username="lead")
    care_team_add(actor=world.admin, user=lead, role=CareRole.CLINICIAN, clinic=world.clinic_a)
    CareTeamMember.objects.filter(user=lead).update(is_clinic_lead=True)
    CareTeamMember.objects.filter(user=world.clinician).update(is_on_call=True)
    clock.move_to(NOT_BOOKED_FROM)
    run_sweep()
    alert = Alert.objects.get(kind=AlertKind.REFILL_NOT_BOOKED)
    assert recipients(alert.kind, 0) == {("nurse", Audience.STAFF)}
    clock.move_to(NOT_BOOKED_FROM + timedelta(minutes=239))
    run_sweep()
    assert Alert.objects.get(pk=alert.pk).stage == 0
    clock.move_to(NOT_BOOKED_FROM + timedelta(minutes=240))
    run_sweep()
    assert recipients(alert.kind, 1) == {("clinician", Audience.STAFF)}
    clock.move_to(NOT_BOOKED_FROM + timedelta(minutes=480))
    run_sweep()
    assert recipients(alert.kind, 2) == {("lead", Audience.STAFF)}
    alert.refresh_from_db()
    assert (alert.stage, alert.next_escalation_at) == (2, None)  # a warning does not repeat
    clock.move_to(NOT_BOOKED_FROM + timedelta(days=2))
    run_sweep()
    assert Alert.objects.get(pk=alert.pk).stage == 2


def test_high_risk_alerts_escalate_faster(world, implanted_pump, clock):
    Patient.objects.filter(pk=world.patient_a1.pk).update(communication_difficulty=True)
    pump = program_and_fill(
        world, implanted_pump, filled_at=FILLED_AT, program_from=FILLED_AT - timedelta(hours=1)
    )
    clock.move_to(pump.refill_due_at - timedelta(days=21))
    run_sweep()
    alert = Alert.objects.get(kind=AlertKind.REFILL_NOT_BOOKED)
    assert alert.next_escalation_at == alert.raised_at + timedelta(minutes=60)


# --- device, stability, discrepancy, projection ----------------------------------------------


def test_device_replacement_warns_ahead_of_the_shutdown(world, clock):
    # SynchroMed II: stops 90 days after its elective replacement indicator.
    eri = date(2027, 1, 1)
    pump = pump_implant(
        actor=world.clinician,
        patient=world.patient_a2,
        pump_model=pump_model("8637-20"),
        serial_number="ERI-1",
        implanted_on=date(2020, 2, 1),
        catheter_model=_catheter(),
        catheter_length_cm=Decimal("60"),
        catheter_volume_per_cm_ml=Decimal("0.0020"),
        elective_replacement_on=eri,
    )
    assert pump.replace_by_on == min(eri + timedelta(days=90), date(2027, 2, 1))
    clock.move_to(FILLED_AT)  # 1 Nov 2026: 92 days before 1 Feb 2027 (battery end)
    run_sweep()
    alert = Alert.objects.get(pump=pump)
    assert alert.kind == AlertKind.DEVICE_REPLACEMENT
    assert recipients(AlertKind.DEVICE_REPLACEMENT) == {("nurse", Audience.STAFF)}


def test_drug_stability_limit_approaching(world, implanted_pump, clock):
    # 40 mcg/day at 500 mcg/mL lasts 225 days to the alarm: the 180-day stability limit comes
    # first.
    pump = program_and_fill(
        world,
        implanted_pump,
        filled_at=FILLED_AT,
        program_from=FILLED_AT - timedelta(hours=1),
        daily_dose_mcg="40",
    )
    limit = FILLED_AT + timedelta(days=180)
    assert pump.stability_limit_at == limit
    clock.move_to(limit - timedelta(days=14, minutes=1))
    run_sweep()
    assert AlertKind.STABILITY_LIMIT not in open_kinds(pump)
    clock.move_to(limit - timedelta(days=14))
    run_sweep()
    assert AlertKind.STABILITY_LIMIT in open_kinds(pump)


def test_a_flagged_refill_alerts_the_clinician_and_stays_until_resolved(filled_pump, clock, world):
    from alerts.services import alert_resolve

    clock.move_to(FILLED_AT + timedelta(days=20))
    # 12 days of 0.6 mL/day should leave 8 mL; 2 mL removed is a large discrepancy.
    refill_record(
        actor=world.nurse,
        pump=filled_pump,
        refilled_at=FILLED_AT + timedelta(days=20),
        volume_removed_ml=Decimal("2"),
        volume_added_ml=Decimal("20"),
        product=pump_fill_product("500"),
        concentration_mcg_per_ml=Decimal("500"),
        lot_number="L2",
        expiry_date=date(2027, 6, 1),
        septum_confirmed=True,
    )
    run_sweep()
    alert = Alert.objects.get(kind=AlertKind.REFILL_DISCREPANCY)
    assert alert.fill_id == Pump.objects.get(pk=filled_pump.pk).projection_fill_id
    assert recipients(AlertKind.REFILL_DISCREPANCY) == {("clinician", Audience.STAFF)}
    clock.move_to(FILLED_AT + timedelta(days=21))
    run_sweep()
    assert Alert.objects.get(pk=alert.pk).status == AlertStatus.OPEN  # not self-clearing
    alert_resolve(actor=world.clinician, alert=alert, reason="Catheter checked, pump re-read")
    run_sweep()
    # Resolved by a person: the same fill does not raise it again.
    assert Alert.objects.filter(kind=AlertKind.REFILL_DISCREPANCY).count() == 1


def test_a_pump_that_cannot_be_projected_is_an_alert(filled_pump, clock, world):
    Pump.objects.filter(pk=filled_pump.pk).update(
        projection_error="Dosing rules are missing", refill_due_at=None
    )
    run_sweep()
    assert open_kinds(filled_pump) == {AlertKind.PROJECTION_FAILED}
    Pump.objects.filter(pk=filled_pump.pk).update(projection_error="")
    run_sweep()
    assert open_kinds(filled_pump) == set()


def test_an_explanted_pump_raises_nothing_and_its_alerts_close(filled_pump, clock, world):
    clock.move_to(ALARM_AT)
    run_sweep()
    assert open_kinds(filled_pump)
    Pump.objects.filter(pk=filled_pump.pk).update(
        status=PumpStatus.EXPLANTED, explanted_on=ALARM_AT.date()
    )
    run_sweep()
    assert open_kinds(filled_pump) == set()


# --- recipients ---------------------------------------------------------------------------


def test_only_this_patients_team_with_an_address_is_emailed(filled_pump, clock, world):
    no_email = UserFactory.create(username="nurse2", email="")
    gone = UserFactory.create(username="nurse3", is_active=False)
    for user in (no_email, gone):
        care_team_add(actor=world.admin, user=user, role=CareRole.NURSE, clinic=world.clinic_a)
    clock.move_to(ALARM_AT)
    run_sweep()
    people = set(Delivery.objects.values_list("user__username", flat=True))
    assert people == {"nurse", "caregiver_a", "clinician"}  # the clinician: refill overdue
    assert Delivery.objects.get(user=world.nurse, alert__kind=AlertKind.RESERVOIR_LOW).to_email


def test_on_call_clinician_only_when_someone_is_on_call(filled_pump, clock, world):
    other = UserFactory.create(username="clinician2")
    care_team_add(actor=world.admin, user=other, role=CareRole.CLINICIAN, clinic=world.clinic_a)
    CareTeamMember.objects.filter(user=other).update(is_on_call=True)
    clock.move_to(EMPTY_AT - timedelta(hours=1))
    run_sweep()
    staff = recipients(AlertKind.RESERVOIR_EMPTY_SOON)
    assert ("clinician2", Audience.STAFF) in staff
    assert ("clinician", Audience.STAFF) not in staff


# --- dedupe and cost --------------------------------------------------------------------------


def test_a_sweep_run_twice_raises_and_queues_nothing_new(filled_pump, clock, world):
    clock.move_to(EMPTY_AT - timedelta(hours=1))
    first = run_sweep()
    second = run_sweep()
    assert first.raised == 4  # not booked, overdue, reservoir low, empty soon
    assert (second.raised, second.deliveries_queued) == (0, 0)
    assert Delivery.objects.count() == first.deliveries_queued


def test_the_sweep_costs_the_same_queries_for_one_pump_or_many(world, clock):
    def fleet(n: int) -> None:
        for i in range(n):
            patient = PatientFactory.create(clinic=world.clinic_a)
            pump = pump_implant(
                actor=world.clinician,
                patient=patient,
                pump_model=pump_model("8637-20"),
                serial_number=f"Q{n}-{i}",
                implanted_on=date(2024, 1, 10),
                catheter_model=_catheter(),
                catheter_length_cm=Decimal("60"),
                catheter_volume_per_cm_ml=Decimal("0.0020"),
            )
            program_and_fill(
                world, pump, filled_at=FILLED_AT, program_from=FILLED_AT - timedelta(hours=1)
            )

    fleet(1)
    clock.move_to(ALARM_AT)
    with CaptureQueriesContext(connection) as one:
        small = run_sweep()
    fleet(12)
    clock.move_to(ALARM_AT + timedelta(days=30))
    with CaptureQueriesContext(connection) as many:
        large = run_sweep()
    assert large.raised > small.raised
    assert len(many.captured_queries) == len(one.captured_queries)


def _catheter():
    from pumps.models import CatheterModel

    return CatheterModel.objects.get(model_number="8709SC")


def test_visits_of_other_statuses_are_ignored(filled_pump, clock, world):
    clock.move_to(NOT_BOOKED_FROM)
    visit = book(world, filled_pump, DUE_AT - timedelta(days=1))
    refill_cancel(actor=world.nurse, visit=visit, reason="Patient asked")
    assert visit.__class__.objects.get(pk=visit.pk).status == VisitStatus.CANCELLED
    clock.move_to(DUE_AT + timedelta(days=1))
    run_sweep()
    assert AlertKind.MISSED_REFILL not in open_kinds(filled_pump)
    assert AlertKind.REFILL_NOT_BOOKED in open_kinds(filled_pump)


def test_a_clinic_without_nurses_sends_staff_alerts_to_its_clinicians(world, clock):
    patient = world.patient_b1
    pump = pump_implant(
        actor=world.clinician_b,
        patient=patient,
        pump_model=pump_model("8637-20"),
        serial_number="B-1",
        implanted_on=date(2024, 1, 10),
        catheter_model=_catheter(),
        catheter_length_cm=Decimal("60"),
        catheter_volume_per_cm_ml=Decimal("0.0020"),
    )
    program_and_fill(world, pump, filled_at=FILLED_AT, program_from=FILLED_AT - timedelta(hours=1))
    clock.move_to(NOT_BOOKED_FROM)
    run_sweep()
    assert recipients(AlertKind.REFILL_NOT_BOOKED) == {("clinician_b", Audience.STAFF)}


def test_every_kind_has_its_words():
    from alerts.sweep import RESOLUTIONS
    from alerts.views import SUBJECT_LABELS

    kinds = set(AlertKind.values)
    assert set(SUBJECT_LABELS) == kinds
    assert set(RESOLUTIONS) == kinds - {AlertKind.REFILL_DISCREPANCY}
