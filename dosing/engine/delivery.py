"""What a program really delivers in elapsed time, across DST changes.

Model (docs/dosing-engine.md "DST"): rates (mcg/h) apply to real elapsed time; steps start
at wall-clock times in the patient's zone. Let P(u) be the "schedule position", the
running maximum of the local wall clock. The rate at instant u is the daily profile's rate
at P(u). This is exactly the documented rule set:
- spring forward: the wall clock jumps over the gap, the skipped hour's schedule is not
  delivered, and a step starting inside the gap starts when the gap ends;
- fall back: the wall clock repeats an hour; steps start at their first occurrence
  (fold=0) and do not start again, so during the repeated hour the step in force just
  before the change keeps running (25 h day, more drug).
So between two offset changes, delivery is G(local end) - G(local start) where G is the
program's cumulative daily profile on the naive local axis (closed form, whole days in one
multiplication); a fall-back adds a "stall" of Δ seconds at the left-limit rate.

Times inside a `FlexDelivery` are float seconds relative to an origin instant, which keeps
float precision around 1e-9 s for projection windows of years.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from .common import require_aware
from .programs import SECONDS_PER_DAY, FlexProgram, Program, SimpleProgram
from .timezones import ZoneTable, resolve_local_time, utc_year, zone, zone_table

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INF = math.inf


class FlexDelivery:
    """Real-time delivery of one flex program in one zone, relative to an origin instant.

    `delivered_mcg(u_a, u_b)` and `time_of_mcg(u_a, amount)` walk constant-offset pieces
    between the zone's transitions (normally 0-2 per 180 days), each in O(log steps).
    """

    __slots__ = ("program", "timezone", "_day_s", "_frac_s", "_origin_s", "_table")

    def __init__(self, *, program: FlexProgram, timezone: str, origin: datetime) -> None:
        zone(timezone)  # validate the name early
        self.program = program
        self.timezone = timezone
        since_epoch = origin - _EPOCH
        # Origin = UTC midnight `_day_s` (whole epoch seconds) + `_frac_s` seconds.
        self._day_s = since_epoch.days * 86400
        self._frac_s = since_epoch.seconds + since_epoch.microseconds / 1e6
        self._origin_s = self._day_s + self._frac_s
        year = utc_year(self._origin_s)
        self._table: ZoneTable = zone_table(timezone, year, year + 1)

    def _rel(self, epoch_s: int) -> float:
        return (epoch_s - self._day_s) - self._frac_s

    def delivered_mcg(self, u_a: float, u_b: float) -> float:
        """mcg delivered between relative seconds u_a <= u_b."""
        return self._walk(u_a, u_b, _INF)[0]

    def time_of_mcg(self, u_a: float, amount_mcg: float) -> float:
        """First relative second u >= u_a at which `amount_mcg` has been delivered since u_a."""
        return self._walk(u_a, _INF, amount_mcg)[1]

    def _walk(self, u: float, u_end: float, target: float) -> tuple[float, float]:
        """Accumulate delivery from `u` until `u_end` or until `target` mcg is reached.

        1. Find the offset in force at `u` (and whether `u` is inside a fall-back stall).
        2. For each constant-offset piece up to the next transition: add G(end) - G(start);
           if that reaches the target, invert G inside the piece.
        3. At a fall-back transition add the stall (Δ s at the rate in force just before).
        4. Past the cached years, extend the zone table and go on.
        Returns (mcg delivered, crossing time or inf).
        """
        program = self.program
        frac = self._frac_s
        table = self._cover(u)
        i = bisect_right(table.instants_s, self._origin_s + u)
        total = 0.0
        if i:
            offset = table.after_s[i - 1]
            before = table.before_s[i - 1]
            stall_end = self._rel(table.instants_s[i - 1]) + (before - offset)
            if offset < before and u < stall_end:  # started inside a fall-back repeat
                rate = program.rate_before_mcg_per_s(frac + stall_end + offset)
                end = min(stall_end, u_end)
                amount = rate * (end - u)
                if total + amount >= target:
                    return target, u + (target - total) / rate
                total += amount
                u = end
        else:
            offset = table.base_offset_s
        while u < u_end:
            instants = table.instants_s
            has_transition = i < len(instants)
            boundary = self._rel(instants[i] if has_transition else table.covered_until_s)
            piece_end = min(boundary, u_end)
            local_start = frac + u + offset
            g_start = program.cumulative_mcg(local_start)
            amount = (
                _INF
                if piece_end == _INF
                else program.cumulative_mcg(frac + piece_end + offset) - g_start
            )
            if total + amount >= target:
                local = program.local_s_of_cumulative(g_start + (target - total))
                return target, max(local - frac - offset, u)
            total += amount
            u = piece_end
            if u >= u_end:
                break
            if not has_transition:
                table = zone_table(self.timezone, table.first_year, table.last_year + 2)
                self._table = table
                i = bisect_right(table.instants_s, self._origin_s + u - 0.5)
                continue
            before, after = table.before_s[i], table.after_s[i]
            if after < before:  # fall back: the wall clock repeats (before - after) seconds
                rate = program.rate_before_mcg_per_s(frac + u + before)
                end = min(u + (before - after), u_end)
                amount = rate * (end - u)
                if total + amount >= target:
                    return target, u + (target - total) / rate
                total += amount
                u = end
            offset = after
            i += 1
        return total, _INF

    def _cover(self, u: float) -> ZoneTable:
        table = self._table
        epoch_s = self._origin_s + u
        if epoch_s >= table.covered_until_s:
            table = zone_table(self.timezone, table.first_year, utc_year(epoch_s) + 1)
            self._table = table
        return table


def _relative_s(instant: datetime, origin: datetime) -> float:
    return (instant - origin).total_seconds()


@dataclass(frozen=True, slots=True)
class Delivered:
    """Drug and volume delivered over an interval, and the interval's real length."""

    dose_mcg: float
    volume_ml: float
    hours: float


def delivered_between(
    *, program: Program, start: datetime, end: datetime, timezone: str | None = None
) -> Delivered:
    """What `program` delivers from `start` to `end` (aware datetimes, start <= end).

    A simple program delivers D/24 mcg per real hour. A flex program follows the stepped
    schedule in `timezone` (required) with the DST rules of this module.
    """
    start_utc = require_aware(start, name="start")
    end_utc = require_aware(end, name="end")
    if end_utc < start_utc:
        raise ValueError("end must not be before start")
    seconds = _relative_s(end_utc, start_utc)
    if isinstance(program, SimpleProgram):
        dose = program.daily_dose_mcg * seconds / SECONDS_PER_DAY
    else:
        if timezone is None:
            raise ValueError("a flex program needs the patient's IANA timezone")
        flex = FlexDelivery(program=program, timezone=timezone, origin=start_utc)
        dose = flex.delivered_mcg(0.0, seconds)
    return Delivered(
        dose_mcg=dose,
        volume_ml=dose / program.concentration_mcg_per_ml,
        hours=seconds / 3600.0,
    )


@dataclass(frozen=True, slots=True)
class LocalDay:
    """One local calendar day: its real start and end (UTC), length and delivery."""

    day: date
    starts_at: datetime
    ends_at: datetime
    hours: float
    dose_mcg: float
    volume_ml: float


def local_day_delivery(*, program: Program, day: date, timezone: str) -> LocalDay:
    """Delivery over local `day`, from its 00:00 to the next day's 00:00 in `timezone`.

    The day is 23 h on a spring-forward date and 25 h on a fall-back date (for a 1 h
    change), so a flex program delivers less or more than its nominal daily dose.
    """
    starts_at = resolve_local_time(day=day, clock=time(0, 0), timezone=timezone)
    ends_at = resolve_local_time(day=day + timedelta(days=1), clock=time(0, 0), timezone=timezone)
    delivered = delivered_between(program=program, start=starts_at, end=ends_at, timezone=timezone)
    return LocalDay(
        day=day,
        starts_at=starts_at,
        ends_at=ends_at,
        hours=delivered.hours,
        dose_mcg=delivered.dose_mcg,
        volume_ml=delivered.volume_ml,
    )
