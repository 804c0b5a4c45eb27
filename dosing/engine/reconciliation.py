"""Refill reconciliation: does the volume removed match what the pump should have delivered?

Formulas (domain.md §6.10, §3.6): expected residual V_exp from the projection at the refill;
discrepancy = removed − expected; expected delivered = fill − expected; actual delivered =
fill − removed; Δ% = (actual − expected delivered) / expected delivered × 100.
Flags (thresholds passed in; §3.6 suggests ±14.5 % (SynchroMed II accuracy, ⚠️) and a
residual gap > 1 mL for reservoirs up to 20 mL, > 2 mL above (Maino 2017)):
- "under_delivery": Δ% < −tolerance (less delivered than expected: more was removed;
  suggests motor stall or occlusion);
- "over_delivery": Δ% > +tolerance (leak, over-infusion, data error);
- "residual_discrepancy": |removed − expected| beyond the residual tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .common import above_limit, require_aware, require_positive
from .projection import ReservoirFill, ReservoirTimeline

Flag = Literal["under_delivery", "over_delivery", "residual_discrepancy"]


@dataclass(frozen=True, slots=True)
class ReconciliationTolerances:
    """Thresholds for the flags (configuration, ❓ no manufacturer figure, §9.8)."""

    delivered_tolerance_percent: float
    small_reservoir_max_ml: float
    small_reservoir_residual_tolerance_ml: float
    large_reservoir_residual_tolerance_ml: float


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Outputs of docs/dosing-api.md `refill-reconciliation`."""

    expected_volume_ml: float
    discrepancy_ml: float
    expected_delivered_ml: float
    actual_delivered_ml: float
    delivered_discrepancy_percent: float
    flags: tuple[Flag, ...]


def reconcile_refill(
    *,
    fill: ReservoirFill,
    refilled_at: datetime,
    volume_removed_ml: float,
    reservoir_capacity_ml: float,
    tolerances: ReconciliationTolerances,
) -> Reconciliation:
    """Compare the volume removed at a refill with the projection.

    1. expected = projected reservoir volume at `refilled_at` (clamped at 0 when the
       projection says the pump ran empty).
    2. discrepancy = removed − expected; expected/actual delivered from the fill volume.
    3. Δ% relative to the expected delivered volume (> 0 because rates are positive and
       the refill is after the fill).
    4. Flags against the tolerances (strictly beyond the threshold).
    """
    refilled = require_aware(refilled_at, name="refilled_at")
    removed = require_positive(volume_removed_ml, name="volume_removed_ml", allow_zero=True)
    capacity = require_positive(reservoir_capacity_ml, name="reservoir_capacity_ml")
    if refilled <= fill.filled_at:
        raise ValueError("refilled_at must be after filled_at")
    expected = ReservoirTimeline(fill).volume_at(refilled)
    expected_delivered = fill.reservoir_volume_ml - expected
    actual_delivered = fill.reservoir_volume_ml - removed
    percent = (actual_delivered - expected_delivered) / expected_delivered * 100.0
    discrepancy = removed - expected
    flags: list[Flag] = []
    tolerance = tolerances.delivered_tolerance_percent
    if above_limit(-percent, tolerance):
        flags.append("under_delivery")
    if above_limit(percent, tolerance):
        flags.append("over_delivery")
    if capacity <= tolerances.small_reservoir_max_ml:
        residual_tolerance = tolerances.small_reservoir_residual_tolerance_ml
    else:
        residual_tolerance = tolerances.large_reservoir_residual_tolerance_ml
    if above_limit(abs(discrepancy), residual_tolerance):
        flags.append("residual_discrepancy")
    return Reconciliation(
        expected_volume_ml=expected,
        discrepancy_ml=discrepancy,
        expected_delivered_ml=expected_delivered,
        actual_delivered_ml=actual_delivered,
        delivered_discrepancy_percent=percent,
        flags=tuple(flags),
    )
