"""Refill reconciliation in both directions (§3.6, §6.10)."""

from __future__ import annotations

import pytest

from dosing.engine.programs import SimpleProgram
from dosing.engine.projection import ReservoirFill
from dosing.engine.reconciliation import reconcile_refill

from .label_values import EXACT, TOLERANCES, utc


def fill_of(volume: float, dose: float) -> ReservoirFill:
    return ReservoirFill(
        filled_at=utc(2025, 3, 3),
        reservoir_volume_ml=volume,
        programs=SimpleProgram(concentration_mcg_per_ml=500, daily_dose_mcg=dose),
    )


CASES = [
    # 20 mL, 0.6 mL/d, refill after 20 d: expected delivered 12, residual 8.
    pytest.param(20, 300, 20, 8.0, 8.0, 0.0, 12.0, 12.0, 0.0, (), id="20 mL exact match"),
    # removed 10: +2 mL, delivered 10 vs 12 = -16.67 % -> under-delivery + residual (> 1 mL).
    pytest.param(
        20,
        300,
        20,
        10.0,
        8.0,
        2.0,
        12.0,
        10.0,
        -100 / 6,
        ("under_delivery", "residual_discrepancy"),
        id="20 mL under-delivery",
    ),
    # removed 6.5: -1.5 mL, delivered 13.5 = +12.5 % (within 14.5) -> residual only.
    pytest.param(
        20,
        300,
        20,
        6.5,
        8.0,
        -1.5,
        12.0,
        13.5,
        12.5,
        ("residual_discrepancy",),
        id="20 mL residual only",
    ),
    # removed 6.0: -2 mL, delivered 14 = +16.67 % -> over-delivery + residual.
    pytest.param(
        20,
        300,
        20,
        6.0,
        8.0,
        -2.0,
        12.0,
        14.0,
        100 / 6,
        ("over_delivery", "residual_discrepancy"),
        id="20 mL over-delivery",
    ),
    # removed 9.0: +1 mL exactly is not beyond 1 mL; delivered 11 = -8.33 %.
    pytest.param(
        20, 300, 20, 9.0, 8.0, 1.0, 12.0, 11.0, -100 / 12, (), id="20 mL 1 mL on the boundary"
    ),
    # 40 mL, 1.2 mL/d, 20 d: expected 16. removed 17.5: +1.5 <= 2 mL; 22.5 vs 24 = -6.25 %.
    pytest.param(40, 600, 40, 17.5, 16.0, 1.5, 24.0, 22.5, -6.25, (), id="40 mL 1.5 mL ok"),
    # removed 18.5: +2.5 > 2 mL; 21.5 vs 24 = -10.42 % -> residual only.
    pytest.param(
        40,
        600,
        40,
        18.5,
        16.0,
        2.5,
        24.0,
        21.5,
        -2.5 / 24 * 100,
        ("residual_discrepancy",),
        id="40 mL residual 2.5",
    ),
    # removed 12.0: -4 mL; 28 vs 24 = +16.67 % -> over + residual.
    pytest.param(
        40,
        600,
        40,
        12.0,
        16.0,
        -4.0,
        24.0,
        28.0,
        100 / 6,
        ("over_delivery", "residual_discrepancy"),
        id="40 mL over-delivery",
    ),
]


@pytest.mark.parametrize(
    (
        "volume",
        "dose",
        "capacity",
        "removed",
        "expected",
        "discrepancy",
        "exp_deliv",
        "act_deliv",
        "percent",
        "flags",
    ),
    CASES,
)
def test_reconciliation(
    volume, dose, capacity, removed, expected, discrepancy, exp_deliv, act_deliv, percent, flags
):
    result = reconcile_refill(
        fill=fill_of(volume, dose),
        refilled_at=utc(2025, 3, 23),
        volume_removed_ml=removed,
        reservoir_capacity_ml=capacity,
        tolerances=TOLERANCES,
    )
    assert result.expected_volume_ml == pytest.approx(expected, abs=EXACT)
    assert result.discrepancy_ml == pytest.approx(discrepancy, abs=EXACT)
    assert result.expected_delivered_ml == pytest.approx(exp_deliv, abs=EXACT)
    assert result.actual_delivered_ml == pytest.approx(act_deliv, abs=EXACT)
    assert result.delivered_discrepancy_percent == pytest.approx(percent, abs=EXACT)
    assert result.flags == flags


def test_pump_that_ran_empty_expects_zero():
    # 20 mL at 0.6 mL/d is empty after 33.3 d; refill at 40 d expects 0 mL and 20 delivered.
    result = reconcile_refill(
        fill=fill_of(20, 300),
        refilled_at=utc(2025, 4, 12),
        volume_removed_ml=0,
        reservoir_capacity_ml=20,
        tolerances=TOLERANCES,
    )
    assert result.expected_volume_ml == 0.0
    assert result.expected_delivered_ml == pytest.approx(20, abs=EXACT)
    assert result.flags == ()


def test_refill_before_fill_is_refused():
    with pytest.raises(ValueError, match="after filled_at"):
        reconcile_refill(
            fill=fill_of(20, 300),
            refilled_at=utc(2025, 3, 1),
            volume_removed_ml=5,
            reservoir_capacity_ml=20,
            tolerances=TOLERANCES,
        )
