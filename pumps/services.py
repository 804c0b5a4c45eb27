"""Writes to patients, care teams, pumps, programs and fills.

Every service validates completely before it writes, writes in one transaction together with its
audit entries, and raises ``ValidationError`` with messages keyed by field (naming the unit) so
forms and the API can show them next to the field. Nothing is half-saved.
"""

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_create, audit_record, diff, snapshot
from dosing.display import plain
from dosing.engine.programs import FlexProgram, ProgramError, SimpleProgram
from dosing.engine.programs import FlexStep as EngineStep
from dosing.models import Dilution, DrugProduct, ProductUse
from dosing.selectors import DosingRulesMissing, describe_concentrations, pump_fill_concentrations
from pumps.models import (
    CareTeamMember,
    Catheter,
    CatheterModel,
    Clinic,
    FlexStep,
    Patient,
    ProgramMode,
    Pump,
    PumpModel,
    PumpProgram,
    PumpStatus,
    ReservoirFill,
)


@dataclass(frozen=True, slots=True)
class StepInput:
    """One flex step as entered: wall-clock start and rate in mcg/h."""

    start_time: time
    rate_mcg_per_hour: Decimal


def _require_aware(value: datetime, field: str) -> None:
    if timezone.is_naive(value):
        raise ValidationError({field: "Give the time with its time zone."})


# --- Clinics, patients and care teams ------------------------------------------------------------


@transaction.atomic
def clinic_create(*, actor: Any, name: str, **fields: Any) -> Clinic:
    clinic = Clinic(name=name, **fields)
    clinic.full_clean()
    clinic.save()
    audit_create(actor=actor, instance=clinic)
    return clinic


@transaction.atomic
def patient_create(
    *,
    actor: Any,
    clinic: Clinic,
    mrn: str,
    given_name: str,
    family_name: str,
    date_of_birth: date,
    spasticity_origin: str,
    sci_level: str = "",
    communication_difficulty: bool = False,
    history_of_withdrawal: bool = False,
    time_zone: str = "",
    notes: str = "",
) -> Patient:
    patient = Patient(
        clinic=clinic,
        mrn=mrn.strip(),
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        date_of_birth=date_of_birth,
        spasticity_origin=spasticity_origin,
        sci_level=sci_level,
        communication_difficulty=communication_difficulty,
        history_of_withdrawal=history_of_withdrawal,
        time_zone=time_zone,
        notes=notes,
    )
    patient.full_clean()
    patient.save()
    audit_create(actor=actor, instance=patient, patient=patient)
    return patient


@transaction.atomic
def patient_update(*, actor: Any, patient: Patient, reason: str, **fields: Any) -> Patient:
    """Change a patient's details; the audit entry keeps the old and new values and the reason."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why the patient's record is changed."})
    locked = Patient.objects.select_for_update(no_key=True).get(pk=patient.pk)
    return _update_audited(actor=actor, locked=locked, fields=fields, reason=reason, patient=locked)


def _update_audited(
    *, actor: Any, locked: Any, fields: dict[str, Any], reason: str, patient: Patient
) -> Any:
    """Set ``fields`` on a row locked by the caller, validate it completely, save it, and audit
    the old and new values with the reason (nothing when nothing changed). The row is read back,
    so database-generated columns are current."""
    before = snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.full_clean()
    locked.save()
    locked.refresh_from_db()
    changes = diff(before, snapshot(locked))
    if changes:
        audit_record(
            actor=actor,
            instance=locked,
            action=AuditAction.UPDATE,
            changes=changes,
            reason=reason,
            patient=patient,
        )
    return locked


@transaction.atomic
def care_team_add(
    *,
    actor: Any,
    user: Any,
    role: str,
    clinic: Clinic | None = None,
    patient: Patient | None = None,
    is_clinic_lead: bool = False,
    is_on_call: bool = False,
    relationship: str = "",
) -> CareTeamMember:
    member = CareTeamMember(
        user=user,
        role=role,
        clinic=clinic,
        patient=patient,
        is_clinic_lead=is_clinic_lead,
        is_on_call=is_on_call,
        relationship=relationship,
    )
    member.full_clean()
    member.save()
    audit_create(actor=actor, instance=member, patient=patient)
    return member


# --- Pumps and catheters -------------------------------------------------------------------------


@transaction.atomic
def pump_implant(
    *,
    actor: Any,
    patient: Patient,
    pump_model: PumpModel,
    serial_number: str,
    implanted_on: date,
    catheter_model: CatheterModel,
    catheter_length_cm: Decimal,
    catheter_volume_per_cm_ml: Decimal | None = None,
    catheter_lot_number: str = "",
    low_reservoir_alarm_ml: Decimal | None = None,
    fixed_flow_rate_ml_per_day: Decimal | None = None,
    elective_replacement_on: date | None = None,
    notes: str = "",
) -> Pump:
    """Record an implanted pump with its catheter. The alarm volume defaults to the model's and
    the catheter's volume per cm to the catheter model's (when the catalog has one)."""
    if low_reservoir_alarm_ml is None:
        low_reservoir_alarm_ml = pump_model.default_low_reservoir_alarm_ml
    if catheter_volume_per_cm_ml is None:
        catheter_volume_per_cm_ml = catheter_model.volume_per_cm_ml
    pump = Pump(
        patient=patient,
        pump_model=pump_model,
        serial_number=serial_number.strip(),
        implanted_on=implanted_on,
        low_reservoir_alarm_ml=low_reservoir_alarm_ml,  # type: ignore[misc]  # None is refused below
        fixed_flow_rate_ml_per_day=fixed_flow_rate_ml_per_day,
        elective_replacement_on=elective_replacement_on,
        notes=notes,
        status=PumpStatus.ACTIVE,
    )
    errors: dict[str, list[str]] = {}
    try:
        pump.full_clean()
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if low_reservoir_alarm_ml is None:
        errors["low_reservoir_alarm_ml"] = [
            f"Enter the low-reservoir alarm volume in mL; the {pump_model.name} has no default "
            "(for a fixed-rate pump: the residual at which the refill is planned)."
        ]
    catheter = Catheter(
        pump=pump,
        catheter_model=catheter_model,
        lot_number=catheter_lot_number,
        implanted_on=implanted_on,
        implanted_length_cm=catheter_length_cm,
        volume_per_cm_ml=catheter_volume_per_cm_ml,  # type: ignore[misc]  # None fails full_clean
    )
    try:
        # The pump has no primary key yet; its own errors are reported above.
        catheter.full_clean(exclude=["pump"], validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(f"catheter_{field}", []).extend(messages)
    if errors:
        raise ValidationError(errors)
    pump.save()
    catheter.pump = pump
    catheter.save()
    audit_create(actor=actor, instance=pump, patient=patient)
    audit_create(actor=actor, instance=catheter, patient=patient)
    pump_projection_refresh(pump=pump)
    return pump


PUMP_EDITABLE_FIELDS = ("low_reservoir_alarm_ml", "elective_replacement_on", "notes")


@transaction.atomic
def pump_update(*, actor: Any, pump: Pump, reason: str, **fields: Any) -> Pump:
    """Change a pump's alarm volume, elective replacement date or notes. The audit entry keeps
    the old and new values and the reason; the stored projection follows in the same
    transaction (the alarm volume moves the alarm and refill-due times)."""
    unknown = sorted(set(fields) - set(PUMP_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: ["This field cannot be changed here."] for name in unknown})
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the pump's record is changed."]})
    locked = (
        Pump.objects.select_for_update(no_key=True, of=("self",))
        .select_related("pump_model")
        .get(pk=pump.pk)
    )
    _update_audited(
        actor=actor, locked=locked, fields=fields, reason=reason.strip(), patient=locked.patient
    )
    return pump_projection_refresh(pump=locked)


# --- Programs and fills --------------------------------------------------------------------------


def _check_concentration(
    concentration_mcg_per_ml: Decimal, dilution: Dilution | None, errors: dict[str, list[str]]
) -> None:
    """A pump may hold a stock pump-fill concentration, or a diluted one with its record
    (domain.md §1: the concentration is an enumerated field)."""
    if dilution is not None:
        if dilution.final_concentration_mcg_per_ml != concentration_mcg_per_ml:
            errors.setdefault("concentration_mcg_per_ml", []).append(
                f"The dilution record gives {plain(dilution.final_concentration_mcg_per_ml)}"
                f" mcg/mL, not {plain(concentration_mcg_per_ml)} mcg/mL."
            )
        return
    allowed = pump_fill_concentrations()
    if concentration_mcg_per_ml not in allowed:
        errors.setdefault("concentration_mcg_per_ml", []).append(
            f"{plain(concentration_mcg_per_ml)} mcg/mL is not a pump-fill concentration "
            f"({describe_concentrations(allowed)}); any other concentration needs a dilution "
            "record. The 50 mcg/mL product is for screening only."
        )


@transaction.atomic
def pump_program_create(
    *,
    actor: Any,
    pump: Pump,
    effective_from: datetime,
    concentration_mcg_per_ml: Decimal,
    mode: str,
    reason: str,
    daily_dose_mcg: Decimal | None = None,
    steps: Sequence[StepInput] = (),
    dilution: Dilution | None = None,
    verified_by: Any = None,
    dose_change_verdict: str = "",
    override_reason: str = "",
) -> PumpProgram:
    """Record a new program that supersedes the pump's current one from ``effective_from``.

    1. Lock the pump row so two programs for one pump are recorded one after the other.
    2. Validate everything (concentration against the drug library, mode against dose/steps,
       time order against the history) and collect every error before raising.
    3. Write program, steps and audit entry in this transaction.
    """
    _require_aware(effective_from, "effective_from")
    pump = Pump.objects.select_for_update(no_key=True).get(pk=pump.pk)
    errors: dict[str, list[str]] = {}
    if pump.status != PumpStatus.ACTIVE:
        errors.setdefault("pump", []).append("The pump has been explanted; it takes no program.")
    if pump.pump_model.is_fixed_rate:
        errors.setdefault("pump", []).append(
            "A fixed-rate pump cannot be programmed; change its dose by the concentration at "
            "refill."
        )
    _check_concentration(concentration_mcg_per_ml, dilution, errors)
    if not reason.strip():
        errors.setdefault("reason", []).append("Say why the program is set or changed.")
    if mode == ProgramMode.SIMPLE:
        if daily_dose_mcg is None or daily_dose_mcg <= 0:
            errors.setdefault("daily_dose_mcg", []).append(
                "Enter the daily dose in mcg/day (a positive number)."
            )
        if steps:
            errors.setdefault("steps", []).append("A simple continuous program has no steps.")
    elif mode == ProgramMode.FLEX:
        if daily_dose_mcg is not None:
            errors.setdefault("daily_dose_mcg", []).append(
                "A flex program's daily dose is the sum of its steps; leave it empty."
            )
        if not steps:
            errors.setdefault("steps", []).append("A flex program needs at least one step.")
        starts = [s.start_time for s in steps]
        if len(set(starts)) != len(starts):
            errors.setdefault("steps", []).append("Two steps cannot start at the same time.")
        if any(s.rate_mcg_per_hour <= 0 for s in steps):
            errors.setdefault("steps", []).append("Every step needs a positive rate in mcg/h.")
    else:
        errors.setdefault("mode", []).append("Choose simple continuous or flex.")
    if not errors.get("steps") and not errors.get("daily_dose_mcg"):
        # The engine has the last word on whether the pump can run this program.
        try:
            if mode == ProgramMode.FLEX:
                FlexProgram(
                    concentration_mcg_per_ml=float(concentration_mcg_per_ml),
                    steps=tuple(
                        EngineStep(start=s.start_time, rate_mcg_per_hour=float(s.rate_mcg_per_hour))
                        for s in steps
                    ),
                )
            elif mode == ProgramMode.SIMPLE and daily_dose_mcg is not None:
                SimpleProgram(
                    concentration_mcg_per_ml=float(concentration_mcg_per_ml),
                    daily_dose_mcg=float(daily_dose_mcg),
                )
        except ProgramError as exc:
            errors.setdefault("steps" if mode == ProgramMode.FLEX else "daily_dose_mcg", []).append(
                str(exc)
            )
    latest = pump.programs.order_by("-effective_from").first()
    if latest is not None and effective_from <= latest.effective_from:
        errors.setdefault("effective_from", []).append(
            "A program can only supersede the current one: it must start after "
            f"{timezone.localtime(latest.effective_from):%Y-%m-%d %H:%M}."
        )
    if effective_from.date() < pump.implanted_on:
        errors.setdefault("effective_from", []).append("The program cannot start before implant.")
    if verified_by is not None and getattr(verified_by, "pk", None) == getattr(actor, "pk", None):
        errors.setdefault("verified_by", []).append(
            "A second person must verify the program, not the one who entered it."
        )
    if errors:
        raise ValidationError(errors)

    now = timezone.now()
    program = PumpProgram(
        pump=pump,
        effective_from=effective_from,
        concentration_mcg_per_ml=concentration_mcg_per_ml,
        dilution=dilution,
        mode=mode,
        daily_dose_mcg=daily_dose_mcg if mode == ProgramMode.SIMPLE else None,
        reason=reason.strip(),
        dose_change_verdict=dose_change_verdict,
        override_reason=override_reason.strip(),
        entered_by=actor,
        entered_at=now,
        verified_by=verified_by,
        verified_at=now if verified_by is not None else None,
    )
    program.full_clean()
    program.save()
    for step in sorted(steps, key=lambda s: s.start_time):
        row = FlexStep(
            program=program, start_time=step.start_time, rate_mcg_per_hour=step.rate_mcg_per_hour
        )
        row.full_clean()
        row.save()
    entry_changes = diff({}, snapshot(program))
    if steps:
        entry_changes["steps"] = [
            None,
            [
                {
                    "start": s.start_time.strftime("%H:%M"),
                    "rate_mcg_per_hour": str(s.rate_mcg_per_hour),
                }
                for s in sorted(steps, key=lambda s: s.start_time)
            ],
        ]
    audit_record(
        actor=actor,
        instance=program,
        action=AuditAction.CREATE,
        changes=entry_changes,
        reason=program.reason,
        patient=pump.patient,
    )
    pump_projection_refresh(pump=pump)
    return program


@transaction.atomic
def reservoir_fill_record(
    *,
    actor: Any,
    pump: Pump,
    filled_at: datetime,
    volume_ml: Decimal,
    concentration_mcg_per_ml: Decimal,
    product: DrugProduct | None = None,
    dilution: Dilution | None = None,
    lot_number: str = "",
    expiry_date: date | None = None,
    volume_removed_ml: Decimal | None = None,
    notes: str = "",
    reconciliation: dict[str, Any] | None = None,
) -> ReservoirFill:
    """Record what is in the reservoir after a fill: the start of the next projection.
    ``reconciliation`` holds the engine's comparison with the previous fill, if any."""
    _require_aware(filled_at, "filled_at")
    pump = (
        Pump.objects.select_for_update(no_key=True, of=("self",))
        .select_related("pump_model")
        .get(pk=pump.pk)
    )
    errors: dict[str, list[str]] = {}
    if pump.status != PumpStatus.ACTIVE:
        errors.setdefault("pump", []).append("The pump has been explanted; it cannot be filled.")
    capacity = pump.pump_model.reservoir_capacity_ml
    if volume_ml is None or volume_ml <= 0:
        errors.setdefault("volume_ml", []).append("Enter the volume in the reservoir in mL.")
    elif volume_ml > capacity:
        errors.setdefault("volume_ml", []).append(
            f"{plain(volume_ml)} mL is more than the reservoir holds ({plain(capacity)} mL)."
        )
    if volume_removed_ml is not None and volume_removed_ml < 0:
        errors.setdefault("volume_removed_ml", []).append(
            "The volume removed (mL) cannot be negative."
        )
    if volume_removed_ml is not None and volume_removed_ml > capacity:
        errors.setdefault("volume_removed_ml", []).append(
            f"More was removed than the reservoir holds ({plain(capacity)} mL)."
        )
    if product is not None:
        if product.use != ProductUse.PUMP_FILL:
            errors.setdefault("product", []).append(
                "This product is for screening only and cannot be put in a pump."
            )
        if dilution is None and product.concentration_mcg_per_ml != concentration_mcg_per_ml:
            errors.setdefault("concentration_mcg_per_ml", []).append(
                f"The product is {plain(product.concentration_mcg_per_ml)} mcg/mL."
            )
    _check_concentration(concentration_mcg_per_ml, dilution, errors)
    if expiry_date is not None and expiry_date < timezone.localdate(filled_at):
        errors.setdefault("expiry_date", []).append("The drug had expired on the fill date.")
    latest = pump.fills.order_by("-filled_at").first()
    if latest is not None and filled_at <= latest.filled_at:
        errors.setdefault("filled_at", []).append(
            "A fill is recorded after the last one "
            f"({timezone.localtime(latest.filled_at):%Y-%m-%d %H:%M})."
        )
    if filled_at.date() < pump.implanted_on:
        errors.setdefault("filled_at", []).append("The fill cannot be before the implant.")
    if filled_at > timezone.now() + timedelta(minutes=5):
        errors.setdefault("filled_at", []).append("A fill cannot be recorded in the future.")
    if errors:
        raise ValidationError(errors)
    fill = ReservoirFill(
        pump=pump,
        filled_at=filled_at,
        volume_ml=volume_ml,
        concentration_mcg_per_ml=concentration_mcg_per_ml,
        product=product,
        dilution=dilution,
        lot_number=lot_number,
        expiry_date=expiry_date,
        volume_removed_ml=volume_removed_ml,
        recorded_by=actor,
        recorded_at=timezone.now(),
        notes=notes,
        **(reconciliation or {}),
    )
    fill.full_clean()
    fill.save()
    audit_create(actor=actor, instance=fill, patient=pump.patient)
    pump_projection_refresh(pump=pump)
    return fill


# --- Stored projection ---------------------------------------------------------------------------


def pump_replace_by(pump: Pump) -> date | None:
    """When the pump stops: its elective replacement date plus the model's ERI-to-shutdown days,
    or the end of its design battery life, whichever is sooner (domain.md §3.1); None when
    neither is known."""
    model = pump.pump_model
    candidates: list[date] = []
    if pump.elective_replacement_on is not None and model.eri_to_shutdown_days is not None:
        candidates.append(
            pump.elective_replacement_on + timedelta(days=int(model.eri_to_shutdown_days))
        )
    if model.battery_life_months is not None:
        months = pump.implanted_on.month - 1 + int(model.battery_life_months)
        year, month = pump.implanted_on.year + months // 12, months % 12 + 1
        day = min(pump.implanted_on.day, calendar.monthrange(year, month)[1])
        candidates.append(date(year, month, day))
    return min(candidates) if candidates else None


def pump_projection_refresh(*, pump: Pump) -> Pump:
    """Recompute and store the pump's projected alarm, empty, refill-due and stability-limit
    times, its current fill cycle and the date it must be replaced by.

    Call it inside the transaction of the write that changed them (a program, a fill, the
    alarm volume), so the stored times never disagree with the records. A pump whose
    projection fails keeps no times and records why, so it cannot silently drop out of the
    alert sweep (the sweep raises an alert for it).
    """
    from pumps.projection import project_pump, pump_state

    error = ""
    state = None
    try:
        state = pump_state(pump)
        projection = project_pump(pump, state=state) if state is not None else None
    except (ValueError, DosingRulesMissing) as exc:
        projection, error = None, str(exc) or type(exc).__name__
    values: dict[str, Any] = {
        "projected_alarm_at": projection.low_reservoir_alarm_at if projection else None,
        "projected_empty_at": projection.empty_at if projection else None,
        "refill_due_at": projection.refill_due_at if projection else None,
        "refill_due_reason": projection.refill_due_reason if projection else "",
        "stability_limit_at": projection.stability_limit_at if projection else None,
        "projection_fill": state.fill if state is not None else None,
        "replace_by_on": pump_replace_by(pump),
        "projection_updated_at": timezone.now(),
        "projection_error": error,
    }
    Pump.objects.filter(pk=pump.pk).update(**values)
    for name, value in values.items():
        setattr(pump, name, value)
    return pump
