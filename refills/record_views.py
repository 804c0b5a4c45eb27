"""Recording a refill visit: the form, then the reconciliation and the next booking."""

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from audit.access import note_patient_read
from dosing.models import DrugProduct, ProductUse
from pumps.forms import number_messages
from pumps.models import CareRole, CareTeamMember, Pump, ReservoirFill
from pumps.selectors import pumps_visible_to
from refills.services import refill_record

# What each reconciliation flag means and what to do (domain.md §3.6, §5).
FLAG_ADVICE = {
    "under_delivery": (
        "Less drug was delivered than expected",
        "Suspect a catheter occlusion, kink or a motor stall: interrogate the pump, check the "
        "catheter, and watch the patient for withdrawal signs.",
    ),
    "over_delivery": (
        "More drug was delivered than expected",
        "Suspect a leak, over-infusion or an earlier data error: check the patient for overdose "
        "signs and the pump's history.",
    ),
    "residual_discrepancy": (
        "The residual differs from the expected volume beyond the tolerance",
        "Check for a pocket fill or a recording error; observe the patient after this refill.",
    ),
}


class RefillRecordForm(forms.Form):
    refilled_at = forms.DateTimeField(
        label="Reservoir emptied and refilled at",
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S"
        ),
        input_formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"],
        help_text="Clinic time.",
    )
    volume_removed_ml = forms.DecimalField(
        label="Volume removed (mL)",
        min_value=0,
        max_digits=6,
        decimal_places=2,
        error_messages={
            **number_messages("the volume removed", "mL", "4.5"),
            "min_value": "Enter the volume removed in mL (0 or more).",
        },
    )
    product = forms.ModelChoiceField(queryset=DrugProduct.objects.none(), label="Product")
    lot_number = forms.CharField(label="Lot number", max_length=60)
    expiry_date = forms.DateField(
        label="Expiry date", widget=forms.DateInput(attrs={"type": "date"})
    )
    volume_added_ml = forms.DecimalField(
        label="Volume in the reservoir after the fill (mL)",
        min_value=0.01,
        max_digits=6,
        decimal_places=2,
        error_messages=number_messages("the volume in the reservoir after the fill", "mL", "20"),
    )
    observation_note = forms.CharField(
        label="Post-refill observation",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="How the patient was after the refill (observe after any bolus or discrepancy).",
    )
    septum_confirmed = forms.BooleanField(
        label="Filled through the reservoir septum (not the catheter access port)", required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = DrugProduct.objects.filter(  # type: ignore[attr-defined]
            is_active=True, use=ProductUse.PUMP_FILL
        )


def _staff_pump(request: HttpRequest, pk: int) -> Pump:
    pump = get_object_or_404(
        pumps_visible_to(request.user, active_only=True).select_related(
            "patient__clinic", "pump_model"
        ),
        pk=pk,
    )
    user: Any = request.user
    if not CareTeamMember.objects.filter(
        user=user, clinic_id=pump.patient.clinic_id, role__in=(CareRole.CLINICIAN, CareRole.NURSE)
    ).exists():
        raise Http404("No pump here for you.")
    return pump


@login_required
def record_refill(request: HttpRequest, pk: int) -> HttpResponse:
    pump = _staff_pump(request, pk)
    note_patient_read(request, [pump.patient_id], "refill record form")
    timezone.activate(ZoneInfo(pump.patient.clinic.time_zone))
    context: dict[str, Any] = {"pump": pump, "patient": pump.patient}
    if request.method != "POST":
        latest = pump.fills.order_by("-filled_at").first()
        initial: dict[str, Any] = {"refilled_at": timezone.localtime().replace(microsecond=0)}
        if latest is not None and latest.product_id:
            initial["product"] = latest.product_id
        initial["volume_added_ml"] = pump.pump_model.reservoir_capacity_ml
        context["form"] = RefillRecordForm(initial=initial)
        return render(request, "refills/record.html", context)
    form = RefillRecordForm(request.POST)
    context["form"] = form
    if not form.is_valid():
        return render(request, "refills/record.html", context)
    data = form.cleaned_data
    replay = _replayed_fill(pump, data)
    if replay is not None:
        messages.info(request, "This refill was already recorded.")
        return redirect("refills:record-done", pk=replay.pk)
    try:
        outcome = refill_record(
            actor=request.user,
            pump=pump,
            refilled_at=data["refilled_at"],
            volume_removed_ml=data["volume_removed_ml"],
            volume_added_ml=data["volume_added_ml"],
            product=data["product"],
            concentration_mcg_per_ml=data["product"].concentration_mcg_per_ml,
            lot_number=data["lot_number"],
            expiry_date=data["expiry_date"],
            observation_note=data["observation_note"],
            septum_confirmed=data["septum_confirmed"],
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return render(request, "refills/record.html", context)
    messages.success(request, f"Refill recorded for {pump.patient.full_name}.")
    return redirect("refills:record-done", pk=outcome.fill.pk)


def _replayed_fill(pump: Pump, data: dict[str, Any]) -> ReservoirFill | None:
    """The fill this same form already recorded (double click, reload), if any."""
    latest = pump.fills.order_by("-filled_at").first()
    if latest is None:
        return None
    same = (
        abs((latest.filled_at - data["refilled_at"]).total_seconds()) < 1
        and latest.volume_ml == data["volume_added_ml"]
        and latest.volume_removed_ml == data["volume_removed_ml"]
        and timezone.now() - latest.recorded_at < timedelta(minutes=10)
    )
    return latest if same else None


@login_required
def record_done(request: HttpRequest, pk: int) -> HttpResponse:
    fill = get_object_or_404(ReservoirFill.objects.select_related("pump"), pk=pk)
    pump = _staff_pump(request, fill.pump_id)
    note_patient_read(request, [pump.patient_id], "refill record result")
    flags = [FLAG_ADVICE[f] for f in fill.reconciliation_flags.split(",") if f in FLAG_ADVICE]
    return render(
        request,
        "refills/record_done.html",
        {"fill": fill, "pump": pump, "patient": pump.patient, "flags": flags},
    )
