"""Fixed-rate fill recipes (§3.10) and dilutions (§6.6)."""

from __future__ import annotations

import pytest

from dosing.engine.dilution import DilutionError, solve_dilution
from dosing.engine.fixed_rate import (
    FixedRateError,
    fixed_rate_fill,
    required_concentration_mcg_per_ml,
)

from .label_values import EXACT

FIXED = [
    # r 1 mL/d, 20 mL, 500 mcg/d, stock 2000, +3 mL: C = 500; 20 d; 10000 mcg; 23 mL prepared;
    # drug 500 x 23 / 2000 = 5.75 mL; saline 17.25 mL.
    pytest.param(
        1.0, 20, 500, 2000, 3, 500, 20, 10000, 23, 5.75, 17.25, id="1 mL/d 20 mL 500 mcg/d"
    ),
    # r 0.5, 30 mL, 250 mcg/d, stock 500, no excess: C = 500 = stock; 60 d; 15000 mcg; all drug.
    pytest.param(0.5, 30, 250, 500, 0, 500, 60, 15000, 30, 30, 0, id="required = stock, no saline"),
    # r 1.5, 35 mL, 150 mcg/d, stock 2000, +3: C = 100; 23.33 d; 3500 mcg; 38 mL;
    # drug 100 x 38 / 2000 = 1.9 mL; saline 36.1 mL.
    pytest.param(
        1.5, 35, 150, 2000, 3, 100, 35 / 1.5, 3500, 38, 1.9, 36.1, id="1.5 mL/d 35 mL 150 mcg/d"
    ),
]


@pytest.mark.parametrize(
    (
        "rate",
        "reservoir",
        "dose",
        "stock",
        "excess",
        "conc",
        "days",
        "total",
        "prepared",
        "drug_ml",
        "saline_ml",
    ),
    FIXED,
)
def test_fixed_rate_fill(
    rate, reservoir, dose, stock, excess, conc, days, total, prepared, drug_ml, saline_ml
):
    result = fixed_rate_fill(
        flow_rate_ml_per_day=rate,
        reservoir_volume_ml=reservoir,
        daily_dose_mcg=dose,
        stock_concentration_mcg_per_ml=stock,
        priming_excess_ml=excess,
    )
    assert result.required_concentration_mcg_per_ml == pytest.approx(conc, abs=EXACT)
    assert result.running_days == pytest.approx(days, abs=EXACT)
    assert result.total_drug_mcg == pytest.approx(total, abs=EXACT)
    assert result.prepared_volume_ml == pytest.approx(prepared, abs=EXACT)
    assert result.drug_volume_ml == pytest.approx(drug_ml, abs=EXACT)
    assert result.diluent_volume_ml == pytest.approx(saline_ml, abs=EXACT)


def test_required_concentration_above_stock_is_refused():
    # 300 mcg/d at 0.5 mL/d needs 600 mcg/mL > 500 stock.
    with pytest.raises(FixedRateError, match="above the stock"):
        fixed_rate_fill(
            flow_rate_ml_per_day=0.5,
            reservoir_volume_ml=30,
            daily_dose_mcg=300,
            stock_concentration_mcg_per_ml=500,
            priming_excess_ml=0,
        )


def test_required_concentration():
    assert required_concentration_mcg_per_ml(
        daily_dose_mcg=600, flow_rate_ml_per_day=1.5
    ) == pytest.approx(400, abs=EXACT)


DILUTIONS = [
    # C1·V1 = C2·V2
    pytest.param(2000, None, 1000, 20, 2000, 10, 1000, 20, 10, id="V1 = 1000 x 20 / 2000 = 10 mL"),
    pytest.param(2000, 5, None, 20, 2000, 5, 500, 20, 15, id="C2 = 2000 x 5 / 20 = 500"),
    pytest.param(500, 4, 200, None, 500, 4, 200, 10, 6, id="V2 = 500 x 4 / 200 = 10 mL"),
    pytest.param(None, 2, 100, 20, 1000, 2, 100, 20, 18, id="C1 = 100 x 20 / 2 = 1000"),
    pytest.param(500, None, 500, 20, 500, 20, 500, 20, 0, id="same concentration, no diluent"),
]


@pytest.mark.parametrize(
    ("c1", "v1", "c2", "v2", "e_c1", "e_v1", "e_c2", "e_v2", "diluent"), DILUTIONS
)
def test_dilution(c1, v1, c2, v2, e_c1, e_v1, e_c2, e_v2, diluent):
    result = solve_dilution(
        stock_concentration_mcg_per_ml=c1,
        stock_volume_ml=v1,
        final_concentration_mcg_per_ml=c2,
        final_volume_ml=v2,
    )
    assert result.stock_concentration_mcg_per_ml == pytest.approx(e_c1, abs=EXACT)
    assert result.stock_volume_ml == pytest.approx(e_v1, abs=EXACT)
    assert result.final_concentration_mcg_per_ml == pytest.approx(e_c2, abs=EXACT)
    assert result.final_volume_ml == pytest.approx(e_v2, abs=EXACT)
    assert result.diluent_volume_ml == pytest.approx(diluent, abs=EXACT)
    assert result.drug_mcg == pytest.approx(e_c1 * e_v1, abs=EXACT)


@pytest.mark.parametrize(
    ("c1", "v1", "c2", "v2", "message"),
    [
        pytest.param(500, None, 1000, 20, "above the stock", id="C2 > C1"),
        pytest.param(None, 25, 100, 20, "above the stock", id="V1 > V2 means C2 > C1"),
        pytest.param(500, None, None, 20, "exactly three", id="two unknowns"),
        pytest.param(500, 5, 100, 25, "exactly three", id="nothing unknown"),
        pytest.param(500, None, 0, 20, "> 0", id="zero concentration"),
    ],
)
def test_invalid_dilutions(c1, v1, c2, v2, message):
    with pytest.raises(ValueError, match=message):
        solve_dilution(
            stock_concentration_mcg_per_ml=c1,
            stock_volume_ml=v1,
            final_concentration_mcg_per_ml=c2,
            final_volume_ml=v2,
        )


def test_dilution_error_is_a_value_error():
    assert issubclass(DilutionError, ValueError)
    assert issubclass(FixedRateError, ValueError)


@pytest.mark.parametrize(
    ("flow", "concentration", "dose"),
    [(1.0, 400.0, 400.0), (0.5, 2000.0, 1000.0), (1.5, 500.0, 750.0)],
)
def test_fixed_rate_program_delivers_rate_times_concentration(flow, concentration, dose):
    from dosing.engine.fixed_rate import fixed_rate_program

    program = fixed_rate_program(flow_rate_ml_per_day=flow, concentration_mcg_per_ml=concentration)
    assert program.daily_dose_mcg == pytest.approx(dose, abs=1e-12)
    assert program.concentration_mcg_per_ml == concentration
