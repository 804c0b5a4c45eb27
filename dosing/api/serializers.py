"""Input and output serializers of the dosing calculators (the contract: field names and units
as the API documentation gives them; outputs unrounded, datetimes in UTC)."""

from datetime import UTC
from typing import Any

from rest_framework import serializers

from dosing.api.fields import AwareDateTimeField, FlexStepSerializer, QuantityField, TimeZoneField

MAX_STEPS = 48  # a day in half-hour steps; the pumps themselves allow far fewer (domain.md §3.1)


def _number(help_text: str, **kwargs: Any) -> serializers.FloatField:
    return serializers.FloatField(help_text=help_text, **kwargs)


def _instant(help_text: str) -> serializers.DateTimeField:
    """An output date-time, always rendered in UTC."""
    return serializers.DateTimeField(default_timezone=UTC, help_text=help_text)


# --- Program (shared by projection and reconciliation) -------------------------------------------


class ProgramInput(serializers.Serializer):
    concentration = QuantityField(canonical_unit="mcg/mL", help_text="Drug concentration (mcg/mL).")
    daily_dose = QuantityField(
        canonical_unit="mcg/day",
        required=False,
        help_text="Simple continuous daily dose (mcg/day). Give this or steps, not both.",
    )
    steps = FlexStepSerializer(  # type: ignore[call-arg]  # max_length goes to the ListSerializer
        many=True,
        required=False,
        max_length=MAX_STEPS,
        help_text="Flex schedule: each step runs from its start to the next, wrapping at midnight.",
    )
    timezone = TimeZoneField(
        required=False,
        help_text="IANA time zone the step clock times are in (default: your clinic's).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_dose, has_steps = "daily_dose" in attrs, "steps" in attrs
        if has_dose and has_steps:
            raise serializers.ValidationError(
                {"daily_dose": ["Give either daily_dose (mcg/day) or steps, not both."]}
            )
        if not has_dose and not has_steps:
            raise serializers.ValidationError(
                {
                    "daily_dose": [
                        "Give daily_dose (mcg/day) for a simple program or steps for a flex one."
                    ]
                }
            )
        if has_steps:
            steps = attrs["steps"]
            if not steps:
                raise serializers.ValidationError(
                    {"steps": ["A flex program needs at least one step."]}
                )
            starts = [s["start"] for s in steps]
            if len(set(starts)) != len(starts):
                raise serializers.ValidationError(
                    {"steps": ["Two steps cannot start at the same time."]}
                )
        return attrs


class ProjectionInput(ProgramInput):
    reservoir_volume = QuantityField(
        canonical_unit="mL", help_text="Volume in the reservoir at filled_at (mL)."
    )
    low_reservoir_alarm = QuantityField(
        canonical_unit="mL",
        required=False,
        allow_zero=True,
        help_text="Alarm volume (mL); default 2 mL.",
    )
    filled_at = AwareDateTimeField(help_text="When the reservoir held reservoir_volume.")
    refill_buffer_days = _number(
        "Refill this many days before the alarm (default 7).",
        required=False,
        min_value=0,
        max_value=365,
    )
    max_refill_interval_days = _number(
        "Drug stability limit in days (default 180).", required=False, min_value=1, max_value=3650
    )


class ProjectionOutput(serializers.Serializer):
    daily_dose_mcg = _number("Daily dose (mcg/day), the 24 h total of the program.")
    daily_volume_ml = _number("Daily volume (mL/day).")
    rate_mcg_per_hour = _number("24 h average rate (mcg/h).")
    rate_ml_per_hour = _number("24 h average rate (mL/h).")
    days_to_low_reservoir_alarm = _number("Days from filled_at to the alarm.")
    low_reservoir_alarm_at = _instant("When the alarm volume is reached (UTC).")
    days_to_empty = _number("Days from filled_at to an empty reservoir.")
    empty_at = _instant("When the reservoir runs empty (UTC).")
    refill_due_at = _instant("min(alarm − buffer, filled_at + stability limit), UTC.")
    refill_due_reason = serializers.ChoiceField(choices=["low_reservoir_alarm", "drug_stability"])


# --- Concentration change ------------------------------------------------------------------------


class ConcentrationChangeInput(serializers.Serializer):
    old_concentration = QuantityField(
        canonical_unit="mcg/mL", help_text="Concentration in the pump now."
    )
    new_concentration = QuantityField(
        canonical_unit="mcg/mL", help_text="Concentration being filled."
    )
    daily_dose = QuantityField(
        canonical_unit="mcg/day", help_text="Prescribed daily dose (mcg/day)."
    )
    dead_volume = QuantityField(
        canonical_unit="mL", required=False, help_text="Pump tubing + catheter volume (mL)."
    )
    pump_tubing_volume = QuantityField(
        canonical_unit="mL", required=False, help_text="Pump tubing volume (mL)."
    )
    catheter_volume = QuantityField(
        canonical_unit="mL", required=False, help_text="Catheter volume (mL)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_dead = "dead_volume" in attrs
        parts = [k for k in ("pump_tubing_volume", "catheter_volume") if k in attrs]
        if has_dead and parts:
            raise serializers.ValidationError(
                {"dead_volume": ["Give dead_volume (mL) or its two parts, not both."]}
            )
        if not has_dead and len(parts) != 2:
            raise serializers.ValidationError(
                {
                    "dead_volume": [
                        "Give dead_volume (mL), or pump_tubing_volume and catheter_volume (mL)."
                    ]
                }
            )
        return attrs


class WashoutOutput(serializers.Serializer):
    effective_daily_dose_mcg = _number("Dose the patient gets during the washout (mcg/day).")
    percent_of_prescribed = _number("That dose as a percentage of the prescribed dose.")
    duration_hours = _number("How long the washout lasts (h).")


class BridgeBolusOutput(serializers.Serializer):
    volume_ml = _number("Bridge bolus volume: the dead volume (mL).")
    duration_hours = _number("How long the bridge runs at the old rate (h).")
    drug_mcg = _number("Drug delivered by the bridge (mcg).")


class ConcentrationChangeOutput(serializers.Serializer):
    dead_volume_ml = _number("Pump tubing + catheter volume (mL).")
    old_rate_ml_per_day = _number("Rate at the old concentration (mL/day).")
    new_rate_ml_per_day = _number("Rate at the new concentration (mL/day).")
    bridge_required = serializers.BooleanField(help_text="True when the concentrations differ.")
    without_bridge = WashoutOutput()
    bridge_bolus = BridgeBolusOutput(allow_null=True)


# --- Dose change ---------------------------------------------------------------------------------


class DoseChangeInput(serializers.Serializer):
    current_daily_dose = QuantityField(canonical_unit="mcg/day", help_text="Dose now (mcg/day).")
    proposed_daily_dose = QuantityField(
        canonical_unit="mcg/day", help_text="Proposed dose (mcg/day)."
    )
    origin = serializers.ChoiceField(
        choices=["spinal", "cerebral"], help_text="Origin of the spasticity."
    )
    age_years = _number(
        "Age in years; children follow the pediatric limits.",
        required=False,
        min_value=0,
        max_value=130,
    )
    # The serializer metaclass moves declared fields out of the class body, so this field does
    # not shadow Serializer.context at run time.
    context = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["titration", "refill", "side_effect"],
        help_text="titration (24 h steps), refill (change at a refill) or side_effect (reduction).",
    )
    implanted_at = AwareDateTimeField(required=False, help_text="When the pump was implanted.")
    last_change_at = AwareDateTimeField(required=False, help_text="When the dose last changed.")
    at = AwareDateTimeField(
        required=False, help_text="When the change would be made (default now)."
    )


class ReasonOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code.")
    message = serializers.CharField(help_text="What to tell the clinician.")


class DoseChangeOutput(serializers.Serializer):
    change_percent = _number("Change from the current dose (%).")
    allowed_min_daily_dose_mcg = _number("Lowest dose within the limits in this context (mcg/day).")
    allowed_max_daily_dose_mcg = _number(
        "Highest dose within the limits in this context (mcg/day)."
    )
    verdict = serializers.ChoiceField(
        choices=["ok", "soft_stop", "hard_stop"],
        help_text="ok; soft_stop: outside the label limits, needs a documented override; "
        "hard_stop: never.",
    )
    reasons = ReasonOutput(many=True)


# --- Fixed-rate fill -----------------------------------------------------------------------------


class FixedRateFillInput(serializers.Serializer):
    flow_rate = QuantityField(
        canonical_unit="mL/day", help_text="The pump's label flow rate (mL/day)."
    )
    reservoir_volume = QuantityField(canonical_unit="mL", help_text="Volume to fill (mL).")
    daily_dose = QuantityField(canonical_unit="mcg/day", help_text="Target daily dose (mcg/day).")
    stock_concentration = QuantityField(
        canonical_unit="mcg/mL", help_text="Stock drug concentration."
    )
    priming_excess = QuantityField(
        canonical_unit="mL",
        required=False,
        allow_zero=True,
        help_text="Extra volume to prime the refill set (mL).",
    )


class FixedRateFillOutput(serializers.Serializer):
    required_concentration_mcg_per_ml = _number("Concentration that gives the target dose.")
    running_days = _number("Days the reservoir volume lasts.")
    total_drug_mcg = _number("Drug in the reservoir volume (mcg).")
    prepared_volume_ml = _number("Reservoir volume + priming excess (mL).")
    drug_volume_ml = _number("Stock drug in the prepared volume (mL).")
    diluent_volume_ml = _number("Preservative-free 0.9 % saline in the prepared volume (mL).")


# --- Refill reconciliation -----------------------------------------------------------------------


class ReconciliationInput(ProgramInput):
    reservoir_volume = QuantityField(canonical_unit="mL", help_text="Volume at the last fill (mL).")
    filled_at = AwareDateTimeField(help_text="When the last fill was made.")
    refilled_at = AwareDateTimeField(help_text="When the reservoir was emptied at this refill.")
    volume_removed = QuantityField(
        canonical_unit="mL", allow_zero=True, help_text="Volume drawn out (mL)."
    )
    reservoir_capacity = QuantityField(canonical_unit="mL", help_text="Reservoir capacity (mL).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if attrs["refilled_at"] <= attrs["filled_at"]:
            raise serializers.ValidationError(
                {"refilled_at": ["The refill must be after filled_at."]}
            )
        for name in ("reservoir_volume", "volume_removed"):
            if attrs[name] > attrs["reservoir_capacity"]:
                raise serializers.ValidationError(
                    {name: [f"More than the reservoir holds ({attrs['reservoir_capacity']:g} mL)."]}
                )
        return attrs


class ReconciliationOutput(serializers.Serializer):
    expected_volume_ml = _number("Residual the projection expects at refilled_at (mL).")
    discrepancy_ml = _number("Removed − expected (mL).")
    expected_delivered_ml = _number("Volume the pump should have delivered (mL).")
    actual_delivered_ml = _number("Volume it did deliver: fill − removed (mL).")
    delivered_discrepancy_percent = _number(
        "(actual − expected delivered) / expected delivered (%)."
    )
    flags = serializers.ListField(
        child=serializers.ChoiceField(
            choices=["under_delivery", "over_delivery", "residual_discrepancy"]
        )
    )


# --- Starting dose -------------------------------------------------------------------------------


class StartingDoseInput(serializers.Serializer):
    screening_dose = QuantityField(
        canonical_unit="mcg", help_text="Screening bolus that worked (mcg)."
    )
    effect_duration = QuantityField(canonical_unit="h", help_text="How long its effect lasted (h).")


class StartingDoseOutput(serializers.Serializer):
    daily_dose_mcg = _number("Starting daily dose (mcg/day), given over 24 h.")
    rule = serializers.CharField(help_text="The rule applied.")
