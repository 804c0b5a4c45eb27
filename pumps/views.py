"""Staff pages: the patient page and the screening-trial calculator.

Access: every patient comes from ``pumps.selectors.patients_visible_to`` and the page is for the
clinic's clinicians and nurses only (``roles_for_patient``); anyone else gets a 404, so the page
does not even confirm that the patient exists. Every number comes from the dosing engine or the
pump's stored projection; this module only chooses what to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit.access import note_patient_read
from dosing.display import plain
from dosing.engine.programs import (
    FlexProgram,
    FlexStep,
    ProgramError,
    ProgramRates,
    SimpleProgram,
    flex_step_summaries,
    program_rates,
)
from dosing.engine.screening import (
    check_screening_bolus,
    screening_volume_ml,
    starting_daily_dose,
)
from dosing.engine.units import format_quantity
from dosing.selectors import DosingRulesMissing, engine_rules
from pumps.chart import Marker, ReservoirChart, reservoir_chart
from pumps.forms import ScreeningForm
from pumps.models import (
    CareRole,
    CareTeamMember,
    Catheter,
    Patient,
    Pump,
    PumpProgram,
    PumpStatus,
)
from pumps.projection import PumpState, engine_program, pump_state
from pumps.selectors import default_time_zone_for, patients_visible_to, roles_for_patient
from pumps.timeline import patient_timeline
from refills.models import RefillVisit, VisitStatus
from web.navigation import WORKING_STAFF_ROLES, care_roles_of

# Standard screening bolus doses (domain.md §2.2: 50, 75, 100 mcg; 25 mcg for very small
# patients or those who rely on their spasticity).
STANDARD_SCREENING_DOSES_MCG = (25.0, 50.0, 75.0, 100.0)


def q(value: float, unit: str) -> str:
    """Display text of an engine number (3 significant digits, trailing zeros dropped)."""
    return format_quantity(value, unit=unit)


# --- Patient page --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepRow:
    start: str
    end: str
    hours: str
    rate_mcg_per_hour: str
    rate_ml_per_hour: str
    dose_mcg: str
    volume_ml: str


@dataclass(frozen=True, slots=True)
class ProgramView:
    """The program in force, as display text."""

    kind: str  # "programmable" or "fixed_rate"
    mode: str
    concentration: str
    daily_dose: str
    daily_volume: str
    rate_mcg_per_hour: str
    rate_ml_per_hour: str
    steps: tuple[StepRow, ...] = ()
    effective_from: datetime | None = None
    label_flow_rate: str = ""


def _rates_text(rates: ProgramRates) -> dict[str, Any]:
    return {
        "daily_dose": q(rates.daily_dose_mcg, "mcg/day"),
        "daily_volume": q(rates.daily_volume_ml, "mL/day"),
        "rate_mcg_per_hour": q(rates.rate_mcg_per_hour, "mcg/h"),
        "rate_ml_per_hour": q(rates.rate_ml_per_hour, "mL/h"),
    }


def _step_rows(program: FlexProgram) -> tuple[StepRow, ...]:
    rows = []
    for step in flex_step_summaries(program=program):
        # The step's mL/h is the engine's mL/h of the step's rate run as an all-day program.
        alone = FlexProgram(
            concentration_mcg_per_ml=program.concentration_mcg_per_ml,
            steps=(FlexStep(start=step.start, rate_mcg_per_hour=step.rate_mcg_per_hour),),
        )
        rows.append(
            StepRow(
                start=f"{step.start:%H:%M}",
                end=f"{step.end:%H:%M}",
                hours=q(step.hours, "h"),
                rate_mcg_per_hour=q(step.rate_mcg_per_hour, "mcg/h"),
                rate_ml_per_hour=q(program_rates(program=alone).rate_ml_per_hour, "mL/h"),
                dose_mcg=q(step.dose_mcg, "mcg"),
                volume_ml=q(step.volume_ml, "mL"),
            )
        )
    return tuple(rows)


def _programmable_view(program: PumpProgram) -> ProgramView:
    engine = engine_program(program)
    steps = _step_rows(engine) if isinstance(engine, FlexProgram) else ()
    return ProgramView(
        kind="programmable",
        mode=program.get_mode_display(),
        concentration=q(float(program.concentration_mcg_per_ml), "mcg/mL"),
        steps=steps,
        effective_from=program.effective_from,
        **_rates_text(program_rates(program=engine)),
    )


def _fixed_rate_view(pump: Pump, state: PumpState | None) -> ProgramView | None:
    """A constant-flow pump: its label rate, and the dose it gives at the fill concentration
    (the engine's program for the pump, from ``pump_state``)."""
    if state is None:
        return None
    change = state.engine_fill.programs[0]  # type: ignore[index]  # normalised to a tuple
    program = change.program
    assert isinstance(program, SimpleProgram)
    return ProgramView(
        kind="fixed_rate",
        mode="Fixed rate (constant flow)",
        concentration=q(program.concentration_mcg_per_ml, "mcg/mL"),
        label_flow_rate=q(float(pump.fixed_flow_rate_ml_per_day or 0), "mL/day"),
        effective_from=state.fill.filled_at,
        **_rates_text(program_rates(program=program)),
    )


def staff_patient_or_404(request: HttpRequest, pk: int) -> Patient:
    """The patient, when the user is a clinician or nurse of the patient's clinic; else 404."""
    patient = patients_visible_to(request.user).select_related("clinic").filter(pk=pk).first()
    if patient is None or not roles_for_patient(request.user, patient) & WORKING_STAFF_ROLES:
        raise Http404("No such patient in your clinics.")
    return patient


def _care_team(patient: Patient) -> list[CareTeamMember]:
    members = (
        CareTeamMember.objects.filter(
            Q(clinic_id=patient.clinic_id, role__in=WORKING_STAFF_ROLES)
            | Q(patient=patient, role=CareRole.CAREGIVER)
        )
        .select_related("user")
        .order_by("role", "user__last_name", "user__username")
    )
    order = {"clinician": 0, "nurse": 1, "caregiver": 2}
    return sorted(members, key=lambda m: order.get(str(m.role), 9))


def _risk_factors(patient: Patient) -> list[str]:
    factors = []
    if patient.sci_level:
        factors.append(f"Spinal cord injury at {patient.sci_level}")
    if patient.communication_difficulty:
        factors.append("Communication difficulty: cannot reliably report early withdrawal")
    if patient.history_of_withdrawal:
        factors.append("History of baclofen withdrawal")
    return factors


def _stored_values(
    pump: Pump | None, catheter: Catheter | None, state: PumpState | None
) -> dict[str, str]:
    """Stored device values as written on the record, with their unit."""
    values: dict[str, str] = {}
    if pump is not None:
        values["alarm"] = f"{plain(pump.low_reservoir_alarm_ml)} mL"
        values["capacity"] = f"{plain(pump.pump_model.reservoir_capacity_ml)} mL"
        if pump.fixed_flow_rate_ml_per_day is not None:
            values["flow_rate"] = f"{plain(pump.fixed_flow_rate_ml_per_day)} mL/day"
    if catheter is not None:
        values["length"] = f"{plain(catheter.implanted_length_cm)} cm"
        values["volume_per_cm"] = f"{plain(catheter.volume_per_cm_ml)} mL/cm"
    if state is not None:
        values["fill_volume"] = f"{plain(state.fill.volume_ml)} mL"
        values["fill_concentration"] = f"{plain(state.fill.concentration_mcg_per_ml)} mcg/mL"
    return values


@login_required
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    patient = staff_patient_or_404(request, pk)
    note_patient_read(request, [patient.pk], "patient page")
    zone = patient.effective_time_zone
    now = timezone.now()
    pump = (
        Pump.objects.filter(patient=patient, status=PumpStatus.ACTIVE)
        .select_related("pump_model")
        .first()
    )
    catheter: Catheter | None = None
    program_view: ProgramView | None = None
    program_error = ""
    chart: ReservoirChart | None = None
    chart_error = ""
    state: PumpState | None = None
    booked: list[RefillVisit] = []
    if pump is not None:
        pump.patient = patient  # already loaded, with its clinic
        catheter = (
            pump.catheters.filter(removed_on__isnull=True).select_related("catheter_model").first()
        )
        try:
            state = pump_state(pump)
        except (ProgramError, ValueError) as exc:
            chart_error = str(exc)
        try:
            if pump.pump_model.is_fixed_rate:
                program_view = _fixed_rate_view(pump, state)
            else:
                current = (
                    pump.programs.filter(effective_from__lte=now)
                    .prefetch_related("steps")
                    .order_by("-effective_from")
                    .first()
                )
                program_view = _programmable_view(current) if current is not None else None
        except (ProgramError, ValueError) as exc:
            program_error = str(exc)
        booked = list(pump.refill_visits.filter(status=VisitStatus.BOOKED).order_by("scheduled_at"))
        if state is not None:
            markers = [Marker("booked", visit.scheduled_at) for visit in booked]
            if pump.refill_due_at is not None:
                markers.insert(0, Marker("due", pump.refill_due_at))
            markers.append(Marker("now", now))
            try:
                chart = reservoir_chart(
                    fill=state.engine_fill,
                    low_reservoir_alarm_ml=float(pump.low_reservoir_alarm_ml),
                    capacity_ml=float(pump.pump_model.reservoir_capacity_ml),
                    time_zone=zone,
                    markers=markers,
                    title=f"Projected reservoir volume of {patient.full_name}'s pump (mL)",
                )
            except (ProgramError, ValueError) as exc:
                chart_error = str(exc)
    return render(
        request,
        "pumps/patient.html",
        {
            "stored": _stored_values(pump, catheter, state),
            "has_fill": state is not None or (pump is not None and pump.fills.exists()),
            "patient": patient,
            "zone": zone,
            "age": patient.age_in_years(),
            "risk_factors": _risk_factors(patient),
            "care_team": _care_team(patient),
            "pump": pump,
            "catheter": catheter,
            "catheter_volume": q(catheter.catheter_volume_ml, "mL") if catheter else "",
            "program": program_view,
            "program_error": program_error,
            "state": state,
            "chart": chart,
            "chart_error": chart_error,
            "booked": booked,
            "timeline": patient_timeline(patient),
        },
    )


# --- Screening trial -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScreeningResult:
    volume: str
    verdict: str  # "ok", "soft_stop" or "hard_stop"
    reasons: tuple[str, ...]
    starting_dose: str
    starting_rule: str
    multiplier: str


def _require_working_staff(request: HttpRequest) -> None:
    if not care_roles_of(request.user) & WORKING_STAFF_ROLES:
        raise Http404("This page is for clinicians and nurses.")


@login_required
def screening(request: HttpRequest) -> HttpResponse:
    """The screening-trial calculator (domain.md §2.2–2.3); nothing is saved."""
    _require_working_staff(request)
    zone = default_time_zone_for(request.user)
    try:
        rules = engine_rules().screening
    except DosingRulesMissing as exc:
        return render(request, "pumps/screening.html", {"rules_missing": str(exc)})
    doses = [
        {"dose": q(dose, "mcg"), "volume": q(screening_volume_ml(dose_mcg=dose, rules=rules), "mL")}
        for dose in STANDARD_SCREENING_DOSES_MCG
        if dose <= rules.max_bolus_mcg
    ]
    result: ScreeningResult | None = None
    with timezone.override(zone):
        form = ScreeningForm(request.POST if request.method == "POST" else None)
        valid = form.is_valid()
    if valid:
        data: dict[str, Any] = form.cleaned_data
        check = check_screening_bolus(
            dose_mcg=form.dose_mcg(),
            at=data["bolus_at"] or timezone.now(),
            previous_bolus_at=data["previous_bolus_at"],
            rules=rules,
        )
        start = starting_daily_dose(
            screening_dose_mcg=form.dose_mcg(), effect_duration_hours=form.hours(), rules=rules
        )
        result = ScreeningResult(
            volume=q(check.volume_ml, "mL"),
            verdict=check.verdict,
            reasons=tuple(reason.message for reason in check.reasons),
            starting_dose=q(start.daily_dose_mcg, "mcg/day"),
            starting_rule=start.rule,
            multiplier=f"{start.multiplier:g}",
        )
    return render(
        request,
        "pumps/screening.html",
        {
            "form": form,
            "result": result,
            "doses": doses,
            "rules": rules,
            "zone": zone,
            "concentration": q(rules.concentration_mcg_per_ml, "mcg/mL"),
            "max_bolus": q(rules.max_bolus_mcg, "mcg"),
            "min_hours": q(rules.min_hours_between_boluses, "h"),
            "threshold": q(rules.long_effect_threshold_hours, "h"),
            "default_multiplier": f"{rules.default_multiplier:g}",
            "long_multiplier": f"{rules.long_effect_multiplier:g}",
        },
    )
