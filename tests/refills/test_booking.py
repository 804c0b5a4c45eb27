"""Booking, rescheduling and cancelling refill visits; the pump's stored projection and next
visit follow every change in the same transaction."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.core.exceptions import ValidationError

from audit.models import AuditAction, AuditEntry
from dosing.models import DrugProduct
from pumps.models import Pump
from pumps.services import pump_program_create, reservoir_fill_record
from refills.models import RefillVisit, VisitStatus
from refills.services import refill_cancel, refill_reschedule, refill_schedule

FILL = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)
# TC-01: alarm 2025-04-02 00:00, empty 2025-04-05 08:00, due 2025-03-26 00:00 (7-day buffer).
DUE = datetime(2025, 3, 26, tzinfo=UTC)
EMPTY = datetime(2025, 4, 5, 8, tzinfo=UTC)
NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def pump(world, implanted_pump) -> Pump:
    pump_program_create(
        actor=world.clinician,
        pump=implanted_pump,
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
        concentration_mcg_per_ml=D("500"),
        mode="simple",
        daily_dose_mcg=D("300"),
        reason="Maintenance",
    )
    with time_machine.travel(FILL + timedelta(hours=1), tick=False):
        reservoir_fill_record(
            actor=world.nurse,
            pump=implanted_pump,
            filled_at=FILL,
            volume_ml=D("20"),
            concentration_mcg_per_ml=D("500"),
            product=DrugProduct.objects.filter(
                concentration_mcg_per_ml=500, use="pump_fill"
            ).first(),
        )
    return Pump.objects.get(pk=implanted_pump.pk)


def test_fill_and_program_store_the_projection(pump):
    assert pump.projected_alarm_at == datetime(2025, 4, 2, tzinfo=UTC)
    assert pump.projected_empty_at == EMPTY
    assert pump.refill_due_at == DUE
    assert pump.refill_due_reason == "low_reservoir_alarm"
    assert pump.projection_error == ""
    assert pump.projection_updated_at is not None


def test_program_change_updates_the_stored_projection(world, pump):
    # 600 mcg/day from 2025-03-13: 6 mL used by then, 12 mL more to the alarm at 1.2 mL/day.
    pump_program_create(
        actor=world.clinician,
        pump=pump,
        effective_from=datetime(2025, 3, 13, tzinfo=UTC),
        concentration_mcg_per_ml=D("500"),
        mode="simple",
        daily_dose_mcg=D("600"),
        reason="Titration",
    )
    pump.refresh_from_db()
    assert pump.projected_alarm_at == datetime(2025, 3, 23, tzinfo=UTC)
    assert pump.refill_due_at == datetime(2025, 3, 16, tzinfo=UTC)


def test_booking_before_the_due_date(world, pump):
    at = datetime(2025, 3, 24, 14, tzinfo=UTC)
    visit = refill_schedule(actor=world.nurse, pump=pump, scheduled_at=at, now=NOW)
    assert visit.status == VisitStatus.BOOKED
    assert visit.late_reason == ""
    pump.refresh_from_db()
    assert pump.next_visit_at == at
    entry = AuditEntry.objects.get(record_type="refills.RefillVisit", record_id=str(visit.pk))
    assert entry.actor == world.nurse and entry.patient == world.patient_a1


def test_booking_after_the_due_date_needs_a_reason(world, pump):
    at = DUE + timedelta(days=2)
    with pytest.raises(ValidationError) as exc:
        refill_schedule(actor=world.nurse, pump=pump, scheduled_at=at, now=NOW)
    assert "say why" in " ".join(exc.value.message_dict["late_reason"])
    assert not RefillVisit.objects.exists()
    visit = refill_schedule(
        actor=world.nurse, pump=pump, scheduled_at=at, late_reason="Patient abroad", now=NOW
    )
    assert visit.late_reason == "Patient abroad"


def test_booking_at_or_after_the_projected_empty_time_is_refused(world, pump):
    for at in (EMPTY, EMPTY + timedelta(days=3)):
        with pytest.raises(ValidationError) as exc:
            refill_schedule(
                actor=world.nurse, pump=pump, scheduled_at=at, late_reason="any", now=NOW
            )
        assert "run empty" in " ".join(exc.value.message_dict["scheduled_at"])
    assert not RefillVisit.objects.exists()


def test_booking_in_the_past_is_refused(world, pump):
    with pytest.raises(ValidationError) as exc:
        refill_schedule(
            actor=world.nurse, pump=pump, scheduled_at=NOW - timedelta(hours=2), now=NOW
        )
    assert "past" in " ".join(exc.value.message_dict["scheduled_at"])


def test_a_pump_has_one_booked_visit(world, pump):
    refill_schedule(actor=world.nurse, pump=pump, scheduled_at=DUE - timedelta(days=3), now=NOW)
    with pytest.raises(ValidationError) as exc:
        refill_schedule(actor=world.nurse, pump=pump, scheduled_at=DUE - timedelta(days=2), now=NOW)
    assert "reschedule" in " ".join(exc.value.message_dict["pump"])
    assert RefillVisit.objects.count() == 1


def test_reschedule_keeps_the_old_time_in_the_audit_trail(world, pump):
    first = DUE - timedelta(days=3)
    visit = refill_schedule(actor=world.nurse, pump=pump, scheduled_at=first, now=NOW)
    later = DUE - timedelta(days=1)
    refill_reschedule(
        actor=world.clinician, visit=visit, scheduled_at=later, reason="Clinic closed", now=NOW
    )
    visit.refresh_from_db()
    pump.refresh_from_db()
    assert visit.scheduled_at == later
    assert pump.next_visit_at == later
    entry = AuditEntry.objects.get(record_type="refills.RefillVisit", action=AuditAction.UPDATE)
    assert entry.changes == {"scheduled_at": [first.isoformat(), later.isoformat()]}
    assert entry.reason == "Clinic closed"


def test_reschedule_needs_a_reason_and_respects_the_rules(world, pump):
    visit = refill_schedule(
        actor=world.nurse, pump=pump, scheduled_at=DUE - timedelta(days=3), now=NOW
    )
    with pytest.raises(ValidationError) as exc:
        refill_reschedule(actor=world.nurse, visit=visit, scheduled_at=EMPTY, reason="", now=NOW)
    assert set(exc.value.message_dict) == {"reason", "scheduled_at"}
    visit.refresh_from_db()
    assert visit.scheduled_at == DUE - timedelta(days=3)


def test_cancel_clears_the_next_visit_and_cannot_happen_twice(world, pump):
    visit = refill_schedule(
        actor=world.nurse, pump=pump, scheduled_at=DUE - timedelta(days=3), now=NOW
    )
    with pytest.raises(ValidationError):
        refill_cancel(actor=world.nurse, visit=visit, reason=" ", now=NOW)
    refill_cancel(actor=world.nurse, visit=visit, reason="Admitted to hospital", now=NOW)
    pump.refresh_from_db()
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CANCELLED and visit.cancelled_by == world.nurse
    assert pump.next_visit_at is None
    with pytest.raises(ValidationError, match="no longer booked"):
        refill_cancel(actor=world.nurse, visit=visit, reason="again", now=NOW)
    # A new visit can be booked after a cancellation.
    refill_schedule(actor=world.nurse, pump=pump, scheduled_at=DUE - timedelta(days=1), now=NOW)


def test_pump_without_a_fill_has_no_projection_but_can_be_booked(world, implanted_pump):
    at = datetime(2030, 1, 1, 10, tzinfo=UTC)
    visit = refill_schedule(actor=world.nurse, pump=implanted_pump, scheduled_at=at, now=NOW)
    assert visit.pk is not None
    implanted_pump.refresh_from_db()
    assert implanted_pump.refill_due_at is None and implanted_pump.next_visit_at == at
