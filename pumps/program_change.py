"""Changing a pump's program: review with the dosing engine, then apply in one transaction.

The review shows the current and proposed programs side by side with their computed mcg/day,
mL/day, mcg/h and mL/h, the new alarm and refill-due times, the dose-change verdict (ok, soft
stop needing a documented override, hard stop never allowed), and for a concentration change the
washout without a bridge and the bridge bolus (domain.md §3.3, §6.7, TC-04). Applying repeats
every check, refuses a form made on a program that has since been superseded, records the
program, the bridge bolus and the audit entry, and refreshes the stored projection.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from dosing.engine.boluses import ConcentrationChange, concentration_change, dead_volume_ml
from dosing.engine.limits import DoseChangeAssessment, assess_dose_change
from dosing.engine.programs import (
    FlexProgram,
    FlexStep,
    FlexStepSummary,
    Program,
    ProgramError,
    ProgramRates,
    SimpleProgram,
    flex_step_summaries,
    program_rates,
)
from dosing.engine.projection import ProgramChange, RefillProjection, project_refill
from dosing.selectors import engine_rules
from pumps.models import (
    BolusKind,
    CareRole,
    CareTeamMember,
    ProgramMode,
    Pump,
    PumpBolus,
    PumpProgram,
)
from pumps.projection import engine_program, pump_state
from pumps.services import StepInput, pump_program_create, pump_projection_refresh

CONTEXTS = ("titration", "refill", "side_effect")


@dataclass(frozen=True, slots=True)
class ProposedProgram:
    concentration_mcg_per_ml: Decimal
    mode: str
    daily_dose_mcg: Decimal | None = None
    steps: tuple[StepInput, ...] = ()

    def engine(self) -> Program:
        if self.mode == ProgramMode.FLEX:
            return FlexProgram(
                concentration_mcg_per_ml=float(self.concentration_mcg_per_ml),
                steps=tuple(
                    FlexStep(start=s.start_time, rate_mcg_per_hour=float(s.rate_mcg_per_hour))
                    for s in self.steps
                ),
            )
        return SimpleProgram(
            concentration_mcg_per_ml=float(self.concentration_mcg_per_ml),
            daily_dose_mcg=float(self.daily_dose_mcg or 0),
        )


@dataclass(frozen=True, slots=True)
class ChangeReview:
    current: PumpProgram | None
    current_rates: ProgramRates | None
    current_steps: tuple[FlexStepSummary, ...]
    proposed_rates: ProgramRates
    proposed_steps: tuple[FlexStepSummary, ...]
    assessment: DoseChangeAssessment | None
    concentration_change: ConcentrationChange | None
    dead_volume_unknown: bool
    projection: RefillProjection | None
    needs_second_verification: bool

    @property
    def verdict(self) -> str:
        return self.assessment.verdict if self.assessment else "ok"

    @property
    def blocked(self) -> bool:
        return self.verdict == "hard_stop" or self.dead_volume_unknown

    @property
    def needs_override(self) -> bool:
        return self.verdict == "soft_stop"

    @property
    def needs_bridge(self) -> bool:
        return bool(self.concentration_change and self.concentration_change.bridge_required)


def current_program(pump: Pump, *, at: datetime) -> PumpProgram | None:
    return (
        pump.programs.filter(effective_from__lte=at)
        .prefetch_related("steps")
        .order_by("-effective_from")
        .first()
    ) or pump.programs.prefetch_related("steps").order_by("-effective_from").first()


def _steps(program: Program) -> tuple[FlexStepSummary, ...]:
    return flex_step_summaries(program=program) if isinstance(program, FlexProgram) else ()


def review_program_change(
    *, pump: Pump, proposed: ProposedProgram, context: str, effective_from: datetime
) -> ChangeReview:
    """Everything the clinician must see before the change is saved (raises ValidationError
    for a program the pump cannot run, or a start before the current program or the implant)."""
    try:
        new_program = proposed.engine()
    except ProgramError as exc:
        field = "steps" if proposed.mode == ProgramMode.FLEX else "daily_dose_mcg"
        raise ValidationError({field: [str(exc)]}) from None
    current = current_program(pump, at=effective_from)
    old_program = engine_program(current) if current is not None else None
    rules = engine_rules()
    patient = pump.patient
    assessment = None
    if old_program is not None:
        last_change = current.effective_from if current is not None else None
        implanted = datetime.combine(
            pump.implanted_on, datetime.min.time(), tzinfo=effective_from.tzinfo
        )
        try:
            assessment = assess_dose_change(
                current_daily_dose_mcg=program_rates(program=old_program).daily_dose_mcg,
                proposed_daily_dose_mcg=program_rates(program=new_program).daily_dose_mcg,
                origin=patient.spasticity_origin,  # type: ignore[arg-type]
                context=context,  # type: ignore[arg-type]
                limits=rules.dose_limits,
                age_years=float(patient.age_in_years(timezone.localdate(effective_from))),
                implanted_at=implanted,
                last_change_at=last_change,
                at=effective_from,
            )
        except ValueError:  # a start the engine cannot assess: input, not a crash
            latest = pump.programs.order_by("-effective_from").first()
            raise ValidationError(
                {
                    "effective_from": [
                        "A program can only supersede the current one and start after the "
                        "implant: it must start after "
                        f"{timezone.localtime(max(latest.effective_from if latest else implanted, implanted)):%Y-%m-%d %H:%M}."  # noqa: E501
                    ]
                }
            ) from None
    change = None
    dead_unknown = False
    if old_program is not None and old_program.concentration_mcg_per_ml != float(
        proposed.concentration_mcg_per_ml
    ):
        catheter = pump.catheters.filter(removed_on__isnull=True).first()
        tubing = pump.pump_model.pump_tubing_volume_ml
        if catheter is None or tubing is None:
            dead_unknown = True
        else:
            change = concentration_change(
                old_concentration_mcg_per_ml=old_program.concentration_mcg_per_ml,
                new_concentration_mcg_per_ml=float(proposed.concentration_mcg_per_ml),
                daily_dose_mcg=program_rates(program=new_program).daily_dose_mcg,
                dead_volume_ml=dead_volume_ml(
                    pump_tubing_volume_ml=float(tubing),
                    catheter_volume_ml=catheter.catheter_volume_ml,
                ),
            )
    projection = None
    state = pump_state(pump)
    if state is not None:
        fill = state.engine_fill
        changes: Sequence[ProgramChange] = fill.programs  # type: ignore[assignment]
        kept = [c for c in changes if c.effective_from < effective_from]
        boluses = list(fill.boluses)
        if change is not None and change.bridge_bolus is not None:
            boluses.append(change.bridge_bolus.as_bolus(start=effective_from))
        try:
            candidate = replace(
                fill,
                programs=(*kept, ProgramChange(max(effective_from, fill.filled_at), new_program)),
                boluses=tuple(boluses),
            )
            clinic = patient.clinic
            projection = project_refill(
                fill=candidate,
                low_reservoir_alarm_ml=float(pump.low_reservoir_alarm_ml),
                refill_buffer_days=float(
                    clinic.high_risk_refill_buffer_days
                    if patient.high_withdrawal_risk
                    else clinic.refill_buffer_days
                ),
                max_refill_interval_days=float(
                    state.fill.product.max_days_in_pump
                    if state.fill.product
                    else rules.default_max_refill_interval_days
                ),
            )
        except ValueError:
            projection = None
    high_risk_change = (assessment is not None and assessment.verdict == "soft_stop") or (
        change is not None and change.bridge_required
    )
    return ChangeReview(
        current=current,
        current_rates=program_rates(program=old_program) if old_program else None,
        current_steps=_steps(old_program) if old_program else (),
        proposed_rates=program_rates(program=new_program),
        proposed_steps=_steps(new_program),
        assessment=assessment,
        concentration_change=change,
        dead_volume_unknown=dead_unknown,
        projection=projection,
        needs_second_verification=high_risk_change and patient.clinic.require_second_verification,
    )


@transaction.atomic
def pump_program_change(
    *,
    actor: Any,
    pump: Pump,
    proposed: ProposedProgram,
    context: str,
    reason: str,
    effective_from: datetime,
    expected_current_program_id: int | None,
    override_reason: str = "",
    bridge_confirmed: bool = False,
    pump_running_confirmed: bool = False,
    verified_by: Any = None,
) -> PumpProgram:
    """Apply a reviewed program change.

    1. Lock the pump; refuse when the current program is not the one the form was made on.
    2. Review again with the engine and refuse: a hard stop; a soft stop without an override
       reason; a concentration change without a confirmed bridge bolus (or with an unknown
       dead volume); a missing "pump interrogated and running" confirmation; a missing or
       invalid second verifier when the clinic requires one.
    3. Record the program (with verdict and override), the bridge bolus, the audit entries and
       the new stored projection.
    """
    pump = (
        Pump.objects.select_for_update(no_key=True, of=("self",))
        .select_related("patient__clinic", "pump_model")
        .get(pk=pump.pk)
    )
    latest = pump.programs.order_by("-effective_from").first()
    if (latest.pk if latest else None) != expected_current_program_id:
        who = latest.entered_by if latest else None
        raise ValidationError(
            {
                "__all__": [
                    "The program changed while this form was open"
                    + (
                        f" ({who} at {timezone.localtime(latest.entered_at):%Y-%m-%d %H:%M})"
                        if latest
                        else ""
                    )
                    + ". Review the current program and start again."
                ]
            }
        )
    if context not in CONTEXTS:
        raise ValidationError({"context": ["Choose titration, refill or side effect."]})
    if effective_from > timezone.now() + timedelta(minutes=5):
        raise ValidationError(
            {
                "effective_from": [
                    "Record the change when the pump has been reprogrammed, not ahead."
                ]
            }
        )
    review = review_program_change(
        pump=pump, proposed=proposed, context=context, effective_from=effective_from
    )
    errors: dict[str, list[str]] = {}
    if review.verdict == "hard_stop":
        messages = [r.message for r in (review.assessment.reasons if review.assessment else ())]
        errors.setdefault("daily_dose_mcg", []).append(
            "This change is never allowed: " + "; ".join(messages)
        )
    if review.needs_override and not override_reason.strip():
        errors.setdefault("override_reason", []).append(
            "The change is outside the label limits: document why it is made."
        )
    if review.dead_volume_unknown:
        errors.setdefault("concentration_mcg_per_ml", []).append(
            "The bridge bolus cannot be worked out: the pump model's tubing volume or the "
            "catheter is not recorded."
        )
    if review.needs_bridge and not bridge_confirmed:
        errors.setdefault("bridge_confirmed", []).append(
            "Confirm that the bridge bolus is programmed: without it the patient gets "
            "the wrong dose while the old drug washes out."
        )
    if not pump_running_confirmed:
        errors.setdefault("pump_running_confirmed", []).append(
            "Confirm the pump was interrogated and is running the new program."
        )
    if review.needs_second_verification:
        if verified_by is None:
            errors.setdefault("verified_by", []).append(
                "This clinic requires a second clinician or nurse to verify this change."
            )
        elif getattr(verified_by, "pk", None) == getattr(actor, "pk", None):
            errors.setdefault("verified_by", []).append("The verifier must be someone else.")
        elif not CareTeamMember.objects.filter(
            user=verified_by,
            clinic=pump.patient.clinic,
            role__in=(CareRole.CLINICIAN, CareRole.NURSE),
        ).exists():
            errors.setdefault("verified_by", []).append(
                "The verifier must be a clinician or nurse of this clinic."
            )
    if errors:
        raise ValidationError(errors)
    program = pump_program_create(
        actor=actor,
        pump=pump,
        effective_from=effective_from,
        concentration_mcg_per_ml=proposed.concentration_mcg_per_ml,
        mode=proposed.mode,
        daily_dose_mcg=proposed.daily_dose_mcg if proposed.mode == ProgramMode.SIMPLE else None,
        steps=proposed.steps,
        reason=reason,
        verified_by=verified_by,
        dose_change_verdict=review.verdict if review.assessment else "",
        override_reason=override_reason if review.needs_override else "",
    )
    bridge = review.concentration_change.bridge_bolus if review.concentration_change else None
    if bridge is not None:
        bolus = PumpBolus(
            pump=pump,
            program=program,
            kind=BolusKind.BRIDGE,
            starts_at=effective_from,
            volume_ml=Decimal(repr(bridge.volume_ml)).quantize(Decimal("0.0001")),
            duration_hours=Decimal(repr(bridge.duration_hours)).quantize(Decimal("0.0001")),
            replaces_basal=True,
            recorded_by=actor,
        )
        bolus.full_clean()
        bolus.save()
        from audit.services import audit_create

        audit_create(actor=actor, instance=bolus, reason=reason, patient=pump.patient)
        pump_projection_refresh(pump=pump)
    return program
