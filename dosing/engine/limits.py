"""Dose-change verdicts against the label's titration limits (domain.md §2.3, §2.4, §6.9).

Every number comes from a `DoseLimits` argument (the drug library stores the label values);
this module holds no clinical figure. Rules:
- hard stop: the proposed/current ratio is at or beyond `hard_stop_increase_ratio` or
  `hard_stop_decrease_ratio`: a many-fold jump looks like a unit error (ISMP 60 mcg/h vs
  60 mcg/day, §3.4; TC-06 400 -> 1440 mcg/day is a hard stop);
- increases: titration ≤ max per 24 h step (spinal adult, cerebral adult, pediatric), refill ≤
  max; an increase in the side-effect context is a soft stop; no increase within the first
  hours after implant nor within the minimum interval after the last change (§2.3);
- decreases (any context): at most the side-effect decrease maximum (§2.4 10-20 %);
- usual maintenance range (§2.4): above the maximum is a soft stop in every context, below
  the minimum in the refill and side-effect contexts (titration starts low on purpose).
  The range check applies only when the dose changes.
Smaller steps than the usual minimum are allowed, with an "info" reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .common import (
    Reason,
    Verdict,
    above_limit,
    below_limit,
    require_aware,
    require_positive,
    verdict_of,
)

Origin = Literal["spinal", "cerebral"]
Context = Literal["titration", "refill", "side_effect"]
Population = Literal["spinal_adult", "cerebral_adult", "pediatric"]


@dataclass(frozen=True, slots=True)
class PercentRange:
    """A usual change as percent of the current dose, e.g. 10-30 (both >= 0)."""

    min_percent: float
    max_percent: float


@dataclass(frozen=True, slots=True)
class DoseRange:
    """A usual daily dose range in mcg/day."""

    min_daily_dose_mcg: float
    max_daily_dose_mcg: float


@dataclass(frozen=True, slots=True)
class PopulationLimits:
    """Label limits for one population (spinal adult, cerebral adult or pediatric)."""

    titration_increase: PercentRange
    refill_increase: PercentRange
    side_effect_decrease: PercentRange
    usual_maintenance: DoseRange


@dataclass(frozen=True, slots=True)
class DoseLimits:
    """All numbers the dose-change check uses (from the drug library, never literals)."""

    spinal_adult: PopulationLimits
    cerebral_adult: PopulationLimits
    pediatric: PopulationLimits
    pediatric_below_age_years: float
    no_increase_after_implant_hours: float
    min_hours_between_increases: float
    hard_stop_increase_ratio: float
    hard_stop_decrease_ratio: float

    def __post_init__(self) -> None:
        if not (self.hard_stop_increase_ratio > 1 > self.hard_stop_decrease_ratio > 0):
            raise ValueError("need hard_stop_increase_ratio > 1 > hard_stop_decrease_ratio > 0")


@dataclass(frozen=True, slots=True)
class DoseChangeAssessment:
    """Outputs of docs/dosing-api.md `dose-change`.

    `allowed_min/max_daily_dose_mcg` bound the doses that get no soft or hard stop from the
    percent limits in this context (the 24 h and range rules may still stop).
    """

    population: Population
    change_percent: float
    allowed_min_daily_dose_mcg: float
    allowed_max_daily_dose_mcg: float
    verdict: Verdict
    reasons: tuple[Reason, ...]


def population_of(*, origin: Origin, age_years: float | None, limits: DoseLimits) -> Population:
    """Pediatric below the configured age (§2.4 children < 12 y); otherwise by origin."""
    if origin not in ("spinal", "cerebral"):
        raise ValueError(f"origin must be 'spinal' or 'cerebral', got {origin!r}")
    if age_years is not None:
        require_positive(age_years, name="age_years", allow_zero=True)
        if age_years < limits.pediatric_below_age_years:
            return "pediatric"
    return "spinal_adult" if origin == "spinal" else "cerebral_adult"


def assess_dose_change(
    *,
    current_daily_dose_mcg: float,
    proposed_daily_dose_mcg: float,
    origin: Origin,
    context: Context,
    limits: DoseLimits,
    age_years: float | None = None,
    implanted_at: datetime | None = None,
    last_change_at: datetime | None = None,
    at: datetime | None = None,
) -> DoseChangeAssessment:
    """Verdict on a change of daily dose.

    1. change_percent = (proposed − current) / current × 100; choose the population.
    2. Hard stop if proposed/current >= increase ratio or <= decrease ratio (unit error).
    3. Percent limits for the context (increase) or the side-effect decrease limit.
    4. 24 h rules for increases: since implant, since the last change (need `at`).
    5. Usual maintenance range when the dose changes.
    6. Verdict = strongest reason.
    """
    current = require_positive(current_daily_dose_mcg, name="current_daily_dose_mcg")
    proposed = require_positive(proposed_daily_dose_mcg, name="proposed_daily_dose_mcg")
    if context not in ("titration", "refill", "side_effect"):
        raise ValueError(f"context must be titration, refill or side_effect, got {context!r}")
    population = population_of(origin=origin, age_years=age_years, limits=limits)
    rules: PopulationLimits = getattr(limits, population)
    change = (proposed - current) / current * 100.0
    ratio = proposed / current
    reasons: list[Reason] = []

    if ratio >= limits.hard_stop_increase_ratio or ratio <= limits.hard_stop_decrease_ratio:
        reasons.append(
            Reason(
                "unit_error_suspected",
                f"{proposed:g} mcg/day is {ratio:.3g}× the current {current:g} mcg/day; a jump "
                "this large looks like a unit error (e.g. mcg/h entered as mcg/day, mg as mcg)",
                "hard_stop",
            )
        )

    decrease = rules.side_effect_decrease
    allowed_min = current * (1 - decrease.max_percent / 100.0)
    if context == "titration":
        increase: PercentRange | None = rules.titration_increase
    elif context == "refill":
        increase = rules.refill_increase
    else:
        increase = None
    allowed_max = current if increase is None else current * (1 + increase.max_percent / 100.0)

    if change > 0:
        reasons += _increase_reasons(change, context, population, increase)
        reasons += _timing_reasons(limits, implanted_at, last_change_at, at)
    elif change < 0:
        if above_limit(-change, decrease.max_percent):
            reasons.append(
                Reason(
                    "decrease_above_limit",
                    f"a {-change:.3g} % decrease is more than the usual maximum of "
                    f"{decrease.max_percent:g} % per change",
                    "soft_stop",
                )
            )
        elif below_limit(-change, decrease.min_percent):
            reasons.append(
                Reason(
                    "decrease_below_usual_step",
                    f"a {-change:.3g} % decrease is smaller than the usual "
                    f"{decrease.min_percent:g}-{decrease.max_percent:g} %",
                    "info",
                )
            )
    if change != 0:
        reasons += _range_reasons(proposed, context, population, rules.usual_maintenance)
    return DoseChangeAssessment(
        population=population,
        change_percent=change,
        allowed_min_daily_dose_mcg=allowed_min,
        allowed_max_daily_dose_mcg=allowed_max,
        verdict=verdict_of(tuple(reasons)),
        reasons=tuple(reasons),
    )


def _increase_reasons(
    change: float, context: Context, population: Population, increase: PercentRange | None
) -> list[Reason]:
    if increase is None:
        return [
            Reason(
                "increase_in_side_effect_context",
                "a change for side effects is expected to decrease the dose",
                "soft_stop",
            )
        ]
    if above_limit(change, increase.max_percent):
        return [
            Reason(
                f"increase_above_{context}_limit",
                f"a {change:.3g} % increase is more than the {context} maximum of "
                f"{increase.max_percent:g} % for {population.replace('_', ' ')}",
                "soft_stop",
            )
        ]
    if below_limit(change, increase.min_percent):
        return [
            Reason(
                "increase_below_usual_step",
                f"a {change:.3g} % increase is smaller than the usual "
                f"{increase.min_percent:g}-{increase.max_percent:g} %",
                "info",
            )
        ]
    return []


def _timing_reasons(
    limits: DoseLimits,
    implanted_at: datetime | None,
    last_change_at: datetime | None,
    at: datetime | None,
) -> list[Reason]:
    """§2.3: no increase in the first hours after implant, at most one per interval."""
    if implanted_at is None and last_change_at is None:
        return []
    if at is None:
        raise ValueError("`at` is required to check implanted_at / last_change_at")
    now = require_aware(at, name="at")
    reasons = []
    checks = (
        (implanted_at, "implanted_at", limits.no_increase_after_implant_hours, "implant"),
        (last_change_at, "last_change_at", limits.min_hours_between_increases, "last_change"),
    )
    for moment, name, hours, label in checks:
        if moment is None:
            continue
        since = now - require_aware(moment, name=name)
        if since < timedelta(0):
            raise ValueError(f"{name} is after `at`")
        if since < timedelta(hours=hours):
            reasons.append(
                Reason(
                    f"increase_too_soon_after_{label}",
                    f"no increase within {hours:g} h of the {label.replace('_', ' ')} "
                    f"({since.total_seconds() / 3600:.3g} h ago)",
                    "soft_stop",
                )
            )
    return reasons


def _range_reasons(
    proposed: float, context: Context, population: Population, usual: DoseRange
) -> list[Reason]:
    where = f"the usual maintenance range for {population.replace('_', ' ')}"
    span = f"{usual.min_daily_dose_mcg:g}-{usual.max_daily_dose_mcg:g} mcg/day"
    if above_limit(proposed, usual.max_daily_dose_mcg):
        return [
            Reason(
                "above_usual_maintenance_range",
                f"{proposed:g} mcg/day is above {where} ({span})",
                "soft_stop",
            )
        ]
    if context != "titration" and below_limit(proposed, usual.min_daily_dose_mcg):
        return [
            Reason(
                "below_usual_maintenance_range",
                f"{proposed:g} mcg/day is below {where} ({span})",
                "soft_stop",
            )
        ]
    return []
