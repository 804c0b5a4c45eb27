"""Example bodies for the API documentation (the demo clinic's shapes, times in UTC)."""

from typing import Any

from drf_spectacular.utils import OpenApiExample

PATIENT = {
    "id": 7,
    "clinic": 1,
    "clinic_name": "Riverside ITB Clinic",
    "mrn": "R-1014",
    "given_name": "Ines",
    "family_name": "Castillo",
    "date_of_birth": "1995-01-19",
    "spasticity_origin": "spinal",
    "sci_level": "T5",
    "communication_difficulty": False,
    "history_of_withdrawal": False,
    "high_withdrawal_risk": True,
    "time_zone": "America/New_York",
}
CARE_TEAM_MEMBER = {
    "id": 2,
    "username": "nurse",
    "name": "Nadia Brennan",
    "role": "nurse",
    "clinic": 1,
    "patient": None,
    "is_clinic_lead": False,
    "is_on_call": False,
    "relationship": "",
}
PROGRAM = {
    "id": 12,
    "pump": 7,
    "effective_from": "2026-08-15T14:00:00Z",
    "mode": "simple",
    "concentration_mcg_per_ml": "2000.00",
    "daily_dose_mcg": "700.000",
    "steps": [],
    "reason": "Maintenance",
    "dose_change_verdict": "ok",
    "override_reason": "",
    "entered_by": "clinician",
    "entered_at": "2026-08-15T14:05:00Z",
    "verified_by": None,
}
PUMP = {
    "id": 7,
    "patient": 7,
    "serial_number": "863740-R-1014",
    "model_number": "8637-40",
    "model_name": "SynchroMed II 40 mL",
    "reservoir_capacity_ml": "40.00",
    "implanted_on": "2023-11-20",
    "status": "active",
    "low_reservoir_alarm_ml": "2.00",
    "fixed_flow_rate_ml_per_day": None,
    "elective_replacement_on": None,
    "replace_by_on": "2030-11-20",
    "next_visit_at": "2026-11-26T15:00:00Z",
    "current_program": PROGRAM,
    "catheter": {
        "id": 7,
        "model": "InDura 1P",
        "implanted_on": "2023-11-20",
        "implanted_length_cm": "60.0",
        "volume_per_cm_ml": "0.00220",
        "catheter_volume_ml": 0.132,
    },
    "projection": {
        "low_reservoir_alarm_at": "2026-12-02T15:30:00Z",
        "empty_at": "2026-12-08T04:20:00Z",
        "refill_due_at": "2026-11-22T15:30:00Z",
        "refill_due_reason": "low_reservoir_alarm",
        "stability_limit_at": "2027-02-11T21:19:00Z",
        "updated_at": "2026-08-15T14:05:00Z",
        "error": "",
    },
    "notes": "",
}
VISIT = {
    "id": 31,
    "pump": 7,
    "patient": 7,
    "scheduled_at": "2026-11-26T15:00:00Z",
    "duration_minutes": 30,
    "status": "booked",
    "late_reason": "First slot the family can make",
    "booked_by": "integrator",
    "booked_at": "2026-11-24T21:30:25Z",
    "cancelled_by": None,
    "cancelled_at": None,
    "cancel_reason": "",
    "completed_by": None,
    "completed_at": None,
    "fill": None,
}
COMPLETED_VISIT = {
    **VISIT,
    "status": "completed",
    "completed_by": "integrator",
    "completed_at": "2026-11-26T15:20:00Z",
    "fill": 45,
    "reconciliation": {
        "expected_residual_ml": "2.7999",
        "residual_discrepancy_ml": "-0.6999",
        "delivered_discrepancy_percent": "4.604",
        "flags": [],
    },
}
ALERT = {
    "id": 8,
    "pump": 7,
    "patient": 7,
    "clinic": 1,
    "kind": "refill_overdue",
    "severity": "high",
    "status": "open",
    "high_risk": True,
    "subject_at": "2026-11-22T15:30:00Z",
    "raised_at": "2026-11-24T21:19:00Z",
    "stage": 0,
    "next_escalation_at": "2026-11-24T22:19:00Z",
    "acknowledged_at": None,
    "acknowledged_by": None,
    "acknowledged_via": "",
    "acknowledge_note": "",
    "resolved_at": None,
    "resolved_by": None,
    "resolution": "",
}
FIELD_ERRORS = {
    "late_reason": ["The refill is due by Sun 22 Nov 2026 10:30 EST; say why this visit is later."]
}


def detail(name: str, value: dict[str, Any], status: str = "200") -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[status])


def page(name: str, value: dict[str, Any]) -> OpenApiExample:
    """A list page's example: the schema generator wraps it in the cursor page."""
    return OpenApiExample(name, value=value, response_only=True, status_codes=["200"])


def bad_input(value: dict[str, Any] | None = None) -> OpenApiExample:
    return OpenApiExample(
        "Bad input", value=value or FIELD_ERRORS, response_only=True, status_codes=["400"]
    )
