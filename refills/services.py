"""Booking, rescheduling and cancelling refill visits.

Rules (domain.md §2.1, §2.6, §4): a visit after the projected empty time is refused (the pump
would run dry first); a visit after the refill-due time (alarm − buffer, or the drug stability
limit) needs a documented reason; a pump has one booked visit at a time. Every change is
audited and updates the pump's stored next visit in the same transaction.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_create, audit_record
from dosing.engine.reconciliation import Reconciliation, reconcile_refill
from dosing.models import DrugProduct
from dosing.selectors import engine_rules
from pumps.models import Pump, PumpStatus, ReservoirFill
from refills.models import RefillVisit, VisitStatus

# A booking may be entered a few minutes late (the visit is under way).
PAST_TOLERANCE = timedelta(minutes=5)


def _local(moment: datetime, pump: Pump) -> str:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(pump.patient.effective_time_zone)
    return f"{moment.astimezone(zone):%a %d %b %Y %H:%M %Z}"


def _check_time(
    *, pump: Pump, scheduled_at: datetime, late_reason: str, now: datetime
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if timezone.is_naive(scheduled_at):
        return {"scheduled_at": ["Give the visit time with its time zone."]}
    if pump.status != PumpStatus.ACTIVE:
        errors.setdefault("pump", []).append("The pump has been explanted.")
    if scheduled_at < now - PAST_TOLERANCE:
        errors.setdefault("scheduled_at", []).append("A refill cannot be booked in the past.")
    if pump.projected_empty_at is not None and scheduled_at >= pump.projected_empty_at:
        errors.setdefault("scheduled_at", []).append(
            f"The reservoir is projected to run empty at {_local(pump.projected_empty_at, pump)}; "
            "book the refill before then."
        )
    elif (
        pump.refill_due_at is not None
        and scheduled_at > pump.refill_due_at
        and not late_reason.strip()
    ):
        errors.setdefault("late_reason", []).append(
            f"The refill is due by {_local(pump.refill_due_at, pump)}; say why this visit is later."
        )
    return errors


def pump_next_visit_refresh(*, pump: Pump) -> None:
    """Store the earliest booked visit on the pump (for the board and the alert sweep)."""
    earliest = pump.refill_visits.filter(status=VisitStatus.BOOKED).aggregate(
        at=Min("scheduled_at")
    )["at"]
    Pump.objects.filter(pk=pump.pk).update(next_visit_at=earliest)
    pump.next_visit_at = earliest


@transaction.atomic
def refill_schedule(
    *,
    actor: Any,
    pump: Pump,
    scheduled_at: datetime,
    late_reason: str = "",
    duration_minutes: int = 30,
    now: datetime | None = None,
) -> RefillVisit:
    """Book a refill visit for ``pump``."""
    now = now or timezone.now()
    pump = (
        Pump.objects.select_for_update(no_key=True, of=("self",))
        .select_related("patient__clinic")
        .get(pk=pump.pk)
    )
    errors = _check_time(pump=pump, scheduled_at=scheduled_at, late_reason=late_reason, now=now)
    existing = pump.refill_visits.filter(status=VisitStatus.BOOKED).first()
    if existing is not None:
        errors.setdefault("pump", []).append(
            f"A refill is already booked for {_local(existing.scheduled_at, pump)}; "
            "reschedule that visit instead."
        )
    if errors:
        raise ValidationError(errors)
    visit = RefillVisit(
        pump=pump,
        scheduled_at=scheduled_at,
        duration_minutes=duration_minutes,
        booked_by=actor,
        booked_at=now,
        late_reason=late_reason.strip()
        if pump.refill_due_at and scheduled_at > pump.refill_due_at
        else "",
    )
    visit.full_clean()
    visit.save()
    audit_create(actor=actor, instance=visit, reason=visit.late_reason, patient=pump.patient)
    pump_next_visit_refresh(pump=pump)
    return visit


@transaction.atomic
def refill_reschedule(
    *,
    actor: Any,
    visit: RefillVisit,
    scheduled_at: datetime,
    reason: str,
    late_reason: str = "",
    now: datetime | None = None,
) -> RefillVisit:
    """Move a booked visit; the audit entry keeps the old time and the reason."""
    now = now or timezone.now()
    visit = RefillVisit.objects.select_for_update(no_key=True).get(pk=visit.pk)
    pump = (
        Pump.objects.select_for_update(no_key=True, of=("self",))
        .select_related("patient__clinic")
        .get(pk=visit.pump_id)
    )
    errors = _check_time(pump=pump, scheduled_at=scheduled_at, late_reason=late_reason, now=now)
    if visit.status != VisitStatus.BOOKED:
        errors.setdefault("visit", []).append(
            f"This visit is {visit.get_status_display().lower()}."
        )
    if not reason.strip():
        errors.setdefault("reason", []).append("Say why the visit is moved.")
    if errors:
        raise ValidationError(errors)
    old_at, old_late = visit.scheduled_at, visit.late_reason
    visit.scheduled_at = scheduled_at
    visit.late_reason = (
        late_reason.strip() if pump.refill_due_at and scheduled_at > pump.refill_due_at else ""
    )
    visit.save(update_fields=["scheduled_at", "late_reason"])
    audit_record(
        actor=actor,
        instance=visit,
        action=AuditAction.UPDATE,
        changes={
            "scheduled_at": [old_at.isoformat(), scheduled_at.isoformat()],
            **(
                {"late_reason": [old_late, visit.late_reason]}
                if old_late != visit.late_reason
                else {}
            ),
        },
        reason=reason.strip(),
        patient=pump.patient,
    )
    pump_next_visit_refresh(pump=pump)
    return visit


@transaction.atomic
def refill_cancel(
    *, actor: Any, visit: RefillVisit, reason: str, now: datetime | None = None
) -> RefillVisit:
    """Cancel a booked visit (compare-and-set on its status, so two cancels cannot both win)."""
    now = now or timezone.now()
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the visit is cancelled."]})
    changed = RefillVisit.objects.filter(pk=visit.pk, status=VisitStatus.BOOKED).update(
        status=VisitStatus.CANCELLED,
        cancelled_by=actor,
        cancelled_at=now,
        cancel_reason=reason.strip(),
    )
    if changed != 1:
        raise ValidationError({"visit": ["This visit is no longer booked."]})
    visit.refresh_from_db()
    pump = Pump.objects.select_related("patient").get(pk=visit.pump_id)
    audit_record(
        actor=actor,
        instance=visit,
        action=AuditAction.UPDATE,
        changes={"status": [VisitStatus.BOOKED, VisitStatus.CANCELLED]},
        reason=reason.strip(),
        patient=pump.patient,
    )
    pump_next_visit_refresh(pump=pump)
    return visit


# --- Recording a refill ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefillOutcome:
    fill: ReservoirFill
    visit: RefillVisit | None
    reconciliation: Reconciliation | None


QUANTUM = Decimal("0.0001")


def _dec(value: float, places: str = "0.0001") -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def _percent_or_none(value: float) -> Decimal | None:
    """The delivered-volume percentage to the stored field's places, or None beyond what the
    field holds: a refill minutes after the last fill expects almost nothing delivered, so any
    difference is millions of percent, no meaningful figure. The flags (over or under delivery,
    residual discrepancy in mL) still say what matters."""
    field = ReservoirFill._meta.get_field("delivered_discrepancy_percent")
    places = Decimal(1).scaleb(-field.decimal_places)
    limit = Decimal(1).scaleb(field.max_digits - field.decimal_places) - places
    percent = _dec(value, str(places))
    return percent if abs(percent) <= limit else None


@transaction.atomic
def refill_record(
    *,
    actor: Any,
    pump: Pump,
    refilled_at: datetime,
    volume_removed_ml: Decimal,
    volume_added_ml: Decimal,
    product: DrugProduct,
    concentration_mcg_per_ml: Decimal,
    lot_number: str,
    expiry_date: date | None,
    observation_note: str = "",
    septum_confirmed: bool = False,
) -> RefillOutcome:
    """Record a refill visit.

    1. Lock the pump. Refuse without the septum confirmation (a catheter-access-port injection
       can be fatal, domain.md §3.6) and when a programmable pump's program runs another
       concentration (change the program, with its bridge bolus, first).
    2. Reconcile the volume removed against the previous fill's projection (the engine).
    3. Record the new fill with the reconciliation; this refreshes the stored projection.
    4. Complete the pump's booked visit (compare-and-set) and refresh its next visit.
    """
    from pumps.projection import pump_state
    from pumps.services import reservoir_fill_record

    pump = (
        Pump.objects.select_for_update(no_key=True, of=("self",))
        .select_related("patient__clinic", "pump_model")
        .get(pk=pump.pk)
    )
    errors: dict[str, list[str]] = {}
    if not septum_confirmed:
        errors.setdefault("septum_confirmed", []).append(
            "Confirm the drug went through the reservoir fill septum, not the catheter access port."
        )
    if not pump.pump_model.is_fixed_rate:
        running = (
            pump.programs.filter(effective_from__lte=refilled_at)
            .order_by("-effective_from")
            .first()
        )
        if running is not None and running.concentration_mcg_per_ml != concentration_mcg_per_ml:
            errors.setdefault("concentration_mcg_per_ml", []).append(
                f"The pump is programmed for {running.concentration_mcg_per_ml.normalize():f} "
                "mcg/mL: change the program to the new concentration (with its bridge bolus) "
                "before recording this refill."
            )
    if errors:
        raise ValidationError(errors)
    reconciliation = None
    previous = pump_state(pump, at=refilled_at)
    if (
        previous is not None
        and volume_removed_ml is not None
        and refilled_at > previous.fill.filled_at
    ):
        try:
            reconciliation = reconcile_refill(
                fill=previous.engine_fill,
                refilled_at=refilled_at,
                volume_removed_ml=float(volume_removed_ml),
                reservoir_capacity_ml=float(pump.pump_model.reservoir_capacity_ml),
                tolerances=engine_rules().reconciliation,
            )
        except ValueError as exc:
            raise ValidationError({"volume_removed_ml": [str(exc)]}) from None
    fill = reservoir_fill_record(
        actor=actor,
        pump=pump,
        filled_at=refilled_at,
        volume_ml=volume_added_ml,
        concentration_mcg_per_ml=concentration_mcg_per_ml,
        product=product,
        lot_number=lot_number,
        expiry_date=expiry_date,
        volume_removed_ml=volume_removed_ml,
        notes=observation_note,
        reconciliation=(
            {
                "expected_residual_ml": _dec(reconciliation.expected_volume_ml),
                "residual_discrepancy_ml": _dec(reconciliation.discrepancy_ml),
                "delivered_discrepancy_percent": _percent_or_none(
                    reconciliation.delivered_discrepancy_percent
                ),
                "reconciliation_flags": ",".join(reconciliation.flags),
            }
            if reconciliation is not None
            else None
        ),
    )
    visit = pump.refill_visits.filter(status=VisitStatus.BOOKED).first()
    if visit is not None:
        changed = RefillVisit.objects.filter(pk=visit.pk, status=VisitStatus.BOOKED).update(
            status=VisitStatus.COMPLETED, completed_by=actor, completed_at=timezone.now(), fill=fill
        )
        if changed == 1:
            visit.refresh_from_db()
            audit_record(
                actor=actor,
                instance=visit,
                action=AuditAction.UPDATE,
                changes={"status": [VisitStatus.BOOKED, VisitStatus.COMPLETED]},
                reason="Refill recorded",
                patient=pump.patient,
            )
        else:
            visit = None
    pump_next_visit_refresh(pump=pump)
    pump.refresh_from_db()
    if fill.reconciliation_flags:
        # A refill discrepancy goes to the clinician at once, not at the next beat: sweep as
        # soon as this transaction has committed (nothing is sent if it rolls back).
        from alerts.tasks import request_sweep

        transaction.on_commit(request_sweep)
    return RefillOutcome(fill=fill, visit=visit, reconciliation=reconciliation)
