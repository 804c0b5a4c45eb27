"""Quantity parsing at the edge: conversions, unit confusion, and every refusal."""

from __future__ import annotations

import math

import pytest

from dosing.engine.programs import SimpleProgram
from dosing.engine.projection import ReservoirFill, project_refill
from dosing.engine.units import QuantityError, format_quantity, parse_quantity

from .label_values import EXACT, utc


@pytest.mark.parametrize(
    ("value", "canonical", "expected"),
    [
        pytest.param("500 mcg/mL", "mcg/mL", 500.0, id="mcg/mL as is"),
        pytest.param("0.5 mg/mL", "mcg/mL", 500.0, id="0.5 mg/mL = 500 mcg/mL"),
        pytest.param("500 ug/ml", "mcg/mL", 500.0, id="ug/ml"),
        pytest.param("500 µg/mL", "mcg/mL", 500.0, id="micro sign"),
        pytest.param("500 μg/mL", "mcg/mL", 500.0, id="greek mu"),
        pytest.param("2 mg/mL", "mcg/mL", 2000.0, id="2 mg/mL = 2000 mcg/mL"),
        pytest.param("12.5 mcg/h", "mcg/h", 12.5, id="step rate mcg/h"),
        pytest.param("0.3 mcg/min", "mcg/h", 18.0, id="0.3 mcg/min x 60 = 18 mcg/h"),
        pytest.param("20 mL", "mL", 20.0, id="volume mL"),
        pytest.param("0.02 L", "mL", 20.0, id="0.02 L = 20 mL"),
        pytest.param("300 mcg/day", "mcg/day", 300.0, id="daily dose as is"),
        pytest.param("0.3 mg/day", "mcg/day", 300.0, id="0.3 mg/day = 300 mcg/day"),
        pytest.param("12.5 mcg/h", "mcg/day", 300.0, id="12.5 mcg/h x 24 = 300 mcg/day"),
        pytest.param("60 mcg/h", "mcg/day", 1440.0, id="ISMP 60 mcg/h x 24 = 1440 mcg/day"),
        pytest.param("0.025 mL/h", "mL/day", 0.6, id="0.025 mL/h x 24 = 0.6 mL/day"),
        pytest.param("50 mcg", "mcg", 50.0, id="screening dose"),
        pytest.param("0.05 mg", "mcg", 50.0, id="0.05 mg = 50 mcg"),
        pytest.param("480 min", "h", 8.0, id="480 min = 8 h"),
        pytest.param(" 20mL ", "mL", 20.0, id="no space, padding"),
        pytest.param(500, "mcg/mL", 500.0, id="JSON int in canonical unit"),
        pytest.param(0.6, "mL/day", 0.6, id="JSON float in canonical unit"),
    ],
)
def test_parse_quantity_converts_to_canonical(value, canonical, expected):
    parsed = parse_quantity(value, field="f", canonical_unit=canonical)
    assert parsed == pytest.approx(expected, abs=EXACT)
    assert isinstance(parsed, float)


@pytest.mark.parametrize("text", ["300 mcg/day", "300 µg/day", "300 ug/day", "0.3 mg/day"])
def test_same_dose_in_every_mass_unit_gives_the_same_projection(text):
    dose = parse_quantity(text, field="daily_dose", canonical_unit="mcg/day")
    concentration = parse_quantity("0.5 mg/mL", field="concentration", canonical_unit="mcg/mL")
    fill = ReservoirFill(
        filled_at=utc(2025, 3, 3),
        reservoir_volume_ml=20,
        programs=SimpleProgram(concentration_mcg_per_ml=concentration, daily_dose_mcg=dose),
    )
    projection = project_refill(
        fill=fill, low_reservoir_alarm_ml=2, refill_buffer_days=7, max_refill_interval_days=180
    )
    assert dose == 300.0  # exact: conversion factors carry no float noise
    assert projection.low_reservoir_alarm_at == utc(2025, 4, 2)


def test_hourly_rate_given_for_a_daily_dose_is_converted_not_read_as_per_day():
    assert parse_quantity("60 mcg/h", field="daily_dose", canonical_unit="mcg/day") == 1440.0


BAD = [
    pytest.param(
        "500 mL/mcg", "concentration", "mcg/mL", "wrong dimension", id="inverted concentration"
    ),
    pytest.param("20 mcg", "reservoir_volume", "mL", "wrong dimension", id="mass for a volume"),
    pytest.param(
        "300 mcg", "daily_dose", "mcg/day", "wrong dimension", id="bare mass for a daily dose"
    ),
    pytest.param("20 mL", "daily_dose", "mcg/day", "wrong dimension", id="volume for a dose"),
    pytest.param("500 foo/mL", "concentration", "mcg/mL", "unknown unit", id="unknown unit"),
    pytest.param("500 mcg/mL*2", "concentration", "mcg/mL", "unknown unit", id="expression"),
    pytest.param("lots", "reservoir_volume", "mL", "not a quantity", id="not a quantity"),
    pytest.param("", "reservoir_volume", "mL", "not a quantity", id="empty string"),
    pytest.param("500", "concentration", "mcg/mL", "without a unit", id="number text without unit"),
    pytest.param(True, "reservoir_volume", "mL", "boolean", id="bool"),
    pytest.param(None, "reservoir_volume", "mL", "NoneType", id="null"),
    pytest.param([20], "reservoir_volume", "mL", "list", id="list"),
    pytest.param(math.nan, "reservoir_volume", "mL", "non-finite", id="nan number"),
    pytest.param(math.inf, "reservoir_volume", "mL", "non-finite", id="inf number"),
    pytest.param("1e400 mL", "reservoir_volume", "mL", "non-finite", id="overflowing text"),
    pytest.param(-1, "reservoir_volume", "mL", "negative", id="negative number"),
    pytest.param("-20 mL", "reservoir_volume", "mL", "negative", id="negative text"),
    pytest.param(0, "daily_dose", "mcg/day", "zero", id="zero number"),
    pytest.param("0 mcg/mL", "concentration", "mcg/mL", "zero", id="zero text"),
    pytest.param("x" * 100, "reservoir_volume", "mL", "longer than", id="too long"),
]


@pytest.mark.parametrize(("value", "field", "canonical", "problem"), BAD)
def test_bad_input_raises_quantity_error_naming_field_and_unit(value, field, canonical, problem):
    with pytest.raises(QuantityError) as caught:
        parse_quantity(value, field=field, canonical_unit=canonical)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.field == field
    assert f"in {canonical} (e.g. " in error.message
    assert problem in error.message
    assert str(error).startswith(f"{field}: expected ")


def test_concentration_message_shows_the_expected_unit_and_example():
    with pytest.raises(QuantityError) as caught:
        parse_quantity("500 mL/mcg", field="concentration", canonical_unit="mcg/mL")
    assert caught.value.message.startswith(
        'expected a concentration in mcg/mL (e.g. "500 mcg/mL"), got'
    )


def test_zero_allowed_when_asked():
    assert (
        parse_quantity("0 mL", field="priming_excess", canonical_unit="mL", allow_zero=True) == 0.0
    )


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        pytest.param(1440.0, "mcg/day", "1440 mcg/day", id="integer"),
        pytest.param(0.025, "mL/h", "0.025 mL/h", id="small"),
        pytest.param(20.833333, "h", "20.8 h", id="three significant digits"),
        pytest.param(0.6000000000000001, "mL/day", "0.6 mL/day", id="float noise hidden"),
        pytest.param(0.0, "mL", "0 mL", id="zero"),
    ],
)
def test_format_quantity_for_display(value, unit, text):
    assert format_quantity(value, unit=unit) == text
