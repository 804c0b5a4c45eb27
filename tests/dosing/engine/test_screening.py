"""Screening boluses and starting dose (§2.2-2.3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dosing.engine.screening import check_screening_bolus, screening_volume_ml, starting_daily_dose

from .label_values import EXACT, utc


@pytest.mark.parametrize(
    ("dose", "volume"),
    [
        pytest.param(25, 0.5, id="25 mcg = 0.5 mL"),
        pytest.param(50, 1.0, id="50 mcg = 1 mL"),
        pytest.param(75, 1.5, id="75 mcg = 1.5 mL"),
        pytest.param(100, 2.0, id="100 mcg = 2 mL"),
    ],
)
def test_screening_volume_at_50_mcg_per_ml(dose, volume, screening_rules):
    assert screening_volume_ml(dose_mcg=dose, rules=screening_rules) == pytest.approx(
        volume, abs=EXACT
    )


@pytest.mark.parametrize(
    ("dose", "hours", "daily", "word"),
    [
        pytest.param(50, 6, 100, "or less", id="50 mcg, 6 h -> 2x = 100"),
        pytest.param(50, 8, 100, "or less", id="50 mcg, exactly 8 h -> 2x = 100"),
        pytest.param(50, 8.5, 50, "more than", id="50 mcg, 8.5 h -> 1x = 50"),
        pytest.param(75, 12, 75, "more than", id="75 mcg, 12 h -> 1x = 75"),
        pytest.param(100, 4, 200, "or less", id="100 mcg, 4 h -> 2x = 200"),
        pytest.param(25, 5, 50, "or less", id="child 25 mcg, 5 h -> 2x = 50"),
    ],
)
def test_starting_daily_dose(dose, hours, daily, word, screening_rules):
    result = starting_daily_dose(
        screening_dose_mcg=dose, effect_duration_hours=hours, rules=screening_rules
    )
    assert result.daily_dose_mcg == pytest.approx(daily, abs=EXACT)
    assert word in result.rule
    assert "8 h" in result.rule


@pytest.mark.parametrize(
    ("dose", "hours_since", "verdict", "codes"),
    [
        pytest.param(50, None, "ok", set(), id="first bolus 50 ok"),
        pytest.param(75, 24, "ok", set(), id="75 after 24 h ok"),
        pytest.param(
            75, 23, "soft_stop", {"screening_interval_too_short"}, id="75 after 23 h soft"
        ),
        pytest.param(125, None, "hard_stop", {"above_max_screening_bolus"}, id="125 mcg hard"),
        pytest.param(
            150,
            2,
            "hard_stop",
            {"above_max_screening_bolus", "screening_interval_too_short"},
            id="150 after 2 h hard",
        ),
    ],
)
def test_check_screening_bolus(dose, hours_since, verdict, codes, screening_rules):
    at = utc(2025, 5, 2, 9)
    previous = None if hours_since is None else at - timedelta(hours=hours_since)
    result = check_screening_bolus(
        dose_mcg=dose, at=at, previous_bolus_at=previous, rules=screening_rules
    )
    assert result.verdict == verdict
    assert {r.code for r in result.reasons} == codes
    assert result.volume_ml == pytest.approx(dose / 50, abs=EXACT)
