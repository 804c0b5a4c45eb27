"""Fixed-rate (constant-flow) pumps: required concentration and fill recipe (domain.md §3.10).

The flow rate is set at the factory, so the dose changes only with the concentration:
C_required = D / r_fixed (§6.8). The fill recipe follows the Codman ARCHIMEDES method
(§3.10, ✅ manual Appendix B): running days = reservoir volume / flow rate; total drug =
daily dose × running days; the solution is prepared for reservoir + priming excess (the
manual's 3 mL is passed in, not hard-coded) and diluted only with preservative-free 0.9 %
saline (§2.5).
"""

from __future__ import annotations

from dataclasses import dataclass

from .common import above_limit, require_positive
from .programs import SimpleProgram


class FixedRateError(ValueError):
    """The target dose cannot be mixed from the stock (required concentration too high)."""


@dataclass(frozen=True, slots=True)
class FixedRateFill:
    """Outputs of docs/dosing-api.md `fixed-rate-fill`."""

    required_concentration_mcg_per_ml: float
    running_days: float
    total_drug_mcg: float
    prepared_volume_ml: float
    drug_volume_ml: float
    diluent_volume_ml: float


def required_concentration_mcg_per_ml(
    *, daily_dose_mcg: float, flow_rate_ml_per_day: float
) -> float:
    """C_required = D / r_fixed (§6.8)."""
    dose = require_positive(daily_dose_mcg, name="daily_dose_mcg")
    return dose / require_positive(flow_rate_ml_per_day, name="flow_rate_ml_per_day")


def fixed_rate_program(
    *, flow_rate_ml_per_day: float, concentration_mcg_per_ml: float
) -> SimpleProgram:
    """What a constant-flow pump delivers: D = r_fixed × C, continuously (§6.8 inverted)."""
    rate = require_positive(flow_rate_ml_per_day, name="flow_rate_ml_per_day")
    concentration = require_positive(concentration_mcg_per_ml, name="concentration_mcg_per_ml")
    return SimpleProgram(
        concentration_mcg_per_ml=concentration, daily_dose_mcg=rate * concentration
    )


def fixed_rate_fill(
    *,
    flow_rate_ml_per_day: float,
    reservoir_volume_ml: float,
    daily_dose_mcg: float,
    stock_concentration_mcg_per_ml: float,
    priming_excess_ml: float,
) -> FixedRateFill:
    """Concentration and mixing recipe for a constant-flow pump.

    1. C_required = D / r.
    2. Refuse C_required > C_stock (FixedRateError): dilution can only lower a concentration.
    3. running_days = V_reservoir / r; total_drug = D × running_days (for the reservoir).
    4. prepared = V_reservoir + priming excess; drug volume = C_required × prepared / C_stock;
       diluent (0.9 % saline) = prepared − drug volume.
    """
    rate = require_positive(flow_rate_ml_per_day, name="flow_rate_ml_per_day")
    reservoir = require_positive(reservoir_volume_ml, name="reservoir_volume_ml")
    dose = require_positive(daily_dose_mcg, name="daily_dose_mcg")
    stock = require_positive(stock_concentration_mcg_per_ml, name="stock_concentration_mcg_per_ml")
    excess = require_positive(priming_excess_ml, name="priming_excess_ml", allow_zero=True)
    required = dose / rate
    if above_limit(required, stock):
        raise FixedRateError(
            f"required concentration {required:g} mcg/mL is above the stock concentration "
            f"{stock:g} mcg/mL; use a stronger stock (dilution cannot raise a concentration)"
        )
    required = min(required, stock)
    running_days = reservoir / rate
    prepared = reservoir + excess
    drug_volume = required * prepared / stock
    return FixedRateFill(
        required_concentration_mcg_per_ml=required,
        running_days=running_days,
        total_drug_mcg=dose * running_days,
        prepared_volume_ml=prepared,
        drug_volume_ml=drug_volume,
        diluent_volume_ml=prepared - drug_volume,
    )
