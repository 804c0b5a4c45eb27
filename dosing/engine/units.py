"""Units at the edge of the engine: parse user quantities with pint, format them for display.

Pint is used only here. Every other module works on plain floats whose unit is in the
name (`daily_dose_mcg`, `concentration_mcg_per_ml`, ...). pint 0.25 already knows mcg, µg
(micro sign and Greek mu), ug, mg, mL, ml, h, min and day, so no unit is redefined; the
registry is still a single module-level object so that definitions stay in one place.

Canonical units (docs/dosing-api.md "Quantities"): concentration mcg/mL, daily dose mcg/day,
step rate mcg/h, volumes mL, flow rate mL/day, screening dose mcg, effect duration h.
A quantity of the same dimension in another unit is CONVERTED: "60 mcg/h" given for a
daily dose becomes 1440 mcg/day (the ISMP 60 mcg/h vs 60 mcg/day case, domain.md §3.4).
A bare mass ("300 mcg") is refused for a daily dose: it does not say per what.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Final

import pint

ureg: Final[pint.UnitRegistry] = pint.UnitRegistry()

# What each canonical unit measures and an example, used in every error message.
_DESCRIPTIONS: Final[dict[str, tuple[str, str]]] = {
    "mcg/mL": ("a concentration", "500 mcg/mL"),
    "mcg/day": ("a daily dose", "300 mcg/day"),
    "mcg/h": ("a dose rate", "12.5 mcg/h"),
    "mL": ("a volume", "20 mL"),
    "mL/day": ("a flow rate", "0.6 mL/day"),
    "mcg": ("a dose", "50 mcg"),
    "h": ("a duration", "8 h"),
    "day": ("a duration", "7 day"),
    "cm": ("a length", "50 cm"),
    "mL/cm": ("a volume per length", "0.0026 mL/cm"),
}

# "number unit": a plain decimal number (optional exponent) followed by a unit expression.
_QUANTITY_RE: Final = re.compile(
    r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([^\d\s.+-].*?)\s*$"
)
_MAX_TEXT_LENGTH: Final = 64


class QuantityError(ValueError):
    """A field's value is not a usable quantity; `message` names the expected unit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _expected(canonical_unit: str) -> str:
    what, example = _DESCRIPTIONS.get(canonical_unit, ("a quantity", f"1 {canonical_unit}"))
    return f'expected {what} in {canonical_unit} (e.g. "{example}")'


@lru_cache(maxsize=256)
def _factor(unit_text: str, canonical_unit: str) -> float:
    """Multiplier from `unit_text` to `canonical_unit`.

    Raises pint errors for unknown units and DimensionalityError for the wrong dimension.
    The factor is rounded to 12 significant digits: all real unit ratios here are short
    decimals (1000, 24, 1440, 1/24 ...), and this removes pint's float noise so that
    "0.5 mg/mL" is exactly 500 mcg/mL.
    """
    units = ureg.parse_units(unit_text)
    factor = float(ureg.Quantity(1.0, units).to(canonical_unit).magnitude)
    return float(f"{factor:.12g}")


def parse_quantity(
    value: object, *, field: str, canonical_unit: str, allow_zero: bool = False
) -> float:
    """Parse a JSON number (already in `canonical_unit`) or a "number unit" string.

    1. Refuse bools and anything that is neither int, float nor str.
    2. A number is taken as given in the canonical unit.
    3. A string must be "<decimal number> <unit expression>"; the unit is parsed by pint and
       converted to the canonical unit (wrong dimension and unknown units are refused).
    4. The result must be finite and positive (or zero when `allow_zero`).
    Every refusal is a QuantityError naming `field` and the expected unit.
    """
    expected = _expected(canonical_unit)
    if isinstance(value, bool):
        raise QuantityError(field, f"{expected}, got a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number = _parse_text(value, field=field, canonical_unit=canonical_unit)
    else:
        raise QuantityError(field, f"{expected}, got {type(value).__name__}")
    if not math.isfinite(number):
        raise QuantityError(field, f"{expected}, got a non-finite value {value!r}")
    if number < 0:
        raise QuantityError(field, f"{expected}, got a negative value {value!r}")
    if number == 0 and not allow_zero:
        raise QuantityError(field, f"{expected}, got zero; it must be greater than 0")
    return number


def _parse_text(text: str, *, field: str, canonical_unit: str) -> float:
    expected = _expected(canonical_unit)
    if len(text) > _MAX_TEXT_LENGTH:
        raise QuantityError(field, f"{expected}, got a text longer than {_MAX_TEXT_LENGTH}")
    match = _QUANTITY_RE.match(text)
    if match is None:
        if text.strip() and _looks_like_number(text):
            raise QuantityError(field, f"{expected}, got {text!r} without a unit")
        raise QuantityError(field, f"{expected}, got {text!r}, which is not a quantity")
    number_text, unit_text = match.groups()
    try:
        factor = _factor(unit_text, canonical_unit)
    except pint.DimensionalityError:
        raise QuantityError(
            field, f"{expected}, got {text!r}, which has the wrong dimension"
        ) from None
    except Exception:  # pint raises many kinds (UndefinedUnitError, AssertionError, ...)
        raise QuantityError(field, f"{expected}, got {text!r} with an unknown unit") from None
    return float(number_text) * factor


def _looks_like_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def format_quantity(value: float, *, unit: str, significant_digits: int = 3) -> str:
    """Display text such as "0.6 mL/day" (the engine never rounds; only display does).

    Uses `significant_digits` significant digits, at least all integer digits, and drops
    trailing zeros: 1440.0 -> "1440 mcg/day", 0.025 -> "0.025 mL/h", 20.8333 -> "20.8 h".
    """
    if not math.isfinite(value):
        return f"{value} {unit}"
    if value == 0:
        return f"0 {unit}"
    digits_before_point = max(int(math.floor(math.log10(abs(value)))) + 1, 0)
    decimals = max(significant_digits - digits_before_point, 0)
    if digits_before_point == 0:
        decimals = significant_digits - int(math.floor(math.log10(abs(value)))) - 1
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} {unit}"
