"""Suggesting refill slots: pure functions, no database.

Slots are 30 minutes long and start on weekdays from 09:00 to 16:30 in the clinic's local time.
Local times are built with ``zoneinfo`` and converted to UTC, so a week in which the clocks
change still gives the right instants.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SLOT_MINUTES = 30
FIRST_SLOT = time(9, 0)
LAST_SLOT = time(16, 30)
# How far the search looks (days), so a pump without limits cannot loop for ever.
SEARCH_DAYS = 120


def day_slots(day: date, zone: ZoneInfo) -> list[datetime]:
    """The slot starts of ``day`` (UTC, earliest first); none on Saturday or Sunday."""
    if day.weekday() >= 5:
        return []
    starts = []
    minutes = FIRST_SLOT.hour * 60 + FIRST_SLOT.minute
    last = LAST_SLOT.hour * 60 + LAST_SLOT.minute
    while minutes <= last:
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
        starts.append(local.astimezone(UTC))
        minutes += SLOT_MINUTES
    return starts


def _is_free(start: datetime, booked: list[tuple[datetime, datetime]]) -> bool:
    end = start + timedelta(minutes=SLOT_MINUTES)
    return all(not (start < b_end and b_start < end) for b_start, b_end in booked)


def _intervals(booked: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    return [(b, b + timedelta(minutes=SLOT_MINUTES)) for b in booked]


def suggest_slots(
    *,
    time_zone: str,
    due_at: datetime | None,
    empty_at: datetime | None,
    now: datetime,
    booked: Iterable[datetime] = (),
    count: int = 8,
) -> list[datetime]:
    """The latest ``count`` free slots at or before ``due_at``, latest first (UTC).

    A slot is never before ``now`` and always ends before ``empty_at`` (the pump would run dry
    first). Booked visits (30 minutes each) block the slots they overlap. No due time (no
    projection): no suggestions.
    """
    if due_at is None or count <= 0:
        return []
    zone = ZoneInfo(time_zone)
    taken = _intervals(booked)
    day = due_at.astimezone(zone).date()
    first_day = now.astimezone(zone).date()
    found: list[datetime] = []
    while day >= first_day and len(found) < count:
        for start in reversed(day_slots(day, zone)):
            if start > due_at or start < now:
                continue
            if empty_at is not None and start + timedelta(minutes=SLOT_MINUTES) > empty_at:
                continue
            if _is_free(start, taken):
                found.append(start)
                if len(found) == count:
                    break
        day -= timedelta(days=1)
    return found


def earliest_slots(
    *,
    time_zone: str,
    empty_at: datetime | None,
    now: datetime,
    booked: Iterable[datetime] = (),
    count: int = 8,
) -> list[datetime]:
    """The first ``count`` free slots from ``now`` on, earliest first (UTC), each ending before
    ``empty_at``: for a refill that is already overdue, the soonest the clinic can see the
    patient."""
    if count <= 0:
        return []
    zone = ZoneInfo(time_zone)
    taken = _intervals(booked)
    day = now.astimezone(zone).date()
    found: list[datetime] = []
    for _ in range(SEARCH_DAYS):
        for start in day_slots(day, zone):
            if start < now:
                continue
            if empty_at is not None and start + timedelta(minutes=SLOT_MINUTES) > empty_at:
                return found
            if _is_free(start, taken):
                found.append(start)
                if len(found) == count:
                    return found
        day += timedelta(days=1)
    return found
