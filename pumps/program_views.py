"""The program-change page: edit, review (current and proposed side by side), save."""

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from audit.access import note_patient_read
from dosing.display import plain
from pumps.models import CareRole, CareTeamMember, ProgramMode, Pump, PumpStatus
from pumps.program_change import current_program, pump_program_change, review_program_change
from pumps.program_forms import MAX_STEP_ROWS, ConfirmForm, ProgramChangeForm
from pumps.selectors import pumps_visible_to


def _staff_pump(request: HttpRequest, pk: int) -> Pump:
    """The pump, if the user is a clinician or nurse of its clinic; 404 otherwise."""
    pump = get_object_or_404(
        pumps_visible_to(request.user).select_related("patient__clinic", "pump_model"), pk=pk
    )
    user: Any = request.user  # signed in (login_required)
    is_staff = CareTeamMember.objects.filter(
        user=user,
        clinic_id=pump.patient.clinic_id,
        role__in=(CareRole.CLINICIAN, CareRole.NURSE),
    ).exists()
    if not is_staff or pump.status != PumpStatus.ACTIVE or pump.pump_model.is_fixed_rate:
        raise Http404("No programmable pump here for you.")
    return pump


def _initial(pump: Pump) -> dict[str, Any]:
    now = timezone.localtime()
    initial: dict[str, Any] = {
        "context": "refill",
        "effective_from": now.replace(microsecond=0),
    }
    current = current_program(pump, at=timezone.now())
    if current is None:
        return initial
    concentration = plain(current.concentration_mcg_per_ml)
    initial.update(concentration_mcg_per_ml=concentration, mode=current.mode)
    if current.mode == ProgramMode.SIMPLE:
        initial["daily_dose_mcg"] = current.daily_dose_mcg
    for i, step in enumerate(current.steps.all()[:MAX_STEP_ROWS], start=1):
        initial[f"step_{i}_start"] = step.start_time
        initial[f"step_{i}_rate_mcg_per_hour"] = step.rate_mcg_per_hour
    return initial


def _done_url(pump: Pump) -> str:
    try:
        return reverse("pumps:patient", args=[pump.patient_id])
    except NoReverseMatch:
        return reverse("home")


def _apply_errors(exc: ValidationError, forms_: list[Any]) -> list[str]:
    """Put each message next to its field; return those that belong to no field."""
    loose: list[str] = []
    for field, messages_ in exc.message_dict.items():
        target = next((f for f in forms_ if field in f.fields), None)
        for message in messages_:
            if target is not None:
                target.add_error(field, message)
            else:
                loose.append(message)
    return loose


@login_required
def program_change(request: HttpRequest, pk: int) -> HttpResponse:
    pump = _staff_pump(request, pk)
    note_patient_read(request, [pump.patient_id], "program change form")
    # Times on this page are entered and shown in the clinic's time zone.
    timezone.activate(ZoneInfo(pump.patient.clinic.time_zone))
    latest = pump.programs.order_by("-effective_from").first()
    context: dict[str, Any] = {"pump": pump, "patient": pump.patient, "current": latest}
    if request.method != "POST":
        context["form"] = ProgramChangeForm(initial=_initial(pump))
        return render(request, "programs/change.html", context)

    form = ProgramChangeForm(request.POST)
    confirm = ConfirmForm(request.POST if request.POST.get("step") == "save" else None)
    context.update(form=form, confirm=confirm)
    if not form.is_valid():
        return render(request, "programs/change.html", context)
    proposed = form.proposed()
    try:
        review = review_program_change(
            pump=pump,
            proposed=proposed,
            context=form.cleaned_data["context"],
            effective_from=form.cleaned_data["effective_from"],
        )
    except ValidationError as exc:
        context["errors"] = _apply_errors(exc, [form])
        return render(request, "programs/change.html", context)
    # What the review shows, kept apart from the form (a refused field leaves cleaned_data).
    context.update(
        review=review, proposed=proposed, effective_from=form.cleaned_data["effective_from"]
    )
    if request.POST.get("step") != "save":
        context["confirm"] = ConfirmForm(
            initial={"expected_current_program_id": latest.pk if latest else None}
        )
        return render(request, "programs/review.html", context)

    if not confirm.is_valid():
        return render(request, "programs/review.html", context)
    data = confirm.cleaned_data
    verifier = None
    if data["verifier_username"]:
        verifier = authenticate(
            request, username=data["verifier_username"], password=data["verifier_password"]
        )
        if verifier is None:
            confirm.add_error(
                "verifier_username", "Username or password of the second person is wrong."
            )
            return render(request, "programs/review.html", context)
    expected = data.get("expected_current_program_id")
    if latest is not None and expected != latest.pk and _is_replay(latest, request.user, proposed):
        # The same form sent twice (double click, reload): the first one saved it.
        messages.info(request, "This program change was already saved.")
        return redirect(_done_url(pump))
    try:
        pump_program_change(
            actor=request.user,
            pump=pump,
            proposed=proposed,
            context=form.cleaned_data["context"],
            reason=form.cleaned_data["reason"],
            effective_from=form.cleaned_data["effective_from"],
            expected_current_program_id=expected,
            override_reason=data["override_reason"],
            bridge_confirmed=data["bridge_confirmed"],
            pump_running_confirmed=data["pump_running_confirmed"],
            verified_by=verifier,
        )
    except ValidationError as exc:
        # Confirmation fields get their messages beside them; the rest (the proposal is not
        # editable on this page) go to the top, with a link to start again.
        context["errors"] = _apply_errors(exc, [confirm])
        return render(request, "programs/review.html", context)
    messages.success(request, f"New program saved for {pump.patient.full_name}.")
    return redirect(_done_url(pump))


def _is_replay(latest: Any, user: Any, proposed: Any) -> bool:
    recent = (timezone.now() - latest.entered_at).total_seconds() < 600
    same = (
        latest.entered_by_id == user.pk
        and latest.concentration_mcg_per_ml == proposed.concentration_mcg_per_ml
        and latest.mode == proposed.mode
        and latest.daily_dose_mcg == proposed.daily_dose_mcg
        and [(s.start_time, s.rate_mcg_per_hour) for s in latest.steps.all()]
        == [(s.start_time, s.rate_mcg_per_hour) for s in proposed.steps]
    )
    return recent and same
