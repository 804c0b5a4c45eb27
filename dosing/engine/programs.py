"""Pump programs: simple continuous and flex (stepped) schedules, and their nominal rates.

Formulas (domain.md §6.1-6.2):
- simple continuous: r [mL/day] = D / C; mcg/h = D / 24; mL/h = r / 24.
- flex: D = Σ rate_i [mcg/h] × hours_i over a nominal 24 h day (Σ hours_i = 24); each
  step runs from its start until the next step's start, wrapping at midnight; daily
  volume = D / C.
The nominal figures here assume a 24 h day. What a flex schedule really delivers on a
23 h or 25 h DST day is computed by `delivery.py`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import time

from .common import require_positive

SECONDS_PER_DAY = 86400.0
SECONDS_PER_HOUR = 3600.0


class ProgramError(ValueError):
    """A program that the pump cannot run (no steps, duplicate starts, bad rates...)."""


@dataclass(frozen=True, slots=True)
class SimpleProgram:
    """Simple continuous delivery of `daily_dose_mcg` at `concentration_mcg_per_ml`."""

    concentration_mcg_per_ml: float
    daily_dose_mcg: float

    def __post_init__(self) -> None:
        try:
            concentration = require_positive(
                self.concentration_mcg_per_ml, name="concentration_mcg_per_ml"
            )
            dose = require_positive(self.daily_dose_mcg, name="daily_dose_mcg")
        except ValueError as error:
            raise ProgramError(str(error)) from None
        object.__setattr__(self, "concentration_mcg_per_ml", concentration)
        object.__setattr__(self, "daily_dose_mcg", dose)


@dataclass(frozen=True, slots=True)
class FlexStep:
    """A flex step: from wall-clock `start` (naive, in the patient's zone) at a mcg/h rate."""

    start: time
    rate_mcg_per_hour: float


@dataclass(frozen=True, slots=True)
class FlexProgram:
    """A flex (complex continuous) schedule; `steps` are stored sorted by start time.

    The daily profile used by the delivery model is precomputed in `__post_init__`:
    `profile_bounds_s` are the seconds after local midnight where the rate changes
    (starting with 0), `profile_cum_mcg[j]` the mcg delivered from midnight to
    `profile_bounds_s[j]`, `profile_rates_mcg_per_s[j]` the rate from there on.
    """

    concentration_mcg_per_ml: float
    steps: tuple[FlexStep, ...]
    profile_bounds_s: tuple[float, ...] = field(init=False, repr=False, compare=False)
    profile_cum_mcg: tuple[float, ...] = field(init=False, repr=False, compare=False)
    profile_rates_mcg_per_s: tuple[float, ...] = field(init=False, repr=False, compare=False)
    nominal_daily_dose_mcg: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate and precompute the daily profile.

        1. Check the concentration, that there is at least one step, that each start is a
           naive `datetime.time`, that starts are unique and that each rate is > 0.
        2. Sort the steps by start.
        3. Build the profile over [00:00, 24:00): before the first start the last step
           (wrapped from the previous evening) runs.
        """
        try:
            require_positive(self.concentration_mcg_per_ml, name="concentration_mcg_per_ml")
        except ValueError as error:
            raise ProgramError(str(error)) from None
        steps = tuple(self.steps)
        if not steps:
            raise ProgramError("a flex program needs at least one step")
        for step in steps:
            if not isinstance(step, FlexStep):
                raise ProgramError(f"steps must be FlexStep, got {type(step).__name__}")
            if not isinstance(step.start, time) or step.start.tzinfo is not None:
                raise ProgramError(f"step start must be a naive datetime.time, got {step.start!r}")
            try:
                require_positive(step.rate_mcg_per_hour, name="rate_mcg_per_hour")
            except ValueError as error:
                raise ProgramError(f"step at {step.start.isoformat()}: {error}") from None
        starts = [_seconds_of(step.start) for step in steps]
        if len(set(starts)) != len(starts):
            duplicates = sorted(
                {s.start.isoformat() for s in steps if starts.count(_seconds_of(s.start)) > 1}
            )
            raise ProgramError(
                f"flex step starts must be unique; duplicated: {', '.join(duplicates)}"
            )
        ordered = tuple(sorted(steps, key=lambda s: _seconds_of(s.start)))
        bounds: list[float] = []
        rates: list[float] = []
        if _seconds_of(ordered[0].start) > 0:
            bounds.append(0.0)
            rates.append(ordered[-1].rate_mcg_per_hour / SECONDS_PER_HOUR)
        for step in ordered:
            bounds.append(_seconds_of(step.start))
            rates.append(step.rate_mcg_per_hour / SECONDS_PER_HOUR)
        cumulative = [0.0]
        for index in range(1, len(bounds)):
            cumulative.append(
                cumulative[-1] + rates[index - 1] * (bounds[index] - bounds[index - 1])
            )
        daily = cumulative[-1] + rates[-1] * (SECONDS_PER_DAY - bounds[-1])
        object.__setattr__(self, "steps", ordered)
        object.__setattr__(self, "profile_bounds_s", tuple(bounds))
        object.__setattr__(self, "profile_cum_mcg", tuple(cumulative))
        object.__setattr__(self, "profile_rates_mcg_per_s", tuple(rates))
        object.__setattr__(self, "nominal_daily_dose_mcg", daily)

    def cumulative_mcg(self, local_s: float) -> float:
        """G(L): mcg delivered on the naive local axis from local day 0 00:00 to `local_s`."""
        days, second = divmod(local_s, SECONDS_PER_DAY)
        j = bisect_right(self.profile_bounds_s, second) - 1
        return (
            days * self.nominal_daily_dose_mcg
            + self.profile_cum_mcg[j]
            + self.profile_rates_mcg_per_s[j] * (second - self.profile_bounds_s[j])
        )

    def local_s_of_cumulative(self, amount_mcg: float) -> float:
        """G⁻¹(Y): the first local second at which `cumulative_mcg` reaches `amount_mcg`."""
        days, rest = divmod(amount_mcg, self.nominal_daily_dose_mcg)
        j = bisect_right(self.profile_cum_mcg, rest) - 1
        second = (
            self.profile_bounds_s[j]
            + (rest - self.profile_cum_mcg[j]) / (self.profile_rates_mcg_per_s[j])
        )
        return days * SECONDS_PER_DAY + second

    def rate_before_mcg_per_s(self, local_s: float) -> float:
        """Rate in force just before local second `local_s` (left limit, wraps at midnight)."""
        second = local_s % SECONDS_PER_DAY
        return self.profile_rates_mcg_per_s[bisect_left(self.profile_bounds_s, second) - 1]


Program = SimpleProgram | FlexProgram


def _seconds_of(clock: time) -> float:
    return clock.hour * 3600 + clock.minute * 60 + clock.second + clock.microsecond / 1e6


@dataclass(frozen=True, slots=True)
class ProgramRates:
    """Nominal 24 h averages of a program (docs/dosing-api.md projection outputs)."""

    daily_dose_mcg: float
    daily_volume_ml: float
    rate_mcg_per_hour: float
    rate_ml_per_hour: float
    rate_ml_per_day: float


def daily_dose_mcg(program: Program) -> float:
    """D: the prescribed mcg over a nominal 24 h day (§6.1; flex: Σ rate_i × hours_i, §6.2)."""
    if isinstance(program, SimpleProgram):
        return program.daily_dose_mcg
    return program.nominal_daily_dose_mcg


def program_rates(*, program: Program) -> ProgramRates:
    """Daily dose and volume, mcg/h and mL/h averaged over a nominal 24 h day.

    1. D = daily dose (flex: Σ rate_i × hours_i).
    2. r = D / C mL/day (§6.1); mcg/h = D / 24; mL/h = r / 24.
    """
    dose = daily_dose_mcg(program)
    volume = dose / program.concentration_mcg_per_ml
    return ProgramRates(
        daily_dose_mcg=dose,
        daily_volume_ml=volume,
        rate_mcg_per_hour=dose / 24.0,
        rate_ml_per_hour=volume / 24.0,
        rate_ml_per_day=volume,
    )


@dataclass(frozen=True, slots=True)
class FlexStepSummary:
    """One step over a nominal 24 h day: when it runs, and how much it delivers."""

    start: time
    end: time
    hours: float
    rate_mcg_per_hour: float
    dose_mcg: float
    volume_ml: float


def flex_step_summaries(*, program: FlexProgram) -> tuple[FlexStepSummary, ...]:
    """Per step: start, end (next step's start, wrapping), hours, mcg and mL per nominal day.

    A single step runs all day (24 h, start = end).
    """
    steps = program.steps
    summaries = []
    for index, step in enumerate(steps):
        following = steps[(index + 1) % len(steps)]
        hours = (_seconds_of(following.start) - _seconds_of(step.start)) / SECONDS_PER_HOUR
        if hours <= 0:
            hours += 24.0
        dose = step.rate_mcg_per_hour * hours
        summaries.append(
            FlexStepSummary(
                start=step.start,
                end=following.start,
                hours=hours,
                rate_mcg_per_hour=step.rate_mcg_per_hour,
                dose_mcg=dose,
                volume_ml=dose / program.concentration_mcg_per_ml,
            )
        )
    return tuple(summaries)
