"""domain.md §7 worked examples TC-01, TC-04 and TC-06, number by number."""

from __future__ import annotations

from datetime import time

import pytest

from dosing.engine.boluses import concentration_change
from dosing.engine.limits import assess_dose_change
from dosing.engine.programs import (
    FlexProgram,
    FlexStep,
    SimpleProgram,
    flex_step_summaries,
    program_rates,
)
from dosing.engine.projection import ReservoirFill, project_refill
from dosing.engine.units import parse_quantity

from .label_values import (
    BUFFER_DAYS,
    EXACT,
    LABEL_LIMITS,
    LRA_ML,
    MAX_INTERVAL_DAYS,
    assert_instant,
    utc,
)

TC06 = FlexProgram(
    concentration_mcg_per_ml=500,
    steps=(FlexStep(time(6, 0), 12.5), FlexStep(time(22, 0), 25.0)),
)


def _tc01():
    fill = ReservoirFill(
        filled_at=utc(2025, 3, 3),
        reservoir_volume_ml=20.0,
        programs=SimpleProgram(concentration_mcg_per_ml=500, daily_dose_mcg=300),
    )
    return project_refill(
        fill=fill,
        low_reservoir_alarm_ml=LRA_ML,
        refill_buffer_days=BUFFER_DAYS,
        max_refill_interval_days=MAX_INTERVAL_DAYS,
    )


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("daily_volume_ml", 0.6, id="TC-01 r = 300/500 = 0.6 mL/day"),
        pytest.param("rate_ml_per_hour", 0.025, id="TC-01 0.025 mL/h"),
        pytest.param("rate_mcg_per_hour", 12.5, id="TC-01 300/24 = 12.5 mcg/h"),
        pytest.param("days_to_low_reservoir_alarm", 30.0, id="TC-01 (20-2)/0.6 = 30 d"),
        pytest.param("days_to_empty", 20 / 0.6, id="TC-01 20/0.6 = 33.33 d"),
    ],
)
def test_tc01_numbers(field, expected):
    assert getattr(_tc01(), field) == pytest.approx(expected, abs=EXACT)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("low_reservoir_alarm_at", utc(2025, 4, 2), id="TC-01 LRA 2025-04-02"),
        pytest.param("empty_at", utc(2025, 4, 5, 8), id="TC-01 empty 2025-04-05 08:00"),
        pytest.param("refill_due_at", utc(2025, 3, 26), id="TC-01 due 2025-03-26 (7 d buffer)"),
        pytest.param("stability_limit_at", utc(2025, 8, 30), id="TC-01 180 d cap 2025-08-30"),
    ],
)
def test_tc01_dates(field, expected):
    assert_instant(getattr(_tc01(), field), expected)


def test_tc01_cap_does_not_bind():
    assert _tc01().refill_due_reason == "low_reservoir_alarm"


def _tc04():
    return concentration_change(
        old_concentration_mcg_per_ml=500,
        new_concentration_mcg_per_ml=2000,
        daily_dose_mcg=600,
        dead_volume_ml=0.140 + 0.120,
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("dead_volume_ml", 0.26, id="TC-04 V_dead = 0.140 + 0.120"),
        pytest.param("old_rate_ml_per_day", 1.2, id="TC-04 r_old = 600/500"),
        pytest.param("new_rate_ml_per_day", 0.3, id="TC-04 r_new = 600/2000"),
        pytest.param("without_bridge.duration_hours", 20.8, id="TC-04 0.26/0.3 d = 20.8 h"),
        pytest.param("without_bridge.drug_mcg", 130.0, id="TC-04 0.26 x 500 = 130 mcg"),
        pytest.param("without_bridge.effective_daily_dose_mcg", 150.0, id="TC-04 150 mcg/day"),
        pytest.param("without_bridge.percent_of_prescribed", 25.0, id="TC-04 25 %"),
        pytest.param("bridge_bolus.volume_ml", 0.26, id="TC-04 bridge 0.26 mL"),
        pytest.param("bridge_bolus.duration_hours", 5.2, id="TC-04 bridge 0.26/1.2 d = 5.2 h"),
        pytest.param("bridge_bolus.drug_mcg", 130.0, id="TC-04 bridge 130 mcg"),
        pytest.param("bridge_bolus.rate_ml_per_day", 1.2, id="TC-04 bridge at r_old"),
    ],
)
def test_tc04_numbers(path, expected):
    value = _tc04()
    for name in path.split("."):
        value = getattr(value, name)
    assert value == pytest.approx(expected, abs=EXACT)


def test_tc04_requires_bridge():
    assert _tc04().bridge_required is True


def test_tc06_daily_dose_and_volume():
    rates = program_rates(program=TC06)
    assert rates.daily_dose_mcg == pytest.approx(400.0, abs=EXACT)
    assert rates.daily_volume_ml == pytest.approx(0.8, abs=EXACT)


def test_tc06_steps_each_deliver_200_mcg_in_0_4_ml():
    day, night = flex_step_summaries(program=TC06)
    assert (day.start, day.end, day.hours) == (time(6), time(22), 16.0)
    assert (night.start, night.end, night.hours) == (time(22), time(6), 8.0)
    assert day.dose_mcg == pytest.approx(200, abs=EXACT)
    assert night.dose_mcg == pytest.approx(200, abs=EXACT)
    assert day.volume_ml == pytest.approx(0.4, abs=EXACT)
    assert night.volume_ml == pytest.approx(0.4, abs=EXACT)


def test_tc06_days_to_alarm_on_20_ml_pump():
    # (20 - 2) / 0.8 = 22.5 days on average. Filled at 14:00 UTC, the real schedule gives
    # 22 days (17.6 mL), then 14:00-22:00 at 0.025 mL/h = 0.2 mL and 22:00-02:00 at
    # 0.05 mL/h = 0.2 mL: 0.4 mL in 12 h -> exactly 22.5 days.
    fill = ReservoirFill(
        filled_at=utc(2025, 3, 3, 14), reservoir_volume_ml=20, programs=TC06, timezone="UTC"
    )
    projection = project_refill(
        fill=fill, low_reservoir_alarm_ml=2, refill_buffer_days=7, max_refill_interval_days=180
    )
    assert projection.days_to_low_reservoir_alarm == pytest.approx(22.5, abs=EXACT)


def test_tc06_guard_60_mcg_per_hour_totals_1440_and_hard_stops():
    daily = parse_quantity("60 mcg/h", field="daily_dose", canonical_unit="mcg/day")
    assert daily == pytest.approx(1440.0, abs=EXACT)
    flat = FlexProgram(concentration_mcg_per_ml=500, steps=(FlexStep(time(0), 60.0),))
    assert program_rates(program=flat).daily_dose_mcg == pytest.approx(1440.0, abs=EXACT)
    verdict = assess_dose_change(
        current_daily_dose_mcg=400,
        proposed_daily_dose_mcg=daily,
        origin="spinal",
        context="titration",
        limits=LABEL_LIMITS,
    )
    assert verdict.change_percent == pytest.approx(260.0, abs=EXACT)
    assert verdict.verdict == "hard_stop"
    assert "unit_error_suspected" in [r.code for r in verdict.reasons]
