"""Forms of the alert pages: the list's filters, acknowledging and resolving."""

from typing import Any

from django import forms
from django.db.models import Q, QuerySet

from alerts.models import Alert, AlertKind, AlertStatus, Severity
from pumps.models import Clinic

# The list's status filter. "Open" is the working list: what still needs someone to
# acknowledge it (the count in the menu); acknowledged alerts stay open until their condition
# clears, and have their own choice.
STATUS_OPEN = "open"
STATUS_ACKNOWLEDGED = "acknowledged"
STATUS_ALL_OPEN = "all_open"
STATUS_RESOLVED = "resolved"
STATUS_ALL = "all"
STATUS_CHOICES = [
    (STATUS_OPEN, "Needs attention (open, not acknowledged)"),
    (STATUS_ACKNOWLEDGED, "Open, acknowledged"),
    (STATUS_ALL_OPEN, "Open (acknowledged or not)"),
    (STATUS_RESOLVED, "Resolved"),
    (STATUS_ALL, "All"),
]

SEARCH_MAX = 100


class AlertFilterForm(forms.Form):
    """The GET form above the alert list. Anything invalid falls back to its default, so a
    stale or edited link still shows a list."""

    status = forms.ChoiceField(label="Status", choices=STATUS_CHOICES, required=False)
    kind = forms.ChoiceField(
        label="Kind", choices=[("", "Any kind"), *AlertKind.choices], required=False
    )
    severity = forms.ChoiceField(
        label="Severity", choices=[("", "Any severity"), *Severity.choices], required=False
    )
    clinic = forms.ModelChoiceField(
        label="Clinic",
        queryset=Clinic.objects.none(),
        required=False,
        empty_label="All my clinics",
    )
    q = forms.CharField(label="Patient name or MRN", required=False, max_length=SEARCH_MAX)

    def __init__(self, *args: Any, clinics: QuerySet[Clinic], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        clinic_field = self.fields["clinic"]
        assert isinstance(clinic_field, forms.ModelChoiceField)
        clinic_field.queryset = clinics
        self.fields["q"].widget.attrs.update({"type": "search"})

    def values(self) -> dict[str, Any]:
        """The filters in force: the valid ones, defaults for the rest."""
        if self.is_bound:
            self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "status": data.get("status") or STATUS_OPEN,
            "kind": data.get("kind") or "",
            "severity": data.get("severity") or "",
            "clinic": data.get("clinic"),
            "q": (data.get("q") or "").strip(),
        }

    @property
    def is_filtered(self) -> bool:
        v = self.values()
        return bool(
            v["status"] != STATUS_OPEN or v["kind"] or v["severity"] or v["clinic"] or v["q"]
        )

    def apply(self, alerts: QuerySet[Alert]) -> QuerySet[Alert]:
        v = self.values()
        status = v["status"]
        if status == STATUS_OPEN:
            # Caregiver reminders (information) ask nothing of staff: not in the work list.
            alerts = alerts.filter(status=AlertStatus.OPEN, acknowledged_at__isnull=True).exclude(
                severity=Severity.INFO
            )
        elif status == STATUS_ACKNOWLEDGED:
            alerts = alerts.filter(status=AlertStatus.OPEN, acknowledged_at__isnull=False)
        elif status == STATUS_ALL_OPEN:
            alerts = alerts.filter(status=AlertStatus.OPEN)
        elif status == STATUS_RESOLVED:
            alerts = alerts.filter(status=AlertStatus.RESOLVED)
        if v["kind"]:
            alerts = alerts.filter(kind=v["kind"])
        if v["severity"]:
            alerts = alerts.filter(severity=v["severity"])
        if v["clinic"] is not None:
            alerts = alerts.filter(clinic=v["clinic"])
        # Every word must match the patient's given name, family name or MRN.
        for term in v["q"].split()[:5]:
            alerts = alerts.filter(
                Q(patient__family_name__icontains=term)
                | Q(patient__given_name__icontains=term)
                | Q(patient__mrn__icontains=term)
            )
        return alerts


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What you are doing about it, for the rest of the team.",
    )


class ResolveForm(forms.Form):
    reason = forms.CharField(
        label="What was done about it",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say what was done about it."},
        help_text="For example: the volumes were rechecked and the program is correct; or the "
        "catheter was imaged.",
    )

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data.get("reason", "")).strip()
        if not reason:
            raise forms.ValidationError("Say what was done about it.")
        return reason
