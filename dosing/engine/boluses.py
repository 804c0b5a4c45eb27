"""Boluses and dead volume: catheter volume, concentration-change wash-out, bridge, priming.

Sources: domain.md §3.3 (priming and bridge boluses), §6.7 (bridge model, ❓ algorithm not
confirmed from a Medtronic document), §7 TC-04. The pump tubing volume (0.140 mL for
SynchroMed II, §3.1) and the catheter volume per cm (❓ for Medtronic catheters; 0.0026 mL/cm
for the Prometra catheter, §3.8) are device configuration: always passed in, never literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .common import require_aware, require_positive

HOURS_PER_DAY = 24.0


@dataclass(frozen=True, slots=True)
class Bolus:
    """A bolus taken from the reservoir, for the reservoir projection.

    `duration_hours` = 0 is an instantaneous bolus (the volume leaves at `start`); otherwise
    the volume is delivered evenly over the duration. A bolus adds to the basal program,
    unless `replaces_basal` is true: then the basal program is suspended while the bolus
    runs (the pump runs a bridge bolus instead of the basal, §6.7 / TC-04).
    `kind` is a free label ("priming", "bridge", "patient", ...) for display only.
    """

    start: datetime
    volume_ml: float
    duration_hours: float = 0.0
    replaces_basal: bool = False
    kind: str = "bolus"

    def __post_init__(self) -> None:
        require_aware(self.start, name="bolus start")
        require_positive(self.volume_ml, name="bolus volume_ml")
        require_positive(self.duration_hours, name="bolus duration_hours", allow_zero=True)
        if self.replaces_basal and self.duration_hours == 0:
            raise ValueError("a bolus that replaces the basal program needs a duration")

    @classmethod
    def at_rate(
        cls,
        *,
        start: datetime,
        volume_ml: float,
        rate_ml_per_day: float,
        replaces_basal: bool = False,
        kind: str = "bolus",
    ) -> Bolus:
        """A bolus of `volume_ml` delivered at `rate_ml_per_day` (duration = V / rate)."""
        rate = require_positive(rate_ml_per_day, name="rate_ml_per_day")
        volume = require_positive(volume_ml, name="bolus volume_ml")
        return cls(
            start=start,
            volume_ml=volume,
            duration_hours=volume / rate * HOURS_PER_DAY,
            replaces_basal=replaces_basal,
            kind=kind,
        )


def catheter_volume_ml(*, implanted_length_cm: float, volume_per_cm_ml: float) -> float:
    """V_catheter = implanted length (cm) × volume per cm (mL/cm), §3.1 / §3.8.

    For a trimmed catheter pass the implanted length (e.g. Prometra: 110 cm − trimmed cm).
    """
    length = require_positive(implanted_length_cm, name="implanted_length_cm")
    per_cm = require_positive(volume_per_cm_ml, name="volume_per_cm_ml")
    return length * per_cm


def dead_volume_ml(*, pump_tubing_volume_ml: float, catheter_volume_ml: float) -> float:
    """V_dead = V_pump_tubing + V_catheter (§6.7): the fluid between reservoir and catheter tip."""
    tubing = require_positive(pump_tubing_volume_ml, name="pump_tubing_volume_ml", allow_zero=True)
    catheter = require_positive(catheter_volume_ml, name="catheter_volume_ml", allow_zero=True)
    total = tubing + catheter
    if total == 0:
        raise ValueError("dead volume must be > 0 (pump tubing + catheter)")
    return total


def priming_volume_ml(
    *, pump_tubing_volume_ml: float, catheter_volume_ml: float, include_pump_tubing: bool
) -> float:
    """Volume a priming bolus must advance so that drug reaches the catheter tip (§3.3).

    `include_pump_tubing=True`: the whole dead volume, pump tubing + catheter (a pump whose
    tubing does not hold drug yet). `False`: catheter only, the best-practice case after a
    pre-implant priming bolus ("after implant, prime the catheter only", CMSC 2015, §3.3).
    The caller decides which applies; the engine does not guess (FDA recall, §5: do not
    compute priming volumes ad hoc).
    """
    catheter = require_positive(catheter_volume_ml, name="catheter_volume_ml")
    if not include_pump_tubing:
        return catheter
    return catheter + require_positive(pump_tubing_volume_ml, name="pump_tubing_volume_ml")


@dataclass(frozen=True, slots=True)
class WashoutWithoutBridge:
    """The wash-out if the pump simply starts the new rate (§6.7 "no bridge")."""

    effective_daily_dose_mcg: float
    percent_of_prescribed: float
    duration_hours: float
    drug_mcg: float


@dataclass(frozen=True, slots=True)
class BridgeBolus:
    """The dead volume pushed at the old rate, so the prescribed mcg/day continues (§6.7)."""

    volume_ml: float
    duration_hours: float
    drug_mcg: float
    rate_ml_per_day: float

    def as_bolus(self, *, start: datetime) -> Bolus:
        """The bridge as a projection `Bolus` starting at `start` (it replaces the basal)."""
        return Bolus(
            start=start,
            volume_ml=self.volume_ml,
            duration_hours=self.duration_hours,
            replaces_basal=True,
            kind="bridge",
        )

    def ends_at(self, *, start: datetime) -> datetime:
        """When the bridge finishes and the new program's rate takes over."""
        return require_aware(start, name="start") + timedelta(hours=self.duration_hours)


@dataclass(frozen=True, slots=True)
class ConcentrationChange:
    """Outputs of docs/dosing-api.md `concentration-change`."""

    dead_volume_ml: float
    old_rate_ml_per_day: float
    new_rate_ml_per_day: float
    bridge_required: bool
    without_bridge: WashoutWithoutBridge
    bridge_bolus: BridgeBolus | None


def concentration_change(
    *,
    old_concentration_mcg_per_ml: float,
    new_concentration_mcg_per_ml: float,
    daily_dose_mcg: float,
    dead_volume_ml: float,
) -> ConcentrationChange:
    """Wash-out of the old drug in the dead volume when the concentration changes (§6.7).

    1. r_old = D / C_old, r_new = D / C_new (mL/day).
    2. Without a bridge the pump pushes the old drug at r_new for t = V_dead / r_new:
       effective dose D × C_old / C_new, drug V_dead × C_old (TC-04: 150 mcg/day, 25 %,
       20.8 h, 130 mcg).
    3. With a bridge: V_dead at r_old for t = V_dead / r_old, drug V_dead × C_old
       (TC-04: 0.26 mL over 5.2 h, 130 mcg). A bridge is required whenever C_old != C_new.
    """
    c_old = require_positive(old_concentration_mcg_per_ml, name="old_concentration_mcg_per_ml")
    c_new = require_positive(new_concentration_mcg_per_ml, name="new_concentration_mcg_per_ml")
    dose = require_positive(daily_dose_mcg, name="daily_dose_mcg")
    dead = require_positive(dead_volume_ml, name="dead_volume_ml")
    r_old = dose / c_old
    r_new = dose / c_new
    drug = dead * c_old
    without = WashoutWithoutBridge(
        effective_daily_dose_mcg=dose * c_old / c_new,
        percent_of_prescribed=c_old / c_new * 100.0,
        duration_hours=dead / r_new * HOURS_PER_DAY,
        drug_mcg=drug,
    )
    required = c_old != c_new
    bridge = (
        BridgeBolus(
            volume_ml=dead,
            duration_hours=dead / r_old * HOURS_PER_DAY,
            drug_mcg=drug,
            rate_ml_per_day=r_old,
        )
        if required
        else None
    )
    return ConcentrationChange(
        dead_volume_ml=dead,
        old_rate_ml_per_day=r_old,
        new_rate_ml_per_day=r_new,
        bridge_required=required,
        without_bridge=without,
        bridge_bolus=bridge,
    )
