"""Dead volume, concentration change (bridge), priming."""

from __future__ import annotations

import pytest

from dosing.engine.boluses import (
    Bolus,
    catheter_volume_ml,
    concentration_change,
    dead_volume_ml,
    priming_volume_ml,
)

from .label_values import EXACT, utc


def test_catheter_volume_prometra_110_cm_trimmed_10():
    # §3.8: (110 - 10) cm x 0.0026 mL/cm = 0.26 mL
    assert catheter_volume_ml(implanted_length_cm=100, volume_per_cm_ml=0.0026) == pytest.approx(
        0.26, abs=EXACT
    )


def test_dead_volume_is_tubing_plus_catheter():
    # SynchroMed II tubing 0.140 mL (§3.1) + 0.26 mL catheter = 0.40 mL
    assert dead_volume_ml(pump_tubing_volume_ml=0.14, catheter_volume_ml=0.26) == pytest.approx(
        0.4, abs=EXACT
    )


@pytest.mark.parametrize(
    ("include_tubing", "expected"),
    [
        pytest.param(True, 0.4, id="new pump: tubing 0.14 + catheter 0.26"),
        pytest.param(False, 0.26, id="after pre-implant prime: catheter only"),
    ],
)
def test_priming_volume(include_tubing, expected):
    volume = priming_volume_ml(
        pump_tubing_volume_ml=0.14, catheter_volume_ml=0.26, include_pump_tubing=include_tubing
    )
    assert volume == pytest.approx(expected, abs=EXACT)


CHANGES = [
    # 2000 -> 500, 600 mcg/day, 0.26 mL: r_old 0.3, r_new 1.2; no bridge: 600 x 2000/500 =
    # 2400 mcg/day (400 %) for 0.26/1.2 d = 5.2 h, 520 mcg; bridge 0.26 mL at 0.3 mL/d = 20.8 h.
    pytest.param(
        2000,
        500,
        600,
        0.26,
        0.3,
        1.2,
        2400,
        400,
        5.2,
        520,
        20.8,
        id="2000->500 overdose without bridge",
    ),
    # 500 -> 1000, 300 mcg/day, 0.40 mL: r_old 0.6, r_new 0.3; no bridge 150 mcg/day (50 %)
    # for 0.4/0.3 d = 32 h, 200 mcg; bridge 0.4/0.6 d = 16 h.
    pytest.param(
        500,
        1000,
        300,
        0.40,
        0.6,
        0.3,
        150,
        50,
        32,
        200,
        16,
        id="500->1000 half dose without bridge",
    ),
    # 1000 -> 2000, 800 mcg/day, 0.2 mL: r_old 0.8, r_new 0.4; 400 mcg/day (50 %) for 12 h,
    # 200 mcg; bridge 0.2/0.8 d = 6 h.
    pytest.param(1000, 2000, 800, 0.2, 0.8, 0.4, 400, 50, 12, 200, 6, id="1000->2000"),
]


@pytest.mark.parametrize(
    (
        "c_old",
        "c_new",
        "dose",
        "dead",
        "r_old",
        "r_new",
        "effective",
        "percent",
        "washout_h",
        "drug",
        "bridge_h",
    ),
    CHANGES,
)
def test_concentration_change(
    c_old, c_new, dose, dead, r_old, r_new, effective, percent, washout_h, drug, bridge_h
):
    result = concentration_change(
        old_concentration_mcg_per_ml=c_old,
        new_concentration_mcg_per_ml=c_new,
        daily_dose_mcg=dose,
        dead_volume_ml=dead,
    )
    assert result.bridge_required
    assert result.old_rate_ml_per_day == pytest.approx(r_old, abs=EXACT)
    assert result.new_rate_ml_per_day == pytest.approx(r_new, abs=EXACT)
    assert result.without_bridge.effective_daily_dose_mcg == pytest.approx(effective, abs=EXACT)
    assert result.without_bridge.percent_of_prescribed == pytest.approx(percent, abs=EXACT)
    assert result.without_bridge.duration_hours == pytest.approx(washout_h, abs=EXACT)
    assert result.without_bridge.drug_mcg == pytest.approx(drug, abs=EXACT)
    assert result.bridge_bolus is not None
    assert result.bridge_bolus.volume_ml == pytest.approx(dead, abs=EXACT)
    assert result.bridge_bolus.duration_hours == pytest.approx(bridge_h, abs=EXACT)
    assert result.bridge_bolus.drug_mcg == pytest.approx(drug, abs=EXACT)


def test_same_concentration_needs_no_bridge():
    result = concentration_change(
        old_concentration_mcg_per_ml=500,
        new_concentration_mcg_per_ml=500,
        daily_dose_mcg=300,
        dead_volume_ml=0.26,
    )
    assert result.bridge_required is False
    assert result.bridge_bolus is None
    assert result.without_bridge.percent_of_prescribed == pytest.approx(100, abs=EXACT)
    assert result.without_bridge.effective_daily_dose_mcg == pytest.approx(300, abs=EXACT)


def test_bolus_at_rate_computes_duration():
    # 0.26 mL at 1.2 mL/day = 0.21667 d = 5.2 h
    bolus = Bolus.at_rate(
        start=utc(2025, 1, 1), volume_ml=0.26, rate_ml_per_day=1.2, replaces_basal=True
    )
    assert bolus.duration_hours == pytest.approx(5.2, abs=EXACT)
    assert bolus.replaces_basal


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda: dead_volume_ml(pump_tubing_volume_ml=0, catheter_volume_ml=0),
            id="zero dead volume",
        ),
        pytest.param(
            lambda: catheter_volume_ml(implanted_length_cm=-1, volume_per_cm_ml=0.0026),
            id="negative length",
        ),
        pytest.param(
            lambda: concentration_change(
                old_concentration_mcg_per_ml=0,
                new_concentration_mcg_per_ml=500,
                daily_dose_mcg=300,
                dead_volume_ml=0.2,
            ),
            id="zero concentration",
        ),
        pytest.param(
            lambda: Bolus(start=utc(2025, 1, 1), volume_ml=0.2, replaces_basal=True),
            id="instant bolus replacing basal",
        ),
        pytest.param(lambda: Bolus(start=utc(2025, 1, 1), volume_ml=-0.2), id="negative bolus"),
    ],
)
def test_invalid_bolus_inputs_raise(call):
    with pytest.raises(ValueError):
        call()
