"""Screening trial and starting dose (domain.md §2.2, §2.3, §4 Saulino 2016).

- Starting daily dose = twice the effective screening dose over 24 h; equal to it when the
  bolus effect lasted more than 8 h (§2.3; exactly 8 h is the "twice" branch, CHEO).
- Screening boluses use the 50 mcg/mL product: 25/50/75/100 mcg = 0.5/1/1.5/2 mL (§2.2).
- Boluses at least 24 h apart; no bolus above 100 mcg (no response to 100 mcg means not a
  candidate, §2.2).
All thresholds are `ScreeningRules` arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .common import Reason, Verdict, above_limit, require_aware, require_positive, verdict_of


@dataclass(frozen=True, slots=True)
class ScreeningRules:
    """Label numbers for screening and the starting dose (from the drug library)."""

    concentration_mcg_per_ml: float
    max_bolus_mcg: float
    min_hours_between_boluses: float
    long_effect_threshold_hours: float
    default_multiplier: float
    long_effect_multiplier: float


@dataclass(frozen=True, slots=True)
class StartingDose:
    """docs/dosing-api.md `starting-dose` outputs (plus the multiplier used)."""

    daily_dose_mcg: float
    multiplier: float
    rule: str


def starting_daily_dose(
    *, screening_dose_mcg: float, effect_duration_hours: float, rules: ScreeningRules
) -> StartingDose:
    """Starting daily dose from the effective screening bolus (§2.3).

    1. Effect longer than the threshold (8 h): dose × long-effect multiplier (1).
    2. Otherwise (including exactly the threshold): dose × default multiplier (2).
    """
    dose = require_positive(screening_dose_mcg, name="screening_dose_mcg")
    hours = require_positive(effect_duration_hours, name="effect_duration_hours")
    threshold = rules.long_effect_threshold_hours
    if hours > threshold:
        multiplier = rules.long_effect_multiplier
        rule = (
            f"effect lasted more than {threshold:g} h: starting daily dose = "
            f"{multiplier:g} × screening dose, over 24 h"
        )
    else:
        multiplier = rules.default_multiplier
        rule = (
            f"effect lasted {threshold:g} h or less: starting daily dose = "
            f"{multiplier:g} × screening dose, over 24 h"
        )
    return StartingDose(daily_dose_mcg=dose * multiplier, multiplier=multiplier, rule=rule)


def screening_volume_ml(*, dose_mcg: float, rules: ScreeningRules) -> float:
    """Volume of the screening product for a bolus: dose / concentration (50 mcg = 1 mL)."""
    return require_positive(dose_mcg, name="dose_mcg") / rules.concentration_mcg_per_ml


@dataclass(frozen=True, slots=True)
class ScreeningBolusCheck:
    """Volume to draw and the verdict on a proposed screening bolus."""

    dose_mcg: float
    volume_ml: float
    verdict: Verdict
    reasons: tuple[Reason, ...]


def check_screening_bolus(
    *,
    dose_mcg: float,
    at: datetime,
    previous_bolus_at: datetime | None,
    rules: ScreeningRules,
) -> ScreeningBolusCheck:
    """Check a proposed screening bolus.

    1. Above the maximum bolus (100 mcg): hard stop (not a candidate, §2.2).
    2. Less than the minimum interval (24 h) after the previous bolus: soft stop (the
       label says "at least 24 h"; an override must be documented).
    """
    dose = require_positive(dose_mcg, name="dose_mcg")
    now = require_aware(at, name="at")
    reasons: list[Reason] = []
    if above_limit(dose, rules.max_bolus_mcg):
        reasons.append(
            Reason(
                "above_max_screening_bolus",
                f"{dose:g} mcg is above the {rules.max_bolus_mcg:g} mcg maximum screening "
                "bolus; no response at the maximum means the patient is not a candidate",
                "hard_stop",
            )
        )
    if previous_bolus_at is not None:
        since = now - require_aware(previous_bolus_at, name="previous_bolus_at")
        if since < timedelta(0):
            raise ValueError("previous_bolus_at is after `at`")
        if since < timedelta(hours=rules.min_hours_between_boluses):
            reasons.append(
                Reason(
                    "screening_interval_too_short",
                    f"screening boluses must be at least {rules.min_hours_between_boluses:g} h "
                    f"apart ({since.total_seconds() / 3600:.3g} h since the previous one)",
                    "soft_stop",
                )
            )
    return ScreeningBolusCheck(
        dose_mcg=dose,
        volume_ml=dose / rules.concentration_mcg_per_ml,
        verdict=verdict_of(tuple(reasons)),
        reasons=tuple(reasons),
    )
