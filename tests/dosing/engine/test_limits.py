"""Dose-change verdicts (label values from label_values.py, domain.md §2.3-2.4, §7 TC-06)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dosing.engine.limits import assess_dose_change

from .label_values import EXACT, LABEL_LIMITS, utc

IMPLANT = utc(2025, 1, 1)

CASES = [
    # (current, proposed, origin, age, context, verdict, codes)
    # TC-06: 400 -> 1440 = x3.6 >= 2 -> unit error.
    pytest.param(
        400,
        1440,
        "spinal",
        None,
        "titration",
        "hard_stop",
        {"unit_error_suspected", "increase_above_titration_limit", "above_usual_maintenance_range"},
        id="TC-06 400->1440 hard stop",
    ),
    # 600 -> 25 (mcg/h typed as mcg/day): x0.042 <= 0.5 -> unit error.
    pytest.param(
        600,
        25,
        "spinal",
        None,
        "refill",
        "hard_stop",
        {"unit_error_suspected", "decrease_above_limit", "below_usual_maintenance_range"},
        id="600->25 hard stop",
    ),
    # 400 -> 800 = x2.0 exactly -> hard stop at the ratio.
    pytest.param(
        400,
        800,
        "spinal",
        None,
        "titration",
        "hard_stop",
        {"unit_error_suspected", "increase_above_titration_limit"},
        id="x2 exactly hard stop",
    ),
    # 400 -> 200 = x0.5 exactly -> hard stop.
    pytest.param(
        400,
        200,
        "spinal",
        None,
        "side_effect",
        "hard_stop",
        {"unit_error_suspected", "decrease_above_limit", "below_usual_maintenance_range"},
        id="x0.5 exactly hard stop",
    ),
    # spinal titration 10-30 %: 400 -> 520 = +30 % ok; -> 524 = +31 % soft; -> 420 = +5 % info.
    pytest.param(400, 520, "spinal", None, "titration", "ok", set(), id="spinal titration +30 ok"),
    pytest.param(
        400,
        524,
        "spinal",
        None,
        "titration",
        "soft_stop",
        {"increase_above_titration_limit"},
        id="spinal titration +31 soft",
    ),
    pytest.param(
        400,
        420,
        "spinal",
        None,
        "titration",
        "ok",
        {"increase_below_usual_step"},
        id="spinal titration +5 info",
    ),
    # cerebral titration 5-15 %: 200 -> 230 (+15) ok; 200 -> 232 (+16) soft.
    pytest.param(
        200, 230, "cerebral", None, "titration", "ok", set(), id="cerebral titration +15 ok"
    ),
    pytest.param(
        200,
        232,
        "cerebral",
        None,
        "titration",
        "soft_stop",
        {"increase_above_titration_limit"},
        id="cerebral titration +16 soft",
    ),
    # pediatric (age 8 < 12) titration 5-15 % even with spinal origin: 200 -> 240 (+20) soft.
    pytest.param(200, 230, "spinal", 8, "titration", "ok", set(), id="child titration +15 ok"),
    pytest.param(
        200,
        240,
        "spinal",
        8,
        "titration",
        "soft_stop",
        {"increase_above_titration_limit"},
        id="child titration +20 soft",
    ),
    # age 12 is not < 12: adult spinal limits, +20 ok (below 300 is fine while titrating).
    pytest.param(200, 240, "spinal", 12, "titration", "ok", set(), id="age 12 adult +20 ok"),
    # refill: spinal <= 40 %, cerebral <= 20 %, child (fixture) <= 20 %.
    pytest.param(500, 700, "spinal", None, "refill", "ok", set(), id="spinal refill +40 ok"),
    pytest.param(
        500,
        705,
        "spinal",
        None,
        "refill",
        "soft_stop",
        {"increase_above_refill_limit"},
        id="spinal refill +41 soft",
    ),
    pytest.param(500, 600, "cerebral", None, "refill", "ok", set(), id="cerebral refill +20 ok"),
    pytest.param(
        500,
        605,
        "cerebral",
        None,
        "refill",
        "soft_stop",
        {"increase_above_refill_limit"},
        id="cerebral refill +21 soft",
    ),
    pytest.param(
        300,
        375,
        "cerebral",
        10,
        "refill",
        "soft_stop",
        {"increase_above_refill_limit"},
        id="child refill +25 soft",
    ),
    # side effects: decrease 10-20 %.
    pytest.param(500, 400, "spinal", None, "side_effect", "ok", set(), id="side effect -20 ok"),
    pytest.param(500, 450, "spinal", None, "side_effect", "ok", set(), id="side effect -10 ok"),
    pytest.param(
        500,
        475,
        "spinal",
        None,
        "side_effect",
        "ok",
        {"decrease_below_usual_step"},
        id="side effect -5 info",
    ),
    pytest.param(
        500,
        350,
        "spinal",
        None,
        "side_effect",
        "soft_stop",
        {"decrease_above_limit"},
        id="side effect -30 soft",
    ),
    pytest.param(
        500,
        550,
        "spinal",
        None,
        "side_effect",
        "soft_stop",
        {"increase_in_side_effect_context"},
        id="increase for side effect soft",
    ),
    # usual maintenance ranges (spinal 300-800, cerebral 90-703):
    pytest.param(
        700,
        840,
        "spinal",
        None,
        "refill",
        "soft_stop",
        {"above_usual_maintenance_range"},
        id="refill +20 to 840 above 800",
    ),
    pytest.param(
        300,
        280,
        "spinal",
        None,
        "refill",
        "soft_stop",
        {"below_usual_maintenance_range", "decrease_below_usual_step"},
        id="refill to 280 below 300",
    ),
    pytest.param(
        700,
        805,
        "spinal",
        None,
        "titration",
        "soft_stop",
        {"above_usual_maintenance_range"},
        id="titration +15 to 805 above 800",
    ),
    pytest.param(
        600,
        720,
        "cerebral",
        None,
        "refill",
        "soft_stop",
        {"above_usual_maintenance_range"},
        id="cerebral refill 720 above 703",
    ),
    pytest.param(
        100,
        85,
        "cerebral",
        None,
        "side_effect",
        "soft_stop",
        {"below_usual_maintenance_range"},
        id="cerebral 85 below 90",
    ),
    pytest.param(
        100, 110, "spinal", None, "titration", "ok", set(), id="titration below range not flagged"
    ),
    # unchanged dose: no rule applies, even outside the usual range.
    pytest.param(900, 900, "spinal", None, "refill", "ok", set(), id="unchanged 900 ok"),
]


@pytest.mark.parametrize(
    ("current", "proposed", "origin", "age", "context", "verdict", "codes"), CASES
)
def test_dose_change_verdicts(current, proposed, origin, age, context, verdict, codes):
    result = assess_dose_change(
        current_daily_dose_mcg=current,
        proposed_daily_dose_mcg=proposed,
        origin=origin,
        age_years=age,
        context=context,
        limits=LABEL_LIMITS,
    )
    assert result.verdict == verdict
    assert {r.code for r in result.reasons} == codes
    assert result.change_percent == pytest.approx((proposed - current) / current * 100, abs=EXACT)
    assert all(r.message for r in result.reasons)


@pytest.mark.parametrize(
    ("current", "origin", "context", "low", "high"),
    [
        pytest.param(400, "spinal", "titration", 320, 520, id="spinal titration 400: 320-520"),
        pytest.param(500, "cerebral", "refill", 400, 600, id="cerebral refill 500: 400-600"),
        pytest.param(500, "spinal", "side_effect", 400, 500, id="side effect 500: 400-500"),
    ],
)
def test_allowed_range(current, origin, context, low, high):
    result = assess_dose_change(
        current_daily_dose_mcg=current,
        proposed_daily_dose_mcg=current,
        origin=origin,
        context=context,
        limits=LABEL_LIMITS,
    )
    assert result.allowed_min_daily_dose_mcg == pytest.approx(low, abs=EXACT)
    assert result.allowed_max_daily_dose_mcg == pytest.approx(high, abs=EXACT)


TIMING = [
    # 12 h after implant: no increase in the first 24 h (§2.3).
    pytest.param(
        IMPLANT + timedelta(hours=12),
        None,
        "soft_stop",
        {"increase_too_soon_after_implant"},
        id="12 h after implant",
    ),
    # 30 h after implant, last change 20 h ago: at most one increase per 24 h.
    pytest.param(
        IMPLANT + timedelta(hours=30),
        IMPLANT + timedelta(hours=10),
        "soft_stop",
        {"increase_too_soon_after_last_change"},
        id="last change 20 h ago",
    ),
    # 48 h after implant, last change exactly 24 h ago: allowed.
    pytest.param(
        IMPLANT + timedelta(hours=48),
        IMPLANT + timedelta(hours=24),
        "ok",
        set(),
        id="24 h exactly ok",
    ),
    # 23 h 59 min after implant: still too soon.
    pytest.param(
        IMPLANT + timedelta(hours=23, minutes=59),
        None,
        "soft_stop",
        {"increase_too_soon_after_implant"},
        id="23:59 after implant",
    ),
]


@pytest.mark.parametrize(("at", "last_change_at", "verdict", "codes"), TIMING)
def test_24_hour_rules_for_increases(at, last_change_at, verdict, codes):
    result = assess_dose_change(
        current_daily_dose_mcg=400,
        proposed_daily_dose_mcg=440,  # +10 %: within spinal titration
        origin="spinal",
        context="titration",
        limits=LABEL_LIMITS,
        implanted_at=IMPLANT,
        last_change_at=last_change_at,
        at=at,
    )
    assert result.verdict == verdict
    assert {r.code for r in result.reasons} == codes


def test_decrease_within_24_hours_is_allowed():
    result = assess_dose_change(
        current_daily_dose_mcg=400,
        proposed_daily_dose_mcg=360,
        origin="spinal",
        context="side_effect",
        limits=LABEL_LIMITS,
        implanted_at=IMPLANT,
        at=IMPLANT + timedelta(hours=2),
    )
    assert result.verdict == "ok"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"implanted_at": IMPLANT}, id="implanted_at without at"),
        pytest.param({"origin": "lumbar"}, id="bad origin"),
        pytest.param({"context": "whenever"}, id="bad context"),
        pytest.param({"proposed_daily_dose_mcg": 0}, id="zero dose"),
        pytest.param(
            {"last_change_at": IMPLANT + timedelta(days=2), "at": IMPLANT},
            id="last change in the future",
        ),
    ],
)
def test_invalid_dose_change_inputs(kwargs):
    arguments = {
        "current_daily_dose_mcg": 400,
        "proposed_daily_dose_mcg": 440,
        "origin": "spinal",
        "context": "titration",
        "limits": LABEL_LIMITS,
    } | kwargs
    with pytest.raises(ValueError):
        assess_dose_change(**arguments)
