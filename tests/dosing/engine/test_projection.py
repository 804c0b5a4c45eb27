"""Reservoir projection: alarm, empty and refill-due times, program history, boluses."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dosing.engine.boluses import Bolus, concentration_change
from dosing.engine.programs import FlexProgram, FlexStep, SimpleProgram
from dosing.engine.projection import (
    ProgramChange,
    ReservoirFill,
    ReservoirTimeline,
    project_refill,
    reservoir_volume_at,
)

from .label_values import BUFFER_DAYS, EXACT, LRA_ML, MAX_INTERVAL_DAYS, assert_instant, utc

NY = ZoneInfo("America/New_York")
TC06 = FlexProgram(
    concentration_mcg_per_ml=500, steps=(FlexStep(time(6), 12.5), FlexStep(time(22), 25.0))
)


def simple(dose: float, concentration: float) -> SimpleProgram:
    return SimpleProgram(concentration_mcg_per_ml=concentration, daily_dose_mcg=dose)


def project(fill: ReservoirFill, *, lra: float = LRA_ML, buffer: float = BUFFER_DAYS):
    return project_refill(
        fill=fill,
        low_reservoir_alarm_ml=lra,
        refill_buffer_days=buffer,
        max_refill_interval_days=MAX_INTERVAL_DAYS,
    )


SIMPLE_CASES = [
    # 500/500 = 1 mL/day; 20 mL: alarm 18 d, empty 20 d, due 18 - 7 = 11 d.
    pytest.param(
        20,
        500,
        500,
        2,
        7,
        utc(2025, 1, 19),
        utc(2025, 1, 21),
        utc(2025, 1, 12),
        "low_reservoir_alarm",
        id="20 mL 1 mL/d",
    ),
    # 600/1000 = 0.6 mL/day; 40 mL: alarm 38/0.6 = 63 d 8 h (5 Mar 08:00), empty 66 d 16 h.
    pytest.param(
        40,
        600,
        1000,
        2,
        7,
        utc(2025, 3, 5, 8),
        utc(2025, 3, 8, 16),
        utc(2025, 2, 26, 8),
        "low_reservoir_alarm",
        id="40 mL 0.6 mL/d",
    ),
    # 800/2000 = 0.4 mL/day; 40 mL: alarm 95 d (6 Apr), empty 100 d (11 Apr), due 30 Mar.
    pytest.param(
        40,
        800,
        2000,
        2,
        7,
        utc(2025, 4, 6),
        utc(2025, 4, 11),
        utc(2025, 3, 30),
        "low_reservoir_alarm",
        id="40 mL 0.4 mL/d",
    ),
    # 100/2000 = 0.05 mL/day; 40 mL: alarm 760 d (31 Jan 2027), empty 800 d (12 Mar 2027);
    # the 180-day stability cap (30 Jun 2025) binds.
    pytest.param(
        40,
        100,
        2000,
        2,
        7,
        utc(2027, 1, 31),
        utc(2027, 3, 12),
        utc(2025, 6, 30),
        "drug_stability",
        id="stability cap binds 40 mL",
    ),
    # 200/2000 = 0.1 mL/day; 20 mL: alarm 180 d = 30 Jun; due 173 d = 23 Jun (cap not binding).
    pytest.param(
        20,
        200,
        2000,
        2,
        7,
        utc(2025, 6, 30),
        utc(2025, 7, 20),
        utc(2025, 6, 23),
        "low_reservoir_alarm",
        id="alarm at 180 d, buffer wins",
    ),
    # Same with no buffer: alarm - 0 = 30 Jun = cap; a tie reports the alarm.
    pytest.param(
        20,
        200,
        2000,
        2,
        0,
        utc(2025, 6, 30),
        utc(2025, 7, 20),
        utc(2025, 6, 30),
        "low_reservoir_alarm",
        id="tie with cap -> alarm reason",
    ),
    # 4 mL alarm (§3.1): (20 - 4)/0.6 = 26 d 16 h -> 27 Jan 16:00; due 20 Jan 16:00.
    pytest.param(
        20,
        300,
        500,
        4,
        7,
        utc(2025, 1, 27, 16),
        utc(2025, 2, 3, 8),
        utc(2025, 1, 20, 16),
        "low_reservoir_alarm",
        id="4 mL alarm",
    ),
    # 150/500 = 0.3 mL/day; 20 mL: 60 d -> 2 Mar; empty 66 d 16 h -> 8 Mar 16:00.
    pytest.param(
        20,
        150,
        500,
        2,
        7,
        utc(2025, 3, 2),
        utc(2025, 3, 8, 16),
        utc(2025, 2, 23),
        "low_reservoir_alarm",
        id="20 mL 0.3 mL/d",
    ),
]


@pytest.mark.parametrize(
    ("volume", "dose", "conc", "lra", "buffer", "alarm", "empty", "due", "reason"), SIMPLE_CASES
)
def test_simple_projection(volume, dose, conc, lra, buffer, alarm, empty, due, reason):
    fill = ReservoirFill(
        filled_at=utc(2025, 1, 1), reservoir_volume_ml=volume, programs=simple(dose, conc)
    )
    result = project(fill, lra=lra, buffer=buffer)
    assert_instant(result.low_reservoir_alarm_at, alarm)
    assert_instant(result.empty_at, empty)
    assert_instant(result.refill_due_at, due)
    assert result.refill_due_reason == reason
    assert_instant(result.stability_limit_at, utc(2025, 6, 30))


def test_simple_program_ignores_dst_and_reports_utc():
    # Filled 8 Mar 2025 20:00 EST (9 Mar 01:00 UTC), 1 mL/day: alarm 18 real days later,
    # 27 Mar 01:00 UTC, although the clocks changed on 9 Mar.
    fill = ReservoirFill(
        filled_at=datetime(2025, 3, 8, 20, tzinfo=NY),
        reservoir_volume_ml=20,
        programs=simple(480, 480),
    )
    result = project(fill)
    assert_instant(result.low_reservoir_alarm_at, utc(2025, 3, 27, 1))
    assert_instant(result.filled_at, utc(2025, 3, 9, 1))


def test_fill_at_or_below_alarm_volume_alarms_at_fill():
    fill = ReservoirFill(
        filled_at=utc(2025, 1, 1), reservoir_volume_ml=2, programs=simple(300, 500)
    )
    result = project(fill)
    assert result.low_reservoir_alarm_at == utc(2025, 1, 1)
    assert result.days_to_low_reservoir_alarm == 0
    assert result.refill_due_at == utc(2024, 12, 25)  # before the fill: refill at once


FLEX_CASES = [
    # UTC, fill 06:00: each day from 06:00 delivers 0.8 mL; 22 d -> 17.6 mL; 0.4 mL more at
    # 0.025 mL/h (06:00-22:00 step) = 16 h -> 25 Mar 22:00 (the average would say 18:00).
    pytest.param(
        "UTC",
        utc(2025, 3, 3, 6),
        utc(2025, 3, 25, 22),
        utc(2025, 3, 28, 6),
        id="UTC real steps, not average",
    ),
    # NY spring: the schedule day from 8 Mar 06:00 EST has 23 h and loses 1 h of the night step
    # (0.05 mL): 22 d -> 17.55 mL; 0.4 mL in 16 h + 0.05 mL at 0.05 mL/h = 1 h ->
    # 23 Mar 23:00 EDT = 24 Mar 03:00 UTC.
    pytest.param(
        "America/New_York",
        datetime(2025, 3, 1, 6, tzinfo=NY),
        utc(2025, 3, 24, 3),
        None,
        id="NY spring forward",
    ),
    # NY fall: the day from 1 Nov 06:00 EDT has 25 h, +0.05 mL: 22 d -> 17.65 mL; 0.35 mL at
    # 0.025 mL/h = 14 h from 11 Nov 06:00 EST -> 20:00 EST = 12 Nov 01:00 UTC.
    pytest.param(
        "America/New_York",
        datetime(2025, 10, 20, 6, tzinfo=NY),
        utc(2025, 11, 12, 1),
        None,
        id="NY fall back",
    ),
    # London spring (30 Mar 01:00 GMT -> 02:00 BST) inside the day from 29 Mar 06:00: as NY
    # spring -> 11 Apr 23:00 BST = 22:00 UTC.
    pytest.param(
        "Europe/London", utc(2025, 3, 20, 6), utc(2025, 4, 11, 22), None, id="London spring forward"
    ),
    # London fall (26 Oct 02:00 BST -> 01:00 GMT) inside the day from 25 Oct 06:00 BST; fill
    # 15 Oct 06:00 BST (05:00 UTC): 22 d -> 17.65 mL; 0.35 mL = 14 h from 6 Nov 06:00 GMT
    # -> 20:00 UTC.
    pytest.param(
        "Europe/London", utc(2025, 10, 15, 5), utc(2025, 11, 6, 20), None, id="London fall back"
    ),
    # No DST (+05:30): fill 06:00 IST = 00:30 UTC; alarm 22 d 16 h later = 25 Mar 16:30 UTC.
    pytest.param(
        "Asia/Kolkata",
        utc(2025, 3, 3, 0, 30),
        utc(2025, 3, 25, 16, 30),
        utc(2025, 3, 28, 0, 30),
        id="Kolkata no DST",
    ),
]


@pytest.mark.parametrize(("timezone", "filled_at", "alarm", "empty"), FLEX_CASES)
def test_flex_projection_follows_the_real_schedule(timezone, filled_at, alarm, empty):
    fill = ReservoirFill(
        filled_at=filled_at, reservoir_volume_ml=20, programs=TC06, timezone=timezone
    )
    result = project(fill)
    assert_instant(result.low_reservoir_alarm_at, alarm)
    assert_instant(result.refill_due_at, alarm - timedelta(days=7))
    if empty is not None:
        assert_instant(result.empty_at, empty)
    assert result.daily_dose_mcg == pytest.approx(400, abs=EXACT)


def test_single_step_flex_equals_simple_across_dst():
    # One step at 12.5 mcg/h runs all day: constant real rate, same as TC-01 (LRA 2 Apr 00:00),
    # although New York springs forward on 9 Mar inside the window.
    flat = FlexProgram(concentration_mcg_per_ml=500, steps=(FlexStep(time(0), 12.5),))
    fill = ReservoirFill(
        filled_at=utc(2025, 3, 3),
        reservoir_volume_ml=20,
        programs=flat,
        timezone="America/New_York",
    )
    assert_instant(project(fill).low_reservoir_alarm_at, utc(2025, 4, 2))


def test_program_history_change_inside_window():
    # 400 mcg/day @500 (0.8 mL/d, in effect since December) until 11 Jan: 10 d -> 8 mL.
    # Then TC-06 from 11 Jan 00:00 UTC: 12 d -> 9.6 mL (17.6); 00:00-06:00 at 0.05 mL/h -> 0.3
    # (17.9); 0.1 mL at 0.025 mL/h = 4 h -> alarm 23 Jan 10:00. Empty: 12 mL / 0.8 = 15 d -> 26 Jan.
    fill = ReservoirFill(
        filled_at=utc(2025, 1, 1),
        reservoir_volume_ml=20,
        programs=[
            ProgramChange(utc(2024, 12, 1), simple(400, 500)),
            ProgramChange(utc(2025, 1, 11), TC06),
        ],
        timezone="UTC",
    )
    result = project(fill)
    assert_instant(result.low_reservoir_alarm_at, utc(2025, 1, 23, 10))
    assert_instant(result.empty_at, utc(2025, 1, 26))
    assert reservoir_volume_at(fill=fill, at=utc(2025, 1, 11)) == pytest.approx(12.0, abs=EXACT)


def test_only_the_last_program_before_the_fill_applies():
    # 1000 mcg/day before the fill is superseded on 20 Dec by 300 @500 -> TC-01 numbers.
    fill = ReservoirFill(
        filled_at=utc(2025, 3, 3),
        reservoir_volume_ml=20,
        programs=[
            ProgramChange(utc(2024, 12, 1), simple(1000, 500)),
            ProgramChange(utc(2024, 12, 20), simple(300, 500)),
        ],
    )
    assert_instant(project(fill).low_reservoir_alarm_at, utc(2025, 4, 2))


BOLUS_CASES = [
    # TC-01 + 0.6 mL patient bolus on 10 Mar: one day earlier -> 1 Apr; empty 4 Apr 08:00.
    pytest.param(
        simple(300, 500),
        "UTC",
        [Bolus(start=utc(2025, 3, 10), volume_ml=0.6, kind="patient")],
        utc(2025, 4, 1),
        utc(2025, 4, 4, 8),
        id="instant bolus 0.6 mL = 1 day",
    ),
    # TC-01 + priming 0.26 mL at the fill: (18 - 0.26)/0.6 = 29.5667 d = 29 d 13:36.
    pytest.param(
        simple(300, 500),
        "UTC",
        [Bolus(start=utc(2025, 3, 3), volume_ml=0.26, kind="priming")],
        utc(2025, 4, 1, 13, 36),
        None,
        id="priming at fill",
    ),
    # A bolus before the fill does not touch this reservoir.
    pytest.param(
        simple(300, 500),
        "UTC",
        [Bolus(start=utc(2025, 3, 1), volume_ml=5)],
        utc(2025, 4, 2),
        None,
        id="bolus before fill ignored",
    ),
    # Timed bolus 0.6 mL over 12 h on top of basal: same volume as 1 day -> 1 Apr 00:00.
    pytest.param(
        simple(300, 500),
        "UTC",
        [Bolus(start=utc(2025, 3, 5), volume_ml=0.6, duration_hours=12)],
        utc(2025, 4, 1),
        None,
        id="timed bolus adds",
    ),
    # TC-06 UTC from 06:00 + 0.2 mL over 4 h: 22 d -> 17.6 + 0.2; 0.2 mL at 0.025 mL/h = 8 h
    # -> 14:00.
    pytest.param(
        TC06,
        "UTC",
        [Bolus(start=utc(2025, 3, 3, 6), volume_ml=0.2, duration_hours=4)],
        utc(2025, 3, 25, 14),
        None,
        id="flex + timed bolus",
    ),
]


@pytest.mark.parametrize(("program", "timezone", "boluses", "alarm", "empty"), BOLUS_CASES)
def test_boluses_shift_the_alarm(program, timezone, boluses, alarm, empty):
    filled_at = utc(2025, 3, 3, 6) if isinstance(program, FlexProgram) else utc(2025, 3, 3)
    fill = ReservoirFill(
        filled_at=filled_at,
        reservoir_volume_ml=20,
        programs=program,
        timezone=timezone,
        boluses=boluses,
    )
    result = project(fill)
    assert_instant(result.low_reservoir_alarm_at, alarm)
    if empty is not None:
        assert_instant(result.empty_at, empty)


def test_bridge_bolus_replaces_the_basal():
    # TC-04 at a refill to 2000 mcg/mL, 600 mcg/day (new 0.3 mL/day), 20 mL: the bridge pushes
    # 0.26 mL over 5.2 h, then 0.3 mL/day. Alarm: 17.74/0.3 = 59.1333 d = 59 d 3.2 h, + 5.2 h
    # = 59 d 8 h 24 min -> 1 Mar 08:24. Empty: 19.74/0.3 = 65.8 d + 5.2 h = 66 d 00:24 -> 8 Mar.
    change = concentration_change(
        old_concentration_mcg_per_ml=500,
        new_concentration_mcg_per_ml=2000,
        daily_dose_mcg=600,
        dead_volume_ml=0.26,
    )
    assert change.bridge_bolus is not None
    fill = ReservoirFill(
        filled_at=utc(2025, 1, 1),
        reservoir_volume_ml=20,
        programs=simple(600, 2000),
        boluses=[change.bridge_bolus.as_bolus(start=utc(2025, 1, 1))],
    )
    result = project(fill)
    assert_instant(result.low_reservoir_alarm_at, utc(2025, 3, 1, 8, 24))
    assert_instant(result.empty_at, utc(2025, 3, 8, 0, 24))
    half_way = utc(2025, 1, 1, 2, 36)  # 2.6 h into the bridge: 0.13 mL out, no basal
    assert reservoir_volume_at(fill=fill, at=half_way) == pytest.approx(19.87, abs=EXACT)
    assert_instant(change.bridge_bolus.ends_at(start=utc(2025, 1, 1)), utc(2025, 1, 1, 5, 12))


def test_crossing_inside_a_timed_bolus_over_flex_is_solved_to_the_millisecond():
    # 1 mL fill 06:00 UTC, TC-06 (0.025 mL/h) + 0.3 mL over 2 h (0.15 mL/h): 0.175 mL/h.
    # Alarm at 0.7 mL -> 0.3 mL delivered after 0.3/0.175 h = 1 h 42 min 51.43 s.
    fill = ReservoirFill(
        filled_at=utc(2025, 3, 3, 6),
        reservoir_volume_ml=1,
        programs=TC06,
        timezone="UTC",
        boluses=[Bolus(start=utc(2025, 3, 3, 6), volume_ml=0.3, duration_hours=2)],
    )
    alarm = project(fill, lra=0.7).low_reservoir_alarm_at
    expected = utc(2025, 3, 3, 6) + timedelta(hours=0.3 / 0.175)
    assert abs(alarm - expected) < timedelta(milliseconds=1)


def test_volume_is_clamped_at_zero_after_empty():
    fill = ReservoirFill(
        filled_at=utc(2025, 3, 3), reservoir_volume_ml=20, programs=simple(300, 500)
    )
    assert reservoir_volume_at(fill=fill, at=utc(2025, 5, 1)) == 0.0
    assert reservoir_volume_at(fill=fill, at=utc(2025, 3, 13)) == pytest.approx(14.0, abs=EXACT)
    assert reservoir_volume_at(fill=fill, at=utc(2025, 3, 1)) == 20.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"filled_at": datetime(2025, 1, 1)}, "timezone-aware", id="naive fill"),  # noqa: DTZ001
        pytest.param({"reservoir_volume_ml": 0}, "> 0", id="empty fill"),
        pytest.param({"programs": []}, "at least one", id="no program"),
        pytest.param(
            {"programs": [ProgramChange(utc(2025, 2, 1), simple(300, 500))]},
            "no program is in effect",
            id="program starts after fill",
        ),
        pytest.param({"programs": TC06}, "timezone", id="flex without timezone"),
        pytest.param(
            {
                "programs": [
                    ProgramChange(utc(2025, 1, 1), simple(300, 500)),
                    ProgramChange(utc(2025, 1, 1), simple(400, 500)),
                ]
            },
            "same effective_from",
            id="duplicate effective_from",
        ),
        pytest.param(
            {
                "boluses": [
                    Bolus(
                        start=utc(2025, 1, 2), volume_ml=0.1, duration_hours=5, replaces_basal=True
                    ),
                    Bolus(
                        start=utc(2025, 1, 2, 3),
                        volume_ml=0.1,
                        duration_hours=5,
                        replaces_basal=True,
                    ),
                ]
            },
            "overlap",
            id="overlapping bridges",
        ),
    ],
)
def test_invalid_fills_are_refused(kwargs, message):
    arguments = {
        "filled_at": utc(2025, 1, 1),
        "reservoir_volume_ml": 20,
        "programs": simple(300, 500),
    } | kwargs
    with pytest.raises(ValueError, match=message):
        project(ReservoirFill(**arguments))


def test_naive_query_time_is_refused():
    fill = ReservoirFill(
        filled_at=utc(2025, 3, 3), reservoir_volume_ml=20, programs=simple(300, 500)
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        ReservoirTimeline(fill).volume_at(datetime(2025, 3, 4))  # noqa: DTZ001


def test_absurdly_small_rate_is_refused_not_overflowed():
    fill = ReservoirFill(
        filled_at=utc(2025, 3, 3), reservoir_volume_ml=20, programs=simple(1e-9, 2000)
    )
    with pytest.raises(ValueError, match="year 9999"):
        project(fill)
