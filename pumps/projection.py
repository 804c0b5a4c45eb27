"""The stored records of a pump, projected by the dosing engine: the bridge between the ORM
and ``dosing.engine`` (which never sees a model). Nothing here does dosing arithmetic."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from dosing.engine.boluses import Bolus
from dosing.engine.fixed_rate import fixed_rate_program
from dosing.engine.programs import FlexProgram, FlexStep, Program, SimpleProgram
from dosing.engine.projection import ProgramChange, RefillProjection, ReservoirFill, project_refill
from dosing.selectors import EngineRules, engine_rules
from pumps.models import ProgramMode, Pump, PumpProgram
from pumps.models import ReservoirFill as StoredFill

# A bolus that started before the fill may still be running at it (the engine counts the part
# after the fill); none lasts anywhere near this long.
MAX_BOLUS_SPAN = timedelta(days=2)


def engine_program(program: PumpProgram) -> Program:
    """A stored program as the engine's program (steps must be prefetched or are loaded)."""
    concentration = float(program.concentration_mcg_per_ml)
    if program.mode == ProgramMode.FLEX:
        steps = tuple(
            FlexStep(start=step.start_time, rate_mcg_per_hour=float(step.rate_mcg_per_hour))
            for step in program.steps.all()
        )
        return FlexProgram(concentration_mcg_per_ml=concentration, steps=steps)
    assert program.daily_dose_mcg is not None  # a database constraint for simple programs
    return SimpleProgram(
        concentration_mcg_per_ml=concentration, daily_dose_mcg=float(program.daily_dose_mcg)
    )


@dataclass(frozen=True, slots=True)
class PumpState:
    """What a projection of one pump starts from."""

    fill: StoredFill
    engine_fill: ReservoirFill


def pump_state(pump: Pump, *, at: datetime | None = None) -> PumpState | None:
    """The latest fill (at or before ``at``) and the programs running since, or None when the
    pump has no fill or no program to project from.

    1. Take the latest fill.
    2. Programmable pump: the program in force at the fill and every later one, in order.
       Fixed-rate pump: its label flow rate at the fill's concentration.
    """
    fills = pump.fills.order_by("-filled_at")
    if at is not None:
        fills = fills.filter(filled_at__lte=at)
    fill = fills.select_related("product").first()
    if fill is None:
        return None
    time_zone = pump.patient.effective_time_zone
    if pump.pump_model.is_fixed_rate:
        assert pump.fixed_flow_rate_ml_per_day is not None  # required for fixed-rate pumps
        program = fixed_rate_program(
            flow_rate_ml_per_day=float(pump.fixed_flow_rate_ml_per_day),
            concentration_mcg_per_ml=float(fill.concentration_mcg_per_ml),
        )
        changes: list[ProgramChange] = [ProgramChange(fill.filled_at, program)]
    else:
        history = pump.programs.prefetch_related("steps").order_by("effective_from")
        in_force = history.filter(effective_from__lte=fill.filled_at).last()
        later = history.filter(effective_from__gt=fill.filled_at)
        rows = ([in_force] if in_force is not None else []) + list(later)
        if not rows or rows[0].effective_from > fill.filled_at:
            return None  # nothing was running at the fill: no projection to make
        changes = [ProgramChange(row.effective_from, engine_program(row)) for row in rows]
    boluses = [
        Bolus(
            start=row.starts_at,
            volume_ml=float(row.volume_ml),
            duration_hours=float(row.duration_hours),
            replaces_basal=row.replaces_basal,
            kind=row.kind,
        )
        for row in pump.boluses.filter(starts_at__gte=fill.filled_at - MAX_BOLUS_SPAN)
    ]
    engine_fill = ReservoirFill(
        filled_at=fill.filled_at,
        reservoir_volume_ml=float(fill.volume_ml),
        programs=changes,
        timezone=time_zone,
        boluses=boluses,
    )
    return PumpState(fill=fill, engine_fill=engine_fill)


def project_pump(
    pump: Pump,
    *,
    rules: EngineRules | None = None,
    at: datetime | None = None,
    state: PumpState | None = None,
) -> RefillProjection | None:
    """The pump's alarm, empty and refill-due times from its latest fill.

    The refill buffer is the clinic's (the longer high-risk one for patients at high
    withdrawal risk, domain.md §8); the stability limit is the filled product's, or the dosing
    rules' default for a dilution. ``state`` saves loading the fill history again."""
    state = state or pump_state(pump, at=at)
    if state is None:
        return None
    rules = rules or engine_rules()
    clinic = pump.patient.clinic
    buffer_days = (
        clinic.high_risk_refill_buffer_days
        if pump.patient.high_withdrawal_risk
        else clinic.refill_buffer_days
    )
    product = state.fill.product
    max_days = (
        float(product.max_days_in_pump)
        if product is not None
        else rules.default_max_refill_interval_days
    )
    return project_refill(
        fill=state.engine_fill,
        low_reservoir_alarm_ml=float(pump.low_reservoir_alarm_ml),
        refill_buffer_days=float(buffer_days),
        max_refill_interval_days=max_days,
    )
