"""Label values and helpers for the engine tests, from docs/domain.md.

The engine holds no clinical number; the Django side will keep these in the drug library.
The tests pin them here (imported by the test modules and exposed as fixtures in conftest).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dosing.engine.limits import DoseLimits, DoseRange, PercentRange, PopulationLimits
from dosing.engine.reconciliation import ReconciliationTolerances
from dosing.engine.screening import ScreeningRules

# §2.3 titration per 24 h, §2.4 refill increase and side-effect decrease, §2.4 usual ranges.
SPINAL_ADULT = PopulationLimits(
    titration_increase=PercentRange(10, 30),
    refill_increase=PercentRange(10, 40),
    side_effect_decrease=PercentRange(10, 20),
    usual_maintenance=DoseRange(300, 800),
)
CEREBRAL_ADULT = PopulationLimits(
    titration_increase=PercentRange(5, 15),
    refill_increase=PercentRange(5, 20),
    side_effect_decrease=PercentRange(10, 20),
    usual_maintenance=DoseRange(90, 703),
)
# Children: titration 5-15 % (§2.3, Saulino 2016); range 24-1199 mcg/day (§2.4 ⚠️).
# ❓ The label gives no pediatric refill limit: the fixture uses the cerebral 5-20 %.
PEDIATRIC = PopulationLimits(
    titration_increase=PercentRange(5, 15),
    refill_increase=PercentRange(5, 20),
    side_effect_decrease=PercentRange(10, 20),
    usual_maintenance=DoseRange(24, 1199),
)
LABEL_LIMITS = DoseLimits(
    spinal_adult=SPINAL_ADULT,
    cerebral_adult=CEREBRAL_ADULT,
    pediatric=PEDIATRIC,
    pediatric_below_age_years=12,  # §2.4 "children < 12 years"; > 12 dose like adults
    no_increase_after_implant_hours=24,  # §2.3
    min_hours_between_increases=24,  # §2.3
    hard_stop_increase_ratio=2.0,  # app policy (§8 "hard-stop large jumps"), ❓ clinician
    hard_stop_decrease_ratio=0.5,
)

# §2.2: 50 mcg/mL product, max 100 mcg, 24 h apart, 8 h effect threshold, ×2 / ×1 (§2.3).
SCREENING_RULES = ScreeningRules(
    concentration_mcg_per_ml=50,
    max_bolus_mcg=100,
    min_hours_between_boluses=24,
    long_effect_threshold_hours=8,
    default_multiplier=2,
    long_effect_multiplier=1,
)

# §3.6: ±14.5 % delivered, residual > 1 mL (≤ 20 mL reservoir) or > 2 mL (larger).
TOLERANCES = ReconciliationTolerances(
    delivered_tolerance_percent=14.5,
    small_reservoir_max_ml=20,
    small_reservoir_residual_tolerance_ml=1,
    large_reservoir_residual_tolerance_ml=2,
)

# Projection settings of docs/dosing-api.md: LRA 2 mL (§3.1), buffer 7 d, stability 180 d.
LRA_ML = 2.0
BUFFER_DAYS = 7.0
MAX_INTERVAL_DAYS = 180.0

EXACT = 1e-9


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A datetime in UTC."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def assert_instant(actual: datetime, expected: datetime) -> None:
    """Same instant (within 1 ms, i.e. exact to the second) and reported in UTC."""
    assert actual.tzinfo is UTC, actual
    assert abs(actual - expected) <= timedelta(milliseconds=1), (actual, expected)
