"""Week and month grids for the clinic calendar: pure date arithmetic, no database.

Weeks run Monday to Sunday. Visits are placed on the day they fall on in their clinic's time
zone (the caller gives each entry's local start)."""

import calendar as std_calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

VIEWS = ("week", "month")


@dataclass(frozen=True, slots=True)
class Entry:
    """One visit on the calendar; ``local_start`` is in its clinic's time zone."""

    local_start: datetime
    visit: Any
    after_due: bool = False
    after_alarm: bool = False

    @property
    def time_label(self) -> str:
        """ "HH:MM" in the clinic's zone (template date filters would convert to the site's)."""
        return f"{self.local_start:%H:%M}"


@dataclass(slots=True)
class Day:
    day: date
    is_today: bool
    in_month: bool = True
    entries: list[Entry] = field(default_factory=list)

    @property
    def is_weekend(self) -> bool:
        return self.day.weekday() >= 5


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def parse_week(value: str | None, today: date) -> date:
    """``?week=YYYY-MM-DD`` (any day of the week) → its Monday; today's week when missing or
    malformed."""
    try:
        day = date.fromisoformat(value) if value else today
    except ValueError:
        day = today
    return week_start(day)


def parse_month(value: str | None, today: date) -> date:
    """``?month=YYYY-MM`` → the first of that month; this month when missing or malformed."""
    if value:
        try:
            year, month = (int(part) for part in value.split("-"))
            return date(year, month, 1)
        except ValueError:
            pass
    return today.replace(day=1)


def shift_month(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def week_days(monday: date) -> list[date]:
    return [monday + timedelta(days=i) for i in range(7)]


def month_weeks(first: date) -> list[list[date]]:
    """The Monday-first weeks covering the month of ``first`` (days of the neighbouring months
    fill the first and last week)."""
    return std_calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)


def place(
    days: Iterable[date], entries: Iterable[Entry], *, today: date, month: int | None = None
) -> list[Day]:
    """Days with the entries that fall on them (by local date), each day's entries by time."""
    grid = [
        Day(day=d, is_today=d == today, in_month=month is None or d.month == month) for d in days
    ]
    by_date = {d.day: d for d in grid}
    for entry in sorted(entries, key=lambda e: (e.local_start.replace(tzinfo=None), e.visit.pk)):
        slot = by_date.get(entry.local_start.date())
        if slot is not None:
            slot.entries.append(entry)
    return grid


def chunk(days: list[Day], size: int = 7) -> list[list[Day]]:
    return [days[i : i + size] for i in range(0, len(days), size)]
