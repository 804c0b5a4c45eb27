"""Reservoir projection: volume over time, low-reservoir alarm, empty time, refill due date.

Formulas (domain.md §6.3-6.5): V(t) = V_fill − delivered(t) − Σ boluses;
t_LRA when V reaches V_LRA; t_empty when V reaches 0;
refill_due = min(LRA − buffer_days, filled_at + max_refill_interval_days) (§2.6 app rule).
Flex programs follow the real stepped schedule in the patient's zone (delivery.py),
not the daily average.

Every program has a positive rate (validated), so the alarm and empty times are always
reached: they are never None. An instant beyond datetime's range (year 9999) is refused
with ValueError, since it can only come from an absurd rate.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .boluses import Bolus
from .common import require_aware, require_positive
from .delivery import FlexDelivery
from .programs import SECONDS_PER_DAY, FlexProgram, Program, SimpleProgram, daily_dose_mcg

_INF = float("inf")

RefillDueReason = Literal["low_reservoir_alarm", "drug_stability"]


@dataclass(frozen=True, slots=True)
class ProgramChange:
    """`program` runs from `effective_from` until the next change (a later one supersedes)."""

    effective_from: datetime
    program: Program


@dataclass(frozen=True, slots=True)
class ReservoirFill:
    """A fill and what the pump does afterwards.

    `reservoir_volume_ml` is in the reservoir at `filled_at`. `programs` is the program
    history; the last change at or before `filled_at` applies from the fill, later ones
    from their `effective_from`. A bare program means "this program from the fill".
    `timezone` (IANA) is required when any program is flex. Boluses before the fill are
    ignored; a timed bolus running at the fill counts from the fill.
    """

    filled_at: datetime
    reservoir_volume_ml: float
    programs: Sequence[ProgramChange] | Program
    timezone: str | None = None
    boluses: Sequence[Bolus] = ()

    def __post_init__(self) -> None:
        filled_at = require_aware(self.filled_at, name="filled_at")
        require_positive(self.reservoir_volume_ml, name="reservoir_volume_ml")
        programs = self.programs
        if isinstance(programs, SimpleProgram | FlexProgram):
            changes: tuple[ProgramChange, ...] = (ProgramChange(filled_at, programs),)
        else:
            changes = tuple(programs)
        if not changes:
            raise ValueError("programs must hold at least one ProgramChange")
        for change in changes:
            require_aware(change.effective_from, name="effective_from")
            if not isinstance(change.program, SimpleProgram | FlexProgram):
                raise ValueError(f"not a program: {change.program!r}")
            if isinstance(change.program, FlexProgram) and self.timezone is None:
                raise ValueError("a flex program needs the patient's IANA timezone")
        object.__setattr__(self, "filled_at", filled_at)
        object.__setattr__(self, "programs", changes)
        object.__setattr__(self, "boluses", tuple(self.boluses))


class _Constant:
    __slots__ = ("rate_ml_per_s",)

    def __init__(self, rate_ml_per_s: float) -> None:
        self.rate_ml_per_s = rate_ml_per_s

    def delivered_ml(self, u_a: float, u_b: float) -> float:
        return self.rate_ml_per_s * (u_b - u_a)

    def time_of_ml(self, u_a: float, amount_ml: float, extra_ml_per_s: float) -> float:
        return u_a + amount_ml / (self.rate_ml_per_s + extra_ml_per_s)


class _Flex:
    __slots__ = ("delivery", "concentration")

    def __init__(self, delivery: FlexDelivery, concentration: float) -> None:
        self.delivery = delivery
        self.concentration = concentration

    def delivered_ml(self, u_a: float, u_b: float) -> float:
        return self.delivery.delivered_mcg(u_a, u_b) / self.concentration

    def time_of_ml(self, u_a: float, amount_ml: float, extra_ml_per_s: float) -> float:
        assert extra_ml_per_s == 0  # flex + timed bolus is solved by bisection
        return self.delivery.time_of_mcg(u_a, amount_ml * self.concentration)


_Basal = _Constant | _Flex


def _basal_for(program: Program, fill: ReservoirFill) -> _Basal:
    if isinstance(program, SimpleProgram):
        return _Constant(
            program.daily_dose_mcg / program.concentration_mcg_per_ml / SECONDS_PER_DAY
        )
    assert fill.timezone is not None
    delivery = FlexDelivery(program=program, timezone=fill.timezone, origin=fill.filled_at)
    return _Flex(delivery, program.concentration_mcg_per_ml)


class ReservoirTimeline:
    """Delivered volume as a function of time since the fill, and its inverse.

    Time is split at program changes and bolus starts/ends into segments; in each segment
    the basal is one program (or suspended by a bridge bolus) plus a constant timed-bolus
    rate. Cumulative deliveries at segment starts are precomputed, so a query costs one
    bisection plus one segment evaluation.
    """

    __slots__ = ("filled_at", "reservoir_volume_ml", "_starts", "_basal", "_extra", "_jump", "_cum")
    _starts: list[float]
    _basal: list[_Basal | None]
    _extra: list[float]
    _jump: list[float]
    _cum: list[float]

    def __init__(self, fill: ReservoirFill) -> None:
        """Build the segments.

        1. Order program changes; the last at/before the fill runs from the fill.
        2. Express boluses in seconds after the fill, clipping those that started before.
        3. Cut the timeline at every change and bolus start/end; per segment store the basal,
           the timed-bolus rate and the instantaneous boluses at its start.
        4. Accumulate the delivered volume at each segment start.
        """
        self.filled_at: datetime = fill.filled_at
        self.reservoir_volume_ml: float = fill.reservoir_volume_ml
        filled_at = fill.filled_at
        programs: Sequence[ProgramChange] = fill.programs  # type: ignore[assignment]  # normalised
        changes = sorted(programs, key=lambda c: c.effective_from)
        times = [c.effective_from for c in changes]
        if len(set(times)) != len(times):
            raise ValueError("two program changes have the same effective_from")
        first = bisect_right(times, filled_at) - 1
        if first < 0:
            raise ValueError("no program is in effect at filled_at")
        periods: list[tuple[float, Program]] = [(0.0, changes[first].program)]
        periods += [
            ((c.effective_from - filled_at).total_seconds(), c.program)
            for c in changes[first + 1 :]
        ]
        if not fill.boluses:  # common case: segments are the program periods
            count = len(periods)
            self._starts = [p[0] for p in periods]
            self._basal = [_basal_for(p[1], fill) for p in periods]
            self._extra = [0.0] * count
            self._jump = [0.0] * count
            self._accumulate()
            return
        timed: list[tuple[float, float, float, bool]] = []  # start, end, ml/s, replaces basal
        instant: list[tuple[float, float]] = []
        for bolus in fill.boluses:  # type: ignore[union-attr]
            start = (bolus.start - filled_at).total_seconds()
            if bolus.duration_hours == 0:
                if start >= 0:
                    instant.append((start, bolus.volume_ml))
                continue
            end = start + bolus.duration_hours * 3600.0
            if end > 0:
                timed.append(
                    (max(start, 0.0), end, bolus.volume_ml / (end - start), bolus.replaces_basal)
                )
        replacing = sorted((s, e) for s, e, _, r in timed if r)
        for (_, end_a), (start_b, _) in zip(replacing, replacing[1:], strict=False):
            if start_b < end_a:
                raise ValueError("two boluses that replace the basal program overlap")
        cuts = sorted(
            {
                0.0,
                *(p[0] for p in periods),
                *(t[0] for t in timed),
                *(t[1] for t in timed),
                *(i[0] for i in instant),
            }
        )
        basal_of = {id(program): _basal_for(program, fill) for _, program in periods}
        period_starts = [p[0] for p in periods]
        self._starts = cuts
        self._basal = []
        self._extra = []
        self._jump = []
        for cut in cuts:
            program = periods[bisect_right(period_starts, cut) - 1][1]
            suspended = any(s <= cut < e for s, e, _, r in timed if r)
            self._basal.append(None if suspended else basal_of[id(program)])
            self._extra.append(sum(rate for s, e, rate, _ in timed if s <= cut < e))
            self._jump.append(sum(volume for at, volume in instant if at == cut))
        self._accumulate()

    def _accumulate(self) -> None:
        """_cum[k]: mL delivered just before segment k starts (its own jump excluded)."""
        starts = self._starts
        self._cum = [0.0]
        for k in range(len(starts) - 1):
            after_jump = self._cum[k] + self._jump[k]
            self._cum.append(after_jump + self._segment_ml(k, starts[k], starts[k + 1]))

    def _segment_ml(self, k: int, u_a: float, u_b: float) -> float:
        basal = self._basal[k]
        amount = self._extra[k] * (u_b - u_a)
        return amount if basal is None else amount + basal.delivered_ml(u_a, u_b)

    def delivered_ml(self, u: float) -> float:
        """mL delivered from the fill to `u` seconds after it (boluses at `u` included)."""
        if u < 0:
            return 0.0
        k = bisect_right(self._starts, u) - 1
        return self._cum[k] + self._jump[k] + self._segment_ml(k, self._starts[k], u)

    def seconds_until_delivered(self, amount_ml: float) -> float:
        """First time (s after the fill) at which `amount_ml` has been delivered.

        1. Find the segment whose delivered range contains the amount (an instantaneous
           bolus at a segment start can cross it: then the answer is that start).
        2. Solve inside the segment: closed form for a constant or flex basal; bisection to
           1 µs when a timed bolus overlaps a flex program (piecewise linear, rare).
        """
        if amount_ml <= 0:
            return 0.0
        starts, cum, jump = self._starts, self._cum, self._jump
        last = len(starts) - 1
        k = max(bisect_right(cum, amount_ml) - 1, 0)
        while True:
            after_jump = cum[k] + jump[k]
            if after_jump >= amount_ml:
                return starts[k]
            if k == last or cum[k + 1] >= amount_ml:
                break
            k += 1
        rest = amount_ml - after_jump
        basal, extra, u_a = self._basal[k], self._extra[k], starts[k]
        if basal is None:
            return u_a + rest / extra
        if extra == 0 or isinstance(basal, _Constant):
            return basal.time_of_ml(u_a, rest, extra)
        low, high = u_a, starts[k + 1]
        while high - low > 1e-6:
            middle = (low + high) / 2
            if self._segment_ml(k, u_a, middle) >= rest:
                high = middle
            else:
                low = middle
        return high

    def volume_at(self, at: datetime) -> float:
        """Reservoir volume (mL) at `at`, never below 0 (an empty pump holds nothing)."""
        u = (require_aware(at, name="at") - self.filled_at).total_seconds()
        return max(self.reservoir_volume_ml - self.delivered_ml(u), 0.0)

    def time_at_volume(self, volume_ml: float) -> datetime:
        """When the reservoir reaches `volume_ml` (the fill time if it starts at or below it)."""
        seconds = self.seconds_until_delivered(self.reservoir_volume_ml - volume_ml)
        try:
            return self.filled_at + timedelta(seconds=seconds)
        except OverflowError:
            raise ValueError(
                f"the reservoir would reach {volume_ml} mL after year 9999; check the rates"
            ) from None


def reservoir_volume_at(*, fill: ReservoirFill, at: datetime) -> float:
    """Expected reservoir volume (mL) at `at` (§6.4), clamped at 0."""
    return ReservoirTimeline(fill).volume_at(at)


@dataclass(frozen=True, slots=True)
class RefillProjection:
    """Outputs of docs/dosing-api.md `projection` (datetimes in UTC, numbers unrounded).

    The rates are the nominal 24 h averages of the latest program in the history.
    """

    filled_at: datetime
    daily_dose_mcg: float
    daily_volume_ml: float
    rate_mcg_per_hour: float
    rate_ml_per_hour: float
    days_to_low_reservoir_alarm: float
    low_reservoir_alarm_at: datetime
    days_to_empty: float
    empty_at: datetime
    stability_limit_at: datetime
    refill_due_at: datetime
    refill_due_reason: RefillDueReason


def project_refill(
    *,
    fill: ReservoirFill,
    low_reservoir_alarm_ml: float,
    refill_buffer_days: float,
    max_refill_interval_days: float,
) -> RefillProjection:
    """Project alarm, empty and refill-due times for a fill.

    1. Build the timeline (program history, boluses, real flex schedule).
    2. low_reservoir_alarm_at: first time V(t) <= V_LRA; empty_at: first time V(t) <= 0.
    3. stability_limit_at = filled_at + max_refill_interval_days (§2.6, 180 d app default).
    4. refill_due_at = min(alarm − buffer, stability limit); ties give the alarm reason.
       The due date may fall before filled_at when a fill is very small: refill at once.
    """
    alarm_ml, buffer_days, max_days = (
        low_reservoir_alarm_ml,
        refill_buffer_days,
        max_refill_interval_days,
    )
    if not _settings_ok(alarm_ml, buffer_days, max_days):
        # Slow path only to build a precise message.
        require_positive(alarm_ml, name="low_reservoir_alarm_ml", allow_zero=True)
        require_positive(buffer_days, name="refill_buffer_days", allow_zero=True)
        require_positive(max_days, name="max_refill_interval_days")
    filled_at: datetime = fill.filled_at
    volume = fill.reservoir_volume_ml
    changes: tuple[ProgramChange, ...] = fill.programs  # type: ignore[assignment]
    only = changes[0].program if len(changes) == 1 else None
    if isinstance(only, SimpleProgram) and not fill.boluses:
        # Fast path, one constant rate (§6.3): t_LRA = (V_fill − V_LRA) / r, t_empty = V / r.
        if changes[0].effective_from > filled_at:
            raise ValueError("no program is in effect at filled_at")
        dose = only.daily_dose_mcg
        rate_ml_per_day = dose / only.concentration_mcg_per_ml
        alarm_days = max(volume - alarm_ml, 0.0) / rate_ml_per_day
        empty_days = volume / rate_ml_per_day
    else:
        timeline = ReservoirTimeline(fill)
        alarm_days = timeline.seconds_until_delivered(volume - alarm_ml) / SECONDS_PER_DAY
        empty_days = timeline.seconds_until_delivered(volume) / SECONDS_PER_DAY
        latest = max(changes, key=lambda c: c.effective_from).program
        dose = daily_dose_mcg(latest)
        rate_ml_per_day = dose / latest.concentration_mcg_per_ml
    try:
        alarm_at = filled_at + timedelta(days=alarm_days)
        empty_at = filled_at + timedelta(days=empty_days)
        stability_at = filled_at + timedelta(days=max_days)
        by_alarm = alarm_at - timedelta(days=buffer_days)
    except OverflowError:
        raise ValueError("a projected time falls after year 9999; check the rates") from None
    reason: RefillDueReason
    if by_alarm <= stability_at:  # a tie reports the alarm, the physical limit
        due_at, reason = by_alarm, "low_reservoir_alarm"
    else:
        due_at, reason = stability_at, "drug_stability"
    return RefillProjection(
        filled_at=filled_at,
        daily_dose_mcg=dose,
        daily_volume_ml=rate_ml_per_day,
        rate_mcg_per_hour=dose / 24.0,
        rate_ml_per_hour=rate_ml_per_day / 24.0,
        days_to_low_reservoir_alarm=alarm_days,
        low_reservoir_alarm_at=alarm_at,
        days_to_empty=empty_days,
        empty_at=empty_at,
        stability_limit_at=stability_at,
        refill_due_at=due_at,
        refill_due_reason=reason,
    )


def _settings_ok(alarm_ml: float, buffer_days: float, max_days: float) -> bool:
    """Fast check that the three settings are finite numbers (>= 0, >= 0, > 0), not bools."""
    if type(alarm_ml) is bool or type(buffer_days) is bool or type(max_days) is bool:
        return False
    try:
        return 0 <= alarm_ml < _INF and 0 <= buffer_days < _INF and 0 < max_days < _INF
    except TypeError:
        return False
