"""The first browser pages. Every patient shown comes from ``pumps.selectors``."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from audit.access import note_patient_read
from pumps.models import CareRole, Clinic, Patient, Pump
from pumps.selectors import patients_visible_to, pumps_visible_to
from refills.views import board as refill_board
from web.navigation import API_DOCS_URL, WORKING_STAFF_ROLES, care_roles_of


@login_required
def home(request: HttpRequest) -> HttpResponse:
    roles = care_roles_of(request.user)
    if roles & WORKING_STAFF_ROLES:
        return refill_board(request)
    if CareRole.CAREGIVER.value in roles:
        return redirect("web:caregiver")
    return render(
        request,
        "web/no_patients.html",
        {"is_integrator": CareRole.INTEGRATOR.value in roles, "api_docs_url": API_DOCS_URL},
    )


@dataclass(frozen=True)
class CaregiverCard:
    patient: Patient
    clinic: Clinic
    pump: Pump | None
    # "synchromed", "fixed_rate", "other" or "unknown" (no active pump on record).
    alarm_kind: str


def _alarm_kind(pump: Pump | None) -> str:
    return pump.alarm_kind if pump is not None else "unknown"


@login_required
def caregiver(request: HttpRequest) -> HttpResponse:
    user: Any = request.user  # signed in (login_required)
    patients = list(
        patients_visible_to(user)
        .filter(care_team__user=user, care_team__role=CareRole.CAREGIVER)
        .select_related("clinic")
        .order_by("family_name", "given_name", "pk")
    )
    if not patients:
        raise Http404("No patients in your care.")
    note_patient_read(request, [patient.pk for patient in patients], "caregiver page")
    pumps = {
        pump.patient_id: pump
        for pump in pumps_visible_to(user, active_only=True).filter(patient__in=patients)
    }
    cards = [
        CaregiverCard(
            patient=patient,
            clinic=patient.clinic,
            pump=pumps.get(patient.pk),
            alarm_kind=_alarm_kind(pumps.get(patient.pk)),
        )
        for patient in patients
    ]
    return render(request, "web/caregiver.html", {"cards": cards})
