"""Slot suggestions: weekdays 09:00–16:30 clinic time, latest first from the due time back, never
after the projected empty time nor in the past, skipping booked visits, right across DST."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from refills.slots import day_slots, earliest_slots, suggest_slots

NY = "America/New_York"
ZONE = ZoneInfo(NY)


def local(y, m, d, hh, mm=0, zone=ZONE):
    return datetime(y, m, d, hh, mm, tzinfo=zone).astimezone(UTC)


def test_a_weekday_has_sixteen_slots_from_nine_to_half_past_four():
    slots = day_slots(date(2025, 3, 12), ZONE)  # a Wednesday
    assert len(slots) == 16
    assert slots[0] == local(2025, 3, 12, 9) and slots[-1] == local(2025, 3, 12, 16, 30)
    assert day_slots(date(2025, 3, 15), ZONE) == []  # Saturday
    assert day_slots(date(2025, 3, 16), ZONE) == []  # Sunday


def test_latest_first_on_or_before_the_due_time():
    due = local(2025, 3, 26, 12, 10)  # Wednesday 12:10
    slots = suggest_slots(
        time_zone=NY, due_at=due, empty_at=None, now=local(2025, 3, 20, 8), count=4
    )
    assert slots == [
        local(2025, 3, 26, 12),
        local(2025, 3, 26, 11, 30),
        local(2025, 3, 26, 11),
        local(2025, 3, 26, 10, 30),
    ]


def test_weekends_are_skipped_going_back():
    due = local(2025, 3, 24, 9, 0)  # Monday 09:00: one slot that day, then Friday
    slots = suggest_slots(
        time_zone=NY, due_at=due, empty_at=None, now=local(2025, 3, 17, 8), count=3
    )
    assert slots == [local(2025, 3, 24, 9), local(2025, 3, 21, 16, 30), local(2025, 3, 21, 16)]
    assert all(s.astimezone(ZONE).weekday() < 5 for s in slots)
    assert all(
        9 <= s.astimezone(ZONE).hour <= 16
        for s in suggest_slots(
            time_zone=NY, due_at=due, empty_at=None, now=local(2025, 3, 3, 8), count=60
        )
    )


def test_booked_visits_block_the_slots_they_overlap():
    due = local(2025, 3, 26, 16, 30)
    booked = [
        local(2025, 3, 26, 16, 30),
        local(2025, 3, 26, 15, 45),
    ]  # 15:45 blocks 15:30 and 16:00
    slots = suggest_slots(
        time_zone=NY, due_at=due, empty_at=None, now=local(2025, 3, 20, 8), booked=booked, count=3
    )
    assert slots == [local(2025, 3, 26, 15), local(2025, 3, 26, 14, 30), local(2025, 3, 26, 14)]


def test_never_after_the_projected_empty_time():
    # The reservoir runs dry before the due time here (the due time is wrong or stale): the
    # slot must end before it is empty.
    due = local(2025, 3, 26, 16, 30)
    empty = local(2025, 3, 26, 11, 15)
    slots = suggest_slots(
        time_zone=NY, due_at=due, empty_at=empty, now=local(2025, 3, 20, 8), count=2
    )
    assert slots == [local(2025, 3, 26, 10, 30), local(2025, 3, 26, 10)]
    assert all(s + timedelta(minutes=30) <= empty for s in slots)


def test_never_before_now_and_nothing_when_overdue():
    due = local(2025, 3, 26, 16, 30)
    now = local(2025, 3, 26, 15, 10)
    slots = suggest_slots(time_zone=NY, due_at=due, empty_at=None, now=now, count=10)
    assert slots == [local(2025, 3, 26, 16, 30), local(2025, 3, 26, 16), local(2025, 3, 26, 15, 30)]
    assert suggest_slots(time_zone=NY, due_at=now - timedelta(days=1), empty_at=None, now=now) == []
    assert suggest_slots(time_zone=NY, due_at=None, empty_at=None, now=now) == []


def test_earliest_slots_for_an_overdue_pump_stop_before_empty():
    now = local(2025, 3, 28, 16, 5)  # Friday 16:05
    empty = local(2025, 3, 31, 10, 0)  # Monday 10:00
    slots = earliest_slots(time_zone=NY, empty_at=empty, now=now, count=10)
    assert slots == [local(2025, 3, 28, 16, 30), local(2025, 3, 31, 9), local(2025, 3, 31, 9, 30)]


def test_dst_week_in_new_york_gives_the_right_utc_times():
    # Clocks go forward on Sunday 9 March 2025: Friday is EST (UTC−5), Monday is EDT (UTC−4).
    due = datetime(2025, 3, 10, 13, 30, tzinfo=UTC)  # Monday 09:30 EDT
    slots = suggest_slots(
        time_zone=NY, due_at=due, empty_at=None, now=datetime(2025, 3, 6, tzinfo=UTC), count=4
    )
    assert slots == [
        datetime(2025, 3, 10, 13, 30, tzinfo=UTC),  # Mon 09:30 EDT
        datetime(2025, 3, 10, 13, 0, tzinfo=UTC),  # Mon 09:00 EDT
        datetime(2025, 3, 7, 21, 30, tzinfo=UTC),  # Fri 16:30 EST
        datetime(2025, 3, 7, 21, 0, tzinfo=UTC),  # Fri 16:00 EST
    ]
    # And back in November (clocks go back on Sunday 2 November 2025).
    due = datetime(2025, 11, 3, 14, 0, tzinfo=UTC)  # Monday 09:00 EST
    slots = suggest_slots(
        time_zone=NY, due_at=due, empty_at=None, now=datetime(2025, 10, 30, tzinfo=UTC), count=2
    )
    assert slots == [
        datetime(2025, 11, 3, 14, 0, tzinfo=UTC),
        datetime(2025, 10, 31, 20, 30, tzinfo=UTC),  # Fri 16:30 EDT
    ]
