"""Programs: nominal rates, flex validation, and what flex schedules deliver on DST days."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from dosing.engine.delivery import delivered_between, local_day_delivery
from dosing.engine.programs import (
    FlexProgram,
    FlexStep,
    ProgramError,
    SimpleProgram,
    flex_step_summaries,
    program_rates,
)
from dosing.engine.timezones import resolve_local_time

from .label_values import EXACT, utc

TC06 = FlexProgram(
    concentration_mcg_per_ml=500, steps=(FlexStep(time(6), 12.5), FlexStep(time(22), 25.0))
)
# Steps 00:00 @10, 02:30 @20 (inside the US spring gap), 12:00 @5 mcg/h.
# Nominal: 2.5 h x 10 + 9.5 h x 20 + 12 h x 5 = 25 + 190 + 60 = 275 mcg.
GAP_STEP = FlexProgram(
    concentration_mcg_per_ml=500,
    steps=(FlexStep(time(0), 10.0), FlexStep(time(2, 30), 20.0), FlexStep(time(12), 5.0)),
)
# Steps 00:00 @10, 01:30 @20 (inside the US fall-back repeat), 12:00 @5 mcg/h.
# Nominal: 1.5 x 10 + 10.5 x 20 + 12 x 5 = 15 + 210 + 60 = 285 mcg.
REPEAT_STEP = FlexProgram(
    concentration_mcg_per_ml=500,
    steps=(FlexStep(time(0), 10.0), FlexStep(time(1, 30), 20.0), FlexStep(time(12), 5.0)),
)


@pytest.mark.parametrize(
    ("program", "dose", "ml_day", "mcg_h", "ml_h"),
    [
        # D / C mL/day, D / 24 mcg/h, r / 24 mL/h (domain §6.1)
        pytest.param(
            SimpleProgram(concentration_mcg_per_ml=500, daily_dose_mcg=300),
            300,
            0.6,
            12.5,
            0.025,
            id="300@500: 0.6 mL/d, 12.5 mcg/h",
        ),
        pytest.param(
            SimpleProgram(concentration_mcg_per_ml=2000, daily_dose_mcg=600),
            600,
            0.3,
            25,
            0.0125,
            id="600@2000: 0.3 mL/d, 25 mcg/h",
        ),
        pytest.param(
            SimpleProgram(concentration_mcg_per_ml=1000, daily_dose_mcg=90),
            90,
            0.09,
            3.75,
            0.00375,
            id="90@1000: 0.09 mL/d, 3.75 mcg/h",
        ),
        pytest.param(
            SimpleProgram(concentration_mcg_per_ml=50, daily_dose_mcg=100),
            100,
            2.0,
            100 / 24,
            2 / 24,
            id="100@50: 2 mL/d",
        ),
        # flex §6.2: Σ rate x hours
        pytest.param(TC06, 400, 0.8, 400 / 24, 0.8 / 24, id="TC-06 flex 16h@12.5 + 8h@25 = 400"),
        pytest.param(GAP_STEP, 275, 0.55, 275 / 24, 0.55 / 24, id="3-step flex 25+190+60 = 275"),
        pytest.param(
            FlexProgram(
                concentration_mcg_per_ml=2000,
                steps=(FlexStep(time(0), 20), FlexStep(time(8), 30), FlexStep(time(16), 10)),
            ),
            480,
            0.24,
            20,
            0.01,
            id="3x8 h flex 160+240+80 = 480 @2000",
        ),
        pytest.param(
            FlexProgram(concentration_mcg_per_ml=500, steps=(FlexStep(time(7, 15), 12.0),)),
            288,
            0.576,
            12,
            0.024,
            id="single step 24 h x 12 = 288",
        ),
    ],
)
def test_program_rates(program, dose, ml_day, mcg_h, ml_h):
    rates = program_rates(program=program)
    assert rates.daily_dose_mcg == pytest.approx(dose, abs=EXACT)
    assert rates.daily_volume_ml == pytest.approx(ml_day, abs=EXACT)
    assert rates.rate_ml_per_day == pytest.approx(ml_day, abs=EXACT)
    assert rates.rate_mcg_per_hour == pytest.approx(mcg_h, abs=EXACT)
    assert rates.rate_ml_per_hour == pytest.approx(ml_h, abs=EXACT)


def test_flex_steps_are_sorted_and_wrap_at_midnight():
    program = FlexProgram(
        concentration_mcg_per_ml=500,
        steps=(FlexStep(time(22), 25.0), FlexStep(time(6), 12.5)),
    )
    assert [s.start for s in program.steps] == [time(6), time(22)]
    assert [s.hours for s in flex_step_summaries(program=program)] == [16.0, 8.0]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        pytest.param((), "at least one step", id="no steps"),
        pytest.param(
            (FlexStep(time(6), 10), FlexStep(time(6), 12)), "unique", id="duplicate start"
        ),
        pytest.param((FlexStep(time(6), 0.0),), "> 0", id="zero rate"),
        pytest.param((FlexStep(time(6), -5.0),), "> 0", id="negative rate"),
        pytest.param((FlexStep(time(6), float("nan")),), "finite", id="nan rate"),
        pytest.param(
            (FlexStep(time(6, tzinfo=None), 1), FlexStep("06:00", 1)),  # type: ignore[arg-type]
            "datetime.time",
            id="string start",
        ),
    ],
)
def test_invalid_flex_programs_are_refused(steps, message):
    with pytest.raises(ProgramError, match=message):
        FlexProgram(concentration_mcg_per_ml=500, steps=steps)


@pytest.mark.parametrize(
    ("concentration", "dose"),
    [pytest.param(0, 300, id="zero concentration"), pytest.param(500, -1, id="negative dose")],
)
def test_invalid_simple_programs_are_refused(concentration, dose):
    with pytest.raises(ProgramError):
        SimpleProgram(concentration_mcg_per_ml=concentration, daily_dose_mcg=dose)


DST_DAYS = [
    # TC-06 on a US spring-forward day: 02:00-03:00 skipped, inside the 22:00-06:00 step at
    # 25 mcg/h -> 400 - 25 = 375 mcg over 23 h (0.75 mL).
    pytest.param(
        TC06, "America/New_York", date(2025, 3, 9), 23, 375, id="NY spring TC-06 23 h 375 mcg"
    ),
    # US fall-back: 01:00-02:00 repeated; the night step runs one more hour -> 425 mcg / 25 h.
    pytest.param(
        TC06, "America/New_York", date(2025, 11, 2), 25, 425, id="NY fall TC-06 25 h 425 mcg"
    ),
    pytest.param(
        TC06, "America/New_York", date(2025, 3, 10), 24, 400, id="NY ordinary day 400 mcg"
    ),
    # London: 01:00 GMT -> 02:00 BST on 30 Mar, 02:00 BST -> 01:00 GMT on 26 Oct 2025.
    pytest.param(
        TC06, "Europe/London", date(2025, 3, 30), 23, 375, id="London spring TC-06 375 mcg"
    ),
    pytest.param(
        TC06, "Europe/London", date(2025, 10, 26), 25, 425, id="London fall TC-06 425 mcg"
    ),
    # No DST: Asia/Kolkata (+05:30) and UTC always have 24 h days.
    pytest.param(TC06, "Asia/Kolkata", date(2025, 3, 9), 24, 400, id="Kolkata no DST 400 mcg"),
    pytest.param(TC06, "UTC", date(2025, 11, 2), 24, 400, id="UTC 400 mcg"),
    # Step start in the gap (02:30 on 9 Mar 2025 NY) starts at 03:00 EDT:
    # 00:00-02:00 2 h x 10 = 20; 03:00-12:00 9 h x 20 = 180; 12:00-24:00 12 h x 5 = 60 -> 260.
    pytest.param(
        GAP_STEP, "America/New_York", date(2025, 3, 9), 23, 260, id="NY step in gap 260 mcg"
    ),
    # Step start in the repeat (01:30 on 2 Nov 2025 NY) fires at the first 01:30 (EDT):
    # 1.5 h x 10 = 15; 01:30 EDT-12:00 EST = 11.5 h x 20 = 230; 12 h x 5 = 60 -> 305.
    pytest.param(
        REPEAT_STEP, "America/New_York", date(2025, 11, 2), 25, 305, id="NY step in repeat 305 mcg"
    ),
    # Simple programs follow real time: 23 h x 12.5 = 287.5 and 25 h x 12.5 = 312.5 mcg.
    pytest.param(
        SimpleProgram(concentration_mcg_per_ml=500, daily_dose_mcg=300),
        "America/New_York",
        date(2025, 3, 9),
        23,
        287.5,
        id="simple on spring day 287.5 mcg",
    ),
    pytest.param(
        SimpleProgram(concentration_mcg_per_ml=500, daily_dose_mcg=300),
        "Europe/London",
        date(2025, 10, 26),
        25,
        312.5,
        id="simple on fall day 312.5 mcg",
    ),
]


@pytest.mark.parametrize(("program", "timezone", "day", "hours", "dose"), DST_DAYS)
def test_local_day_delivery_across_dst(program, timezone, day, hours, dose):
    result = local_day_delivery(program=program, day=day, timezone=timezone)
    assert result.hours == pytest.approx(hours, abs=EXACT)
    assert result.dose_mcg == pytest.approx(dose, abs=EXACT)
    assert result.volume_ml == pytest.approx(dose / program.concentration_mcg_per_ml, abs=EXACT)


@pytest.mark.parametrize(
    ("day", "clock", "timezone", "expected"),
    [
        pytest.param(
            date(2025, 3, 9),
            time(2, 30),
            "America/New_York",
            utc(2025, 3, 9, 7),
            id="NY gap -> 03:00 EDT",
        ),
        pytest.param(
            date(2025, 3, 9),
            time(2, 0),
            "America/New_York",
            utc(2025, 3, 9, 7),
            id="NY gap start -> 03:00 EDT",
        ),
        pytest.param(
            date(2025, 3, 9), time(3, 0), "America/New_York", utc(2025, 3, 9, 7), id="NY 03:00 EDT"
        ),
        pytest.param(
            date(2025, 11, 2),
            time(1, 30),
            "America/New_York",
            utc(2025, 11, 2, 5, 30),
            id="NY repeat -> first (EDT)",
        ),
        pytest.param(
            date(2025, 11, 2),
            time(2, 0),
            "America/New_York",
            utc(2025, 11, 2, 7),
            id="NY 02:00 EST once",
        ),
        pytest.param(
            date(2025, 3, 30),
            time(1, 15),
            "Europe/London",
            utc(2025, 3, 30, 1),
            id="London gap -> 02:00 BST",
        ),
        pytest.param(
            date(2025, 10, 26),
            time(1, 15),
            "Europe/London",
            utc(2025, 10, 26, 0, 15),
            id="London repeat -> BST",
        ),
        pytest.param(
            date(2025, 6, 1),
            time(12, 0),
            "Asia/Kolkata",
            utc(2025, 6, 1, 6, 30),
            id="Kolkata +05:30",
        ),
    ],
)
def test_resolve_local_time_rules(day, clock, timezone, expected):
    assert resolve_local_time(day=day, clock=clock, timezone=timezone) == expected


def test_delivered_between_needs_a_timezone_for_flex():
    with pytest.raises(ValueError, match="timezone"):
        delivered_between(program=TC06, start=utc(2025, 1, 1), end=utc(2025, 1, 2))


def test_unknown_timezone_is_refused():
    with pytest.raises(ValueError, match="unknown IANA timezone"):
        local_day_delivery(program=TC06, day=date(2025, 1, 1), timezone="Mars/Olympus")


def test_delivery_over_a_whole_year_in_new_york_is_365_nominal_days():
    # The spring day loses 25 mcg and the fall day gains 25 mcg: 365 x 400 = 146000 mcg.
    start = resolve_local_time(day=date(2025, 1, 1), clock=time(0), timezone="America/New_York")
    end = resolve_local_time(day=date(2026, 1, 1), clock=time(0), timezone="America/New_York")
    total = delivered_between(program=TC06, start=start, end=end, timezone="America/New_York")
    assert total.dose_mcg == pytest.approx(146000, abs=1e-6)
    assert end - start == timedelta(days=365)
