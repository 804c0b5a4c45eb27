"""Forms of the scheduling pages. Times are entered in the clinic's local time and turned into an
aware UTC instant here; the booking rules themselves live in ``refills.services``."""

from datetime import UTC, date, datetime, time
from typing import Any, cast
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError

from pumps.models import Clinic
from refills.models import FeedKind


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in ``zone``. A time the clocks skip (spring forward)
    or repeat (fall back) is refused rather than guessed."""
    early = datetime.combine(day, at, tzinfo=zone).replace(fold=0)
    late = early.replace(fold=1)
    if early.utcoffset() != late.utcoffset():
        raise ValidationError(
            f"{at:%H:%M} on {day:%d %b %Y} happens twice in {zone.key} (the clocks go back); "
            "choose another time."
        )
    moment = early.astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) != early.replace(tzinfo=None):
        raise ValidationError(
            f"{at:%H:%M} on {day:%d %b %Y} does not exist in {zone.key} (the clocks go forward); "
            "choose another time."
        )
    return moment


class VisitTimeForm(forms.Form):
    """Date and time of a visit in the clinic's time zone, plus the late reason."""

    date = forms.DateField(
        label="Date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Give the date of the visit.", "invalid": "Give a date."},
    )
    time = forms.TimeField(
        label="Time",
        widget=forms.TimeInput(attrs={"type": "time", "step": 300}, format="%H:%M"),
        error_messages={"required": "Give the time of the visit.", "invalid": "Give a time."},
    )
    late_reason = forms.CharField(
        label="Reason for booking after the due date",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(
        self, *args: Any, time_zone: str, due_at: datetime | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.zone = ZoneInfo(time_zone)
        if due_at is not None:
            self.fields["late_reason"].help_text = (
                "Required only when the visit is after the refill-due time, "
                f"{due_at.astimezone(self.zone):%a %-d %b %Y, %H:%M %Z}."
            )
        else:
            self.fields["late_reason"].help_text = "Leave empty unless the visit is late."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        day, at = data.get("date"), data.get("time")
        if day is not None and at is not None:
            try:
                data["scheduled_at"] = local_to_utc(day, at, self.zone)
            except ValidationError as exc:
                self.add_error("time", exc)
        return data

    def apply_service_errors(self, error: ValidationError) -> None:
        """Show the service's messages next to the fields they concern."""
        fields = {"scheduled_at": "time", "late_reason": "late_reason", "reason": "reason"}
        for key, messages in error.message_dict.items():
            target = fields.get(key)
            self.add_error(target if target in self.fields else None, messages)


class RescheduleForm(VisitTimeForm):
    reason = forms.CharField(
        label="Why is the visit moved?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why the visit is moved."},
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Why is the refill cancelled?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say why the visit is cancelled."},
    )

    def apply_service_errors(self, error: ValidationError) -> None:
        for key, messages in error.message_dict.items():
            self.add_error("reason" if key == "reason" else None, messages)


class FeedCreateForm(forms.Form):
    """``kind`` is "clinic:<id>" for a clinic the user works in, or "caregiver"."""

    kind = forms.ChoiceField(label="Calendar", widget=forms.RadioSelect)

    def __init__(self, *args: Any, clinics: list[Clinic], caregiver: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(f"clinic:{c.pk}", f"Booked refills of {c.name}") for c in clinics]
        if caregiver:
            choices.append((FeedKind.CAREGIVER.value, "Refills of the people I care for"))
        cast(forms.ChoiceField, self.fields["kind"]).choices = choices
        if len(choices) == 1:
            self.fields["kind"].initial = choices[0][0]
        self.clinics = {c.pk: c for c in clinics}

    def feed_scope(self) -> tuple[str, Clinic | None]:
        value = self.cleaned_data["kind"]
        if value == FeedKind.CAREGIVER:
            return FeedKind.CAREGIVER, None
        return FeedKind.CLINIC, self.clinics[int(value.split(":", 1)[1])]
