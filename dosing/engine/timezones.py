"""IANA time zones for flex schedules: cached offset tables and the local-time rules.

Flex steps are wall-clock times in the patient's zone (domain.md §3.4: "time changes can
affect flex dosing"). The engine needs, for any UTC instant, the zone's UTC offset, and the
instants at which that offset changes. `zoneinfo` does not expose its transition table, so
each (zone, UTC year) is scanned once every 6 hours and each change is located to the
second by bisection; the result is cached. Real transitions are at least weeks apart, so a
6-hour scan cannot miss one in any zone in use today.

Local-time rules (documented in docs/dosing-engine.md):
- a wall time that does not exist (spring-forward gap) resolves to the instant the gap
  ends, i.e. the transition instant;
- an ambiguous wall time (fall-back overlap) resolves to its first occurrence (fold=0).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_SCAN_STEP_S = 6 * 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; ValueError for an unknown or malformed name."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"timezone must be an IANA name such as 'Europe/London', got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {name!r}") from None


def _offset_s(tz: ZoneInfo, epoch_s: int) -> int:
    offset = datetime.fromtimestamp(epoch_s, tz).utcoffset()
    assert offset is not None  # a ZoneInfo always gives an offset
    return int(offset.total_seconds())


def _year_start_s(year: int) -> int:
    return int((datetime(year, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds())


@lru_cache(maxsize=4096)
def _year_transitions(name: str, year: int) -> tuple[tuple[int, int, int], ...]:
    """Offset changes in UTC year `year`: (instant epoch s, offset before s, offset after s).

    1. Sample the offset every 6 h from 1 Jan `year` 00:00 UTC to 1 Jan `year`+1.
    2. Where two samples differ, bisect on whole seconds for the first instant with the
       new offset (tzdata transitions fall on whole seconds).
    """
    tz = zone(name)
    start, end = _year_start_s(year), _year_start_s(year + 1)
    found: list[tuple[int, int, int]] = []
    previous_s, previous_offset = start, _offset_s(tz, start)
    sample = start
    while sample < end:
        sample = min(sample + _SCAN_STEP_S, end)
        offset = _offset_s(tz, sample)
        if offset != previous_offset:
            low, high = previous_s, sample  # offset(low) = previous, offset(high) = new
            while high - low > 1:
                middle = (low + high) // 2
                if _offset_s(tz, middle) == previous_offset:
                    low = middle
                else:
                    high = middle
            if high < end:
                found.append((high, previous_offset, offset))
        previous_s, previous_offset = sample, offset
    return tuple(found)


@dataclass(frozen=True, slots=True)
class ZoneTable:
    """Transitions of one zone over whole UTC years [first_year, last_year].

    `instants_s[i]` is the epoch second at which the offset changes from `before_s[i]` to
    `after_s[i]`; `base_offset_s` is the offset at the start of `first_year`.
    """

    name: str
    first_year: int
    last_year: int
    covered_from_s: int
    covered_until_s: int
    base_offset_s: int
    instants_s: tuple[int, ...]
    before_s: tuple[int, ...]
    after_s: tuple[int, ...]

    def offset_at(self, epoch_s: float) -> int:
        """UTC offset in seconds at `epoch_s` (must lie in the covered years)."""
        index = bisect_right(self.instants_s, epoch_s)
        return self.after_s[index - 1] if index else self.base_offset_s


@lru_cache(maxsize=1024)
def zone_table(name: str, first_year: int, last_year: int) -> ZoneTable:
    """Cached transition table of `name` for the UTC years first_year..last_year."""
    rows = [
        row for year in range(first_year, last_year + 1) for row in _year_transitions(name, year)
    ]
    start = _year_start_s(first_year)
    return ZoneTable(
        name=name,
        first_year=first_year,
        last_year=last_year,
        covered_from_s=start,
        covered_until_s=_year_start_s(last_year + 1),
        base_offset_s=_offset_s(zone(name), start),
        instants_s=tuple(r[0] for r in rows),
        before_s=tuple(r[1] for r in rows),
        after_s=tuple(r[2] for r in rows),
    )


def utc_year(epoch_s: float) -> int:
    """The UTC calendar year of an epoch second."""
    return (_EPOCH + timedelta(seconds=epoch_s)).year


def resolve_local_time(*, day: date, clock: time, timezone: str) -> datetime:
    """The UTC instant at which wall-clock `clock` on `day` happens in `timezone`.

    1. Interpret the wall time with fold=0 (first occurrence) and convert to UTC.
    2. If converting back gives the same wall time, it exists: return it (for an ambiguous
       time this is the first occurrence).
    3. Otherwise the wall time is in a spring-forward gap: return the instant the gap ends,
       which is the zone's transition between the fold=1 and fold=0 readings.
    """
    if clock.tzinfo is not None:
        raise ValueError("clock must be a naive wall-clock time (the zone is given separately)")
    tz = zone(timezone)
    wall = datetime.combine(day, clock)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    earlier = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low_s = (earlier - _EPOCH).total_seconds()
    high_s = (first - _EPOCH).total_seconds()
    year = utc_year(high_s)
    table = zone_table(timezone, year - 1, year)
    index = bisect_right(table.instants_s, low_s)
    if index >= len(table.instants_s) or table.instants_s[index] > high_s:
        raise AssertionError(f"no transition found for the gap at {wall} in {timezone}")
    return _EPOCH + timedelta(seconds=table.instants_s[index])
