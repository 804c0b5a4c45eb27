"""The filters above a patient's access log."""

from typing import Any

from django import forms
from django.db.models import QuerySet


class ReaderChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


class AccessLogFilterForm(forms.Form):
    user = ReaderChoiceField(label="Who", queryset=None, required=False, empty_label="Everyone")
    date_from = forms.DateField(
        label="First day",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the first day as a date, e.g. 2026-11-02."},
    )
    date_to = forms.DateField(
        label="Last day",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the last day as a date, e.g. 2026-11-30."},
    )

    def __init__(self, *args: Any, readers: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["user"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = readers
        field.error_messages["invalid_choice"] = (
            "Choose someone from the list: only people who have looked at this record are listed."
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error(
                "date_to",
                f"The last day ({end:%-d %b %Y}) is before the first day ({start:%-d %b %Y}).",
            )
        return data

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and any(
            self.data.get(name) for name in ("user", "date_from", "date_to")
        )
