"""Reads of the drug library."""

from dataclasses import dataclass
from decimal import Decimal

from dosing.display import plain
from dosing.engine.limits import DoseLimits, DoseRange, PercentRange, PopulationLimits
from dosing.engine.reconciliation import ReconciliationTolerances
from dosing.engine.screening import ScreeningRules
from dosing.models import DosingRules, DrugProduct, Population, PopulationDoseLimits, ProductUse


def pump_fill_concentrations() -> list[Decimal]:
    """Concentrations (mcg/mL) that may go in a pump without a dilution record, ascending."""
    values = (
        DrugProduct.objects.filter(is_active=True, use=ProductUse.PUMP_FILL)
        .values_list("concentration_mcg_per_ml", flat=True)
        .distinct()
    )
    return sorted(set(values))


def screening_concentrations() -> list[Decimal]:
    values = DrugProduct.objects.filter(is_active=True, use=ProductUse.SCREENING).values_list(
        "concentration_mcg_per_ml", flat=True
    )
    return sorted(set(values))


def describe_concentrations(values: list[Decimal]) -> str:
    return ", ".join(f"{plain(v)}" for v in values) + " mcg/mL"


class DosingRulesMissing(Exception):
    """No active dosing rules: the checks cannot run and must not guess."""


@dataclass(frozen=True, slots=True)
class EngineRules:
    """The active dosing rules as the engine's configuration objects."""

    dose_limits: DoseLimits
    screening: ScreeningRules
    reconciliation: ReconciliationTolerances
    default_low_reservoir_alarm_ml: float
    default_refill_buffer_days: float
    default_max_refill_interval_days: float


def _population(row: PopulationDoseLimits) -> PopulationLimits:
    return PopulationLimits(
        titration_increase=PercentRange(
            float(row.titration_increase_min_percent), float(row.titration_increase_max_percent)
        ),
        refill_increase=PercentRange(
            float(row.refill_increase_min_percent), float(row.refill_increase_max_percent)
        ),
        side_effect_decrease=PercentRange(
            float(row.side_effect_decrease_min_percent),
            float(row.side_effect_decrease_max_percent),
        ),
        usual_maintenance=DoseRange(
            float(row.usual_min_daily_dose_mcg), float(row.usual_max_daily_dose_mcg)
        ),
    )


def engine_rules() -> EngineRules:
    """Load the active dosing rules (two queries) for the engine."""
    rules = DosingRules.objects.filter(is_active=True).prefetch_related("populations").first()
    if rules is None:
        raise DosingRulesMissing("No active dosing rules; an administrator must activate one.")
    populations = {row.population: _population(row) for row in rules.populations.all()}
    missing = {p.value for p in Population} - populations.keys()
    if missing:
        raise DosingRulesMissing(f"The active dosing rules lack limits for {sorted(missing)}.")
    return EngineRules(
        dose_limits=DoseLimits(
            spinal_adult=populations[Population.SPINAL_ADULT],
            cerebral_adult=populations[Population.CEREBRAL_ADULT],
            pediatric=populations[Population.PEDIATRIC],
            pediatric_below_age_years=float(rules.pediatric_below_age_years),
            no_increase_after_implant_hours=float(rules.no_increase_after_implant_hours),
            min_hours_between_increases=float(rules.min_hours_between_increases),
            hard_stop_increase_ratio=float(rules.hard_stop_increase_ratio),
            hard_stop_decrease_ratio=float(rules.hard_stop_decrease_ratio),
        ),
        screening=ScreeningRules(
            concentration_mcg_per_ml=float(rules.screening_concentration_mcg_per_ml),
            max_bolus_mcg=float(rules.screening_max_bolus_mcg),
            min_hours_between_boluses=float(rules.screening_min_hours_between_boluses),
            long_effect_threshold_hours=float(rules.long_effect_threshold_hours),
            default_multiplier=float(rules.starting_dose_multiplier),
            long_effect_multiplier=float(rules.long_effect_starting_dose_multiplier),
        ),
        reconciliation=ReconciliationTolerances(
            delivered_tolerance_percent=float(rules.delivered_tolerance_percent),
            small_reservoir_max_ml=float(rules.small_reservoir_max_ml),
            small_reservoir_residual_tolerance_ml=float(
                rules.small_reservoir_residual_tolerance_ml
            ),
            large_reservoir_residual_tolerance_ml=float(
                rules.large_reservoir_residual_tolerance_ml
            ),
        ),
        default_low_reservoir_alarm_ml=float(rules.default_low_reservoir_alarm_ml),
        default_refill_buffer_days=float(rules.default_refill_buffer_days),
        default_max_refill_interval_days=float(rules.default_max_refill_interval_days),
    )
