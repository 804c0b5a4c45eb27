"""The screening-trial calculator form (no database writes). Field names end in their unit."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import forms


def number_messages(what: str, unit: str, example: str) -> dict[str, str]:
    """Errors for a clinical number field that name the quantity and its unit."""
    text = f"Enter {what} in {unit} as a number greater than 0 (for example {example})."
    return {
        "required": f"Enter {what} in {unit}.",
        "invalid": text,
        "min_value": text,
        "max_value": f"{what.capitalize()} in {unit} is too large: check the value and the unit.",
        "max_digits": f"Enter {what} in {unit} with fewer digits.",
        "max_decimal_places": f"Enter {what} in {unit} with fewer decimals.",
        "max_whole_digits": f"{what.capitalize()} in {unit} is too large: check the unit.",
    }


class PositiveNumberField(forms.DecimalField):
    """A finite number above 0 (Django's DecimalField already refuses text, NaN and infinity)."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None and value <= 0:
            raise forms.ValidationError(self.error_messages["min_value"], code="min_value")


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ScreeningForm(forms.Form):
    """A screening bolus that gave an effect, and when it was given.

    The two times are read in the time zone active while the form is cleaned (the view
    activates the user's clinic zone)."""

    screening_dose_mcg = PositiveNumberField(
        label="Effective bolus dose (mcg)",
        max_digits=8,
        decimal_places=3,
        error_messages=number_messages("the bolus dose", "mcg", "50"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text="The screening bolus that gave a positive response, in mcg.",
    )
    effect_duration_hours = PositiveNumberField(
        label="Effect duration (h)",
        max_digits=8,
        decimal_places=3,
        error_messages=number_messages("how long the effect lasted", "hours (h)", "6"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text="How long the reduction in tone or spasms lasted, in hours.",
    )
    previous_bolus_at = forms.DateTimeField(
        label="Previous bolus (optional)",
        help_text="Date and time the previous screening bolus was given.",
        required=False,
        widget=LocalDateTimeInput(),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        error_messages={"invalid": "Enter the previous bolus time as a date and time."},
    )
    bolus_at = forms.DateTimeField(
        label="This bolus (optional)",
        help_text="Date and time this bolus is given.",
        required=False,
        widget=LocalDateTimeInput(),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        error_messages={"invalid": "Enter this bolus time as a date and time."},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        previous: datetime | None = data.get("previous_bolus_at")
        this: datetime | None = data.get("bolus_at")
        if previous is not None and this is None and "bolus_at" not in self.errors:
            self.add_error(
                "bolus_at",
                "Enter this bolus time too, to check the interval since the previous one.",
            )
        if previous is not None and this is not None and previous >= this:
            self.add_error("previous_bolus_at", "The previous bolus must be before this bolus.")
        return data

    def dose_mcg(self) -> float:
        value: Decimal = self.cleaned_data["screening_dose_mcg"]
        return float(value)

    def hours(self) -> float:
        value: Decimal = self.cleaned_data["effect_duration_hours"]
        return float(value)
