"""Dilution: C1·V1 = C2·V2 (domain.md §6.6), diluent = V2 − V1 (preservative-free 0.9 % NaCl,
§2.5). Exactly one of the four values is unknown and is solved for. A final concentration
above the stock concentration is refused: dilution cannot concentrate.
"""

from __future__ import annotations

from dataclasses import dataclass

from .common import above_limit, require_positive


class DilutionError(ValueError):
    """The dilution is impossible or under-specified."""


@dataclass(frozen=True, slots=True)
class Dilution:
    """A complete dilution: stock (C1, V1), final (C2, V2) and the diluent volume."""

    stock_concentration_mcg_per_ml: float
    stock_volume_ml: float
    final_concentration_mcg_per_ml: float
    final_volume_ml: float
    diluent_volume_ml: float
    drug_mcg: float


def solve_dilution(
    *,
    stock_concentration_mcg_per_ml: float | None,
    stock_volume_ml: float | None,
    final_concentration_mcg_per_ml: float | None,
    final_volume_ml: float | None,
) -> Dilution:
    """Solve C1·V1 = C2·V2 for the one value given as None.

    1. Check that exactly one value is None and the others are positive and finite.
    2. Solve: C1 = C2·V2/V1, V1 = C2·V2/C1, C2 = C1·V1/V2 or V2 = C1·V1/C2.
    3. Refuse C2 > C1 (equivalently V1 > V2).
    4. diluent = V2 − V1; drug = C1·V1.
    """
    given = {
        "stock_concentration_mcg_per_ml": stock_concentration_mcg_per_ml,
        "stock_volume_ml": stock_volume_ml,
        "final_concentration_mcg_per_ml": final_concentration_mcg_per_ml,
        "final_volume_ml": final_volume_ml,
    }
    missing = [name for name, value in given.items() if value is None]
    if len(missing) != 1:
        raise DilutionError(f"give exactly three of {', '.join(given)}; missing: {missing}")
    values = {n: require_positive(v, name=n) for n, v in given.items() if v is not None}
    c1 = values.get("stock_concentration_mcg_per_ml")
    v1 = values.get("stock_volume_ml")
    c2 = values.get("final_concentration_mcg_per_ml")
    v2 = values.get("final_volume_ml")
    if c1 is None:
        assert c2 is not None and v1 is not None and v2 is not None
        c1 = c2 * v2 / v1
    elif v1 is None:
        assert c2 is not None and v2 is not None
        v1 = c2 * v2 / c1
    elif c2 is None:
        assert v2 is not None
        c2 = c1 * v1 / v2
    else:
        v2 = c1 * v1 / c2
    assert v1 is not None and v2 is not None
    if above_limit(c2, c1) or above_limit(v1, v2):
        raise DilutionError(
            f"final concentration {c2:g} mcg/mL is above the stock {c1:g} mcg/mL; "
            "dilution can only lower a concentration"
        )
    return Dilution(
        stock_concentration_mcg_per_ml=c1,
        stock_volume_ml=v1,
        final_concentration_mcg_per_ml=c2,
        final_volume_ml=v2,
        diluent_volume_ml=max(v2 - v1, 0.0),
        drug_mcg=c1 * v1,
    )
