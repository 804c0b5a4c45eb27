"""Changes made in the admin are audited with a required reason; clinical history is read-only
there."""

import pytest
from django.test import Client

from audit.models import AuditAction, AuditEntry
from pumps.models import PumpModel


@pytest.fixture
def admin_client_(world) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


def patient_form(patient, **changes):
    data = {
        "clinic": patient.clinic_id,
        "mrn": patient.mrn,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "spasticity_origin": patient.spasticity_origin,
        "sci_level": patient.sci_level,
        "time_zone": patient.time_zone,
        "notes": patient.notes,
        # Read-only inlines still post their management forms.
        "care_team-TOTAL_FORMS": "0",
        "care_team-INITIAL_FORMS": "0",
        "pumps-TOTAL_FORMS": "0",
        "pumps-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_admin_change_without_reason_is_refused(world, admin_client_):
    url = f"/admin/pumps/patient/{world.patient_a1.pk}/change/"
    response = admin_client_.post(url, patient_form(world.patient_a1, sci_level="T2"))
    assert response.status_code == 200
    assert "Say why this record is changed." in response.content.decode()
    world.patient_a1.refresh_from_db()
    assert world.patient_a1.sci_level == ""


def test_admin_change_is_audited_with_reason(world, admin_client_):
    url = f"/admin/pumps/patient/{world.patient_a1.pk}/change/"
    response = admin_client_.post(
        url, patient_form(world.patient_a1, sci_level="T2", change_reason="MRI report")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(action=AuditAction.UPDATE, record_type="pumps.Patient")
    assert entry.actor == world.admin
    assert entry.changes == {"sci_level": ["", "T2"]}
    assert entry.reason == "MRI report"
    assert entry.patient == world.patient_a1


def test_admin_refuses_alarm_above_capacity_in_the_catalog(world, admin_client_):
    model = PumpModel.objects.get(model_number="8637-20")
    url = f"/admin/pumps/pumpmodel/{model.pk}/change/"
    page = admin_client_.get(url)
    assert page.status_code == 200
    data = {
        "manufacturer": model.manufacturer,
        "name": model.name,
        "model_number": model.model_number,
        "kind": model.kind,
        "reservoir_capacity_ml": "20",
        "reservoir_capacity_confidence": "confirmed",
        "default_low_reservoir_alarm_ml": "22",
        "default_low_reservoir_alarm_confidence": "unconfirmed",
        "pump_tubing_volume_ml": "0.14",
        "pump_tubing_volume_confidence": "confirmed",
        "fixed_flow_rate_ml_per_day": "",
        "fixed_flow_rate_confidence": "unconfirmed",
        "battery_life_months": "84",
        "battery_life_confidence": "confirmed",
        "eri_to_shutdown_days": "90",
        "mri_notes": model.mri_notes,
        "source_notes": model.source_notes,
        "is_available": "on",
        "change_reason": "test",
    }
    response = admin_client_.post(url, data)
    assert response.status_code == 200
    assert "must be below the reservoir capacity" in response.content.decode()
    model.refresh_from_db()
    assert str(model.default_low_reservoir_alarm_ml) == "2.00"


@pytest.mark.parametrize(
    "url",
    [
        "/admin/pumps/pumpprogram/add/",
        "/admin/pumps/reservoirfill/add/",
        "/admin/audit/auditentry/add/",
        "/admin/dosing/dilution/add/",
    ],
)
def test_clinical_history_cannot_be_added_in_the_admin(admin_client_, url):
    assert admin_client_.get(url).status_code == 403


def test_patients_cannot_be_deleted_in_the_admin(world, admin_client_):
    response = admin_client_.get(f"/admin/pumps/patient/{world.patient_a1.pk}/delete/")
    assert response.status_code == 403
