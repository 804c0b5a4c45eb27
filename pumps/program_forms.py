"""Forms of the program-change page. Field names carry their unit; errors name it too."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from dosing.display import plain
from dosing.selectors import pump_fill_concentrations
from pumps.forms import number_messages
from pumps.models import ProgramMode
from pumps.program_change import ProposedProgram
from pumps.services import StepInput

MAX_STEP_ROWS = 8
CONTEXT_CHOICES = [
    ("refill", "Change at a refill"),
    ("titration", "Titration step (24 h)"),
    ("side_effect", "Reduction for side effects"),
]


def _concentration_choices() -> list[tuple[str, str]]:
    return [("", "— choose —")] + [
        (plain(c), f"{plain(c)} mcg/mL") for c in pump_fill_concentrations()
    ]


class ProgramChangeForm(forms.Form):
    """The proposed program. The concentration is entered twice (a wrong concentration is a
    ten-fold dose error)."""

    context = forms.ChoiceField(choices=CONTEXT_CHOICES, label="Kind of change")
    effective_from = forms.DateTimeField(
        label="Pump reprogrammed at",
        # Seconds too: two changes at one visit (an override, then a new concentration) can
        # fall in the same minute, and each must start after the one it supersedes.
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S"
        ),
        input_formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text="Clinic time.",
    )
    concentration_mcg_per_ml = forms.ChoiceField(label="Concentration (mcg/mL)")
    concentration_confirm_mcg_per_ml = forms.ChoiceField(label="Concentration again (mcg/mL)")
    mode = forms.ChoiceField(choices=ProgramMode.choices, widget=forms.RadioSelect)
    daily_dose_mcg = forms.DecimalField(
        label="Daily dose (mcg/day)",
        required=False,
        max_digits=9,
        decimal_places=3,
        min_value=Decimal("0.001"),
        help_text="Simple continuous mode.",
        error_messages=number_messages("the daily dose", "mcg/day", "300"),
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = _concentration_choices()
        self.fields["concentration_mcg_per_ml"].choices = choices  # type: ignore[attr-defined]
        self.fields["concentration_confirm_mcg_per_ml"].choices = choices  # type: ignore[attr-defined]
        for i in range(1, MAX_STEP_ROWS + 1):
            self.fields[f"step_{i}_start"] = forms.TimeField(
                label=f"Step {i} starts at",
                required=False,
                widget=forms.TimeInput(attrs={"type": "time"}),
            )
            self.fields[f"step_{i}_rate_mcg_per_hour"] = forms.DecimalField(
                label=f"Step {i} rate (mcg/h)",
                required=False,
                max_digits=8,
                decimal_places=3,
                min_value=Decimal("0.001"),
                error_messages=number_messages(f"the rate of step {i}", "mcg/h", "12.5"),
            )

    def step_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [
            (self[f"step_{i}_start"], self[f"step_{i}_rate_mcg_per_hour"])
            for i in range(1, MAX_STEP_ROWS + 1)
        ]

    def clean_effective_from(self) -> Any:
        value = self.cleaned_data["effective_from"]
        if value > timezone.now() + timedelta(minutes=5):
            raise forms.ValidationError(
                "Record the change when the pump has been reprogrammed, not ahead."
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = (
            data.get("concentration_mcg_per_ml"),
            data.get("concentration_confirm_mcg_per_ml"),
        )
        if first and second and first != second:
            self.add_error(
                "concentration_confirm_mcg_per_ml",
                f"The two concentrations differ ({first} and {second} mcg/mL): check the vial.",
            )
        mode = data.get("mode")
        steps = []
        for i in range(1, MAX_STEP_ROWS + 1):
            start, rate = data.get(f"step_{i}_start"), data.get(f"step_{i}_rate_mcg_per_hour")
            if start is None and rate is None:
                continue
            if start is None or rate is None:
                self.add_error(f"step_{i}_start", "Give both the start time and the rate in mcg/h.")
                continue
            steps.append(StepInput(start_time=start, rate_mcg_per_hour=rate))
        if mode == ProgramMode.SIMPLE:
            if data.get("daily_dose_mcg") is None:
                self.add_error("daily_dose_mcg", "Enter the daily dose in mcg/day.")
            if steps:
                self.add_error("mode", "Steps were entered: choose flex, or clear the steps.")
        elif mode == ProgramMode.FLEX:
            if not steps:
                self.add_error("mode", "A flex program needs at least one step (start and mcg/h).")
            if data.get("daily_dose_mcg") is not None:
                self.add_error(
                    "daily_dose_mcg",
                    "A flex program's dose is the sum of its steps: leave this empty.",
                )
        data["steps"] = tuple(sorted(steps, key=lambda s: s.start_time))
        return data

    def proposed(self) -> ProposedProgram:
        data = self.cleaned_data
        return ProposedProgram(
            concentration_mcg_per_ml=Decimal(data["concentration_mcg_per_ml"]),
            mode=data["mode"],
            daily_dose_mcg=data.get("daily_dose_mcg")
            if data["mode"] == ProgramMode.SIMPLE
            else None,
            steps=data["steps"] if data["mode"] == ProgramMode.FLEX else (),
        )


class ConfirmForm(forms.Form):
    """What the review asks before saving."""

    expected_current_program_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    override_reason = forms.CharField(
        label="Why this change outside the label limits is made",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )
    bridge_confirmed = forms.BooleanField(
        label="I have programmed the bridge bolus shown above", required=False
    )
    pump_running_confirmed = forms.BooleanField(
        label="The pump was interrogated and is running the new program", required=False
    )
    verifier_username = forms.CharField(label="Second clinician or nurse: username", required=False)
    verifier_password = forms.CharField(
        label="Their password", required=False, widget=forms.PasswordInput(render_value=False)
    )
