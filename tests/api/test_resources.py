"""The resources of ``/api/v1/`` on PostgreSQL: lists and details, filters and ordering, ETags
and If-Match on every change, program changes through the dosing checks, a refill booked and
completed the way an integrator does it, and the audit entries naming the API token.

The clock is pinned (``api_clock``); the pump is TC-01 in patient A1 filled on 1 November 2026
12:00 UTC: refill due 24 November 12:00, alarm 1 December 12:00, empty 4 December 20:00 (see
tests/api/conftest.py).
"""

import contextvars
import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_issue
from alerts.models import Alert, AlertKind, AlertStatus
from alerts.services import alert_acknowledge
from alerts.sweep import run_sweep
from audit.models import AuditAction, AuditEntry
from pumps.models import CatheterModel, Pump, PumpBolus, PumpModel, PumpProgram, ReservoirFill
from pumps.services import pump_implant, pump_update
from refills.models import RefillVisit, VisitStatus
from refills.services import refill_cancel, refill_reschedule, refill_schedule
from tests.api.conftest import (
    API_ALARM_AT,
    API_DUE_AT,
    API_EMPTY_AT,
    API_FILLED_AT,
    API_NOW,
)
from tests.conftest import World

pytestmark = pytest.mark.usefixtures("postgres")

PUMPS = "/api/v1/pumps/"
PROGRAMS = "/api/v1/programs/"
VISITS = "/api/v1/refill-visits/"
ALERTS = "/api/v1/alerts/"

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# A quantity's field name ends with its unit; these numbers are ids, counts or codes.
UNITLESS = {"id", "pump", "patient", "clinic", "fill", "stage", "product"}
UNITS = ("_ml", "_mcg", "_per_ml", "_per_day", "_per_hour", "_cm", "_minutes", "_percent")


def iso(moment: datetime) -> str:
    """How the API writes a time: ISO 8601 in UTC with a Z."""
    return moment.isoformat().replace("+00:00", "Z")


def via_token(name: str) -> str:
    """The audit ``via`` of the newest API token called ``name`` (``api_as`` names them)."""
    token = ApiToken.objects.filter(name=name).order_by("-id").first()
    assert token is not None
    return f"API token itb_{token.prefix}"


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def ids(response: Any) -> list[int]:
    return [row["id"] for row in results(response)]


def check_units_and_times(data: Any, path: str = "") -> None:
    """Every quantity names its unit; every time is UTC ending in Z; recursively."""
    if isinstance(data, list):
        for item in data:
            check_units_and_times(item, path)
        return
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        where = f"{path}.{key}"
        if isinstance(value, dict | list):
            check_units_and_times(value, where)
        elif key.endswith("_at") and value is not None:
            assert UTC_TIME.match(value), (where, value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | float) or (isinstance(value, str) and NUMBER.match(value)):
            if key in UNITLESS or key == "serial_number":
                continue
            assert key.endswith(UNITS), f"{where} = {value!r} does not name its unit"


def book(client: APIClient, pump: Pump, when: datetime, **extra: Any) -> Any:
    return client.post(VISITS, {"pump": pump.pk, "scheduled_at": iso(when), **extra}, format="json")


def nurse_books(world: World, pump: Pump, when: datetime) -> RefillVisit:
    return refill_schedule(actor=world.nurse, pump=pump, scheduled_at=when)


def etag(client: APIClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return str(response["ETag"])


def pump_in_clinic_b(world: World) -> Pump:
    return pump_implant(
        actor=world.clinician_b,
        patient=world.patient_b1,
        pump_model=PumpModel.objects.get(model_number="8637-20"),
        serial_number="NGPB00001",
        implanted_on=date(2024, 2, 1),
        catheter_model=CatheterModel.objects.get(model_number="8709SC"),
        catheter_length_cm=Decimal("50"),
        catheter_volume_per_cm_ml=Decimal("0.0020"),
    )


def audit_since(last_id: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(pk__gt=last_id).order_by("id"))


def last_audit_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


# --- 1. lists and details -------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["write_token", "clinician"])
def test_pump_list_and_detail_show_the_projection_with_units_in_utc(
    api_as, api_pump, world, caller
):
    b_pump = pump_in_clinic_b(world)
    client = api_as(caller)

    rows = results(client.get(PUMPS))
    assert [row["id"] for row in rows] == [api_pump.pk]  # not clinic B's pump
    pump = rows[0]
    assert pump["serial_number"] == "NGP100001" and pump["model_number"] == "8637-20"
    assert pump["reservoir_capacity_ml"] == "20.00"
    assert pump["low_reservoir_alarm_ml"] == "2.00"
    assert pump["status"] == "active" and pump["patient"] == world.patient_a1.pk
    assert pump["projection"] == {
        "low_reservoir_alarm_at": "2026-12-01T12:00:00Z",
        "empty_at": "2026-12-04T20:00:00Z",
        "refill_due_at": "2026-11-24T12:00:00Z",
        "refill_due_reason": "low_reservoir_alarm",
        "stability_limit_at": pump["projection"]["stability_limit_at"],
        "updated_at": "2026-11-01T13:00:00Z",
        "error": "",
    }
    assert pump["projection"]["low_reservoir_alarm_at"] == iso(API_ALARM_AT)
    assert pump["projection"]["empty_at"] == iso(API_EMPTY_AT)
    assert pump["current_program"]["daily_dose_mcg"] == "300.000"
    assert pump["current_program"]["concentration_mcg_per_ml"] == "500.00"
    assert pump["catheter"]["implanted_length_cm"] == "60.0"
    assert pump["catheter"]["catheter_volume_ml"] == pytest.approx(0.12)
    check_units_and_times(pump)

    detail = client.get(f"{PUMPS}{api_pump.pk}/")
    assert detail.status_code == 200
    assert detail.json() == pump
    assert re.match(r'^"[0-9a-f]{32}"$', detail["ETag"])
    assert client.get(f"{PUMPS}{b_pump.pk}/").status_code == 404


def test_patients_and_care_team_are_those_of_the_callers_clinic(api_as, world):
    for caller in ("write_token", "clinician"):
        client = api_as(caller)
        patients = results(client.get("/api/v1/patients/"))
        assert [p["mrn"] for p in patients] == ["A1", "A2"]
        assert patients[0]["clinic_name"] == "Clinic A"
        assert patients[0]["time_zone"] == "America/New_York"
        detail = client.get(f"/api/v1/patients/{world.patient_a1.pk}/")
        assert detail.status_code == 200 and detail.json() == patients[0] and detail["ETag"]
        assert client.get(f"/api/v1/patients/{world.patient_b1.pk}/").status_code == 404
        team = results(client.get("/api/v1/care-team/"))
        assert {m["username"] for m in team} == {
            "clinician",
            "nurse",
            "integrator",
            "caregiver_a",
            "caregiver_b",
        }
        member = team[0]
        assert client.get(f"/api/v1/care-team/{member['id']}/").json() == member
    other = api_as("clinician_b")
    assert [p["mrn"] for p in results(other.get("/api/v1/patients/"))] == ["B1"]
    assert {m["username"] for m in results(other.get("/api/v1/care-team/"))} == {"clinician_b"}


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_gets_json_and_no_html_forms(api_as, api_pump, world):
    """A signed-in browser opening the API gets the JSON an integrator gets, not DRF's browsable
    API (whose inline styles the Content-Security-Policy refuses)."""
    client = api_as("clinician")
    for path in (
        "/api/v1/pumps/",
        f"/api/v1/pumps/{api_pump.pk}/",
        "/api/v1/programs/",
    ):
        response = client.get(path, HTTP_ACCEPT=BROWSER_ACCEPT)
        assert response.status_code == 200, (path, response.status_code)
        assert response["Content-Type"] == "application/json", (path, response["Content-Type"])
        body = response.content.decode()
        assert "<form" not in body, path
        json.loads(body)
    assert client.get("/api/v1/pumps/?format=api").status_code == 404


def test_the_api_reads_json_bodies_only(api_as, api_pump):
    """JSON in as JSON out: a form-encoded or multipart body is a 415 that changes nothing (the
    pages post their forms to themselves, never to the API), and the schema lists
    application/json request bodies only."""
    client = api_as("write_token")
    body = {"pump": api_pump.pk, "scheduled_at": iso(API_FILLED_AT + timedelta(days=20))}
    form = "application/x-www-form-urlencoded"
    refused = {
        "multipart": client.post(VISITS, body, format="multipart"),
        "form": client.post(VISITS, urlencode(body), content_type=form),
        "calculator form": client.post(
            "/api/v1/dosing/projection/",
            urlencode({"concentration": "500 mcg/mL"}),
            content_type=form,
        ),
    }
    for what, response in refused.items():
        assert response.status_code == 415, (what, response.content)
        assert "Unsupported media type" in response.json()["detail"], what
    assert not RefillVisit.objects.exists()
    assert book(client, api_pump, API_FILLED_AT + timedelta(days=20)).status_code == 201

    schema = json.loads(Client().get("/api/schema/?format=json").content)
    bodies = {
        f"{method.upper()} {path}": sorted(operation["requestBody"]["content"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "requestBody" in operation
    }
    assert "POST /api/v1/refill-visits/{id}/complete/" in bodies
    assert "POST /api/v1/dosing/projection/" in bodies
    assert {path: types for path, types in bodies.items() if types != ["application/json"]} == {}


def test_pump_filters_and_ordering(api_as, api_pump, make_pumps, world):
    # Two more pumps filled one and two hours earlier: due 11:00 and 10:00 on 24 November.
    due_11, due_10 = make_pumps(2)
    explanted = pump_implant(
        actor=world.clinician,
        patient=world.patient_a2,
        pump_model=PumpModel.objects.get(model_number="8637-20"),
        serial_number="NGPOLD001",
        implanted_on=date(2020, 1, 1),
        catheter_model=CatheterModel.objects.get(model_number="8709SC"),
        catheter_length_cm=Decimal("55"),
        catheter_volume_per_cm_ml=Decimal("0.0020"),
    )
    # There is no explant service yet: mark it explanted directly.
    Pump.objects.filter(pk=explanted.pk).update(status="explanted", explanted_on=date(2023, 5, 1))
    client = api_as("write_token")

    assert ids(client.get(PUMPS, {"status": "explanted"})) == [explanted.pk]
    assert set(ids(client.get(PUMPS, {"status": "active"}))) == {api_pump.pk, due_11.pk, due_10.pk}
    assert ids(client.get(PUMPS, {"refill_due_before": "2026-11-24T11:00:00Z"})) == [due_10.pk]
    assert set(ids(client.get(PUMPS, {"refill_due_before": iso(API_DUE_AT)}))) == {
        due_10.pk,
        due_11.pk,
    }
    assert ids(client.get(PUMPS, {"refill_due_before": "2026-11-24T10:00:00Z"})) == []
    by_due = client.get(PUMPS, {"status": "active", "ordering": "refill_due_at"})
    assert ids(by_due) == [due_10.pk, due_11.pk, api_pump.pk]
    dues = [row["projection"]["refill_due_at"] for row in results(by_due)]
    assert dues == ["2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z", "2026-11-24T12:00:00Z"]
    assert ids(client.get(PUMPS, {"status": "active", "ordering": "-refill_due_at"})) == [
        api_pump.pk,
        due_11.pk,
        due_10.pk,
    ]
    assert ids(client.get(PUMPS, {"patient": world.patient_a1.pk})) == [api_pump.pk]
    bad = client.get(PUMPS, {"refill_due_before": "next tuesday"})
    assert bad.status_code == 400 and "refill_due_before" in bad.json()


def test_program_list_and_detail(api_as, api_pump, make_pumps):
    (other,) = make_pumps(1)
    client = api_as("write_token")
    rows = results(client.get(PROGRAMS, {"pump": api_pump.pk}))
    assert len(rows) == 1
    program = rows[0]
    assert program["pump"] == api_pump.pk
    assert program["mode"] == "simple" and program["daily_dose_mcg"] == "300.000"
    assert program["effective_from"] == "2026-10-25T12:00:00Z"
    assert program["entered_by"] == "clinician"
    check_units_and_times(program)
    assert client.get(f"{PROGRAMS}{program['id']}/").json() == program
    assert len(results(client.get(PROGRAMS))) == 2
    assert [p["pump"] for p in results(client.get(PROGRAMS, {"pump": other.pk}))] == [other.pk]


def test_visit_list_detail_filters_and_ordering(api_as, api_pump, make_pumps, world):
    (other,) = make_pumps(1)
    cancelled = nurse_books(world, api_pump, API_FILLED_AT + timedelta(days=10))
    refill_cancel(actor=world.nurse, visit=cancelled, reason="Patient in hospital")
    booked = nurse_books(world, api_pump, API_FILLED_AT + timedelta(days=20))
    other_visit = nurse_books(world, other, API_FILLED_AT + timedelta(days=15))

    for caller in ("write_token", "clinician"):
        client = api_as(caller)
        # Default order: scheduled_at.
        assert ids(client.get(VISITS)) == [cancelled.pk, other_visit.pk, booked.pk]
        assert ids(client.get(VISITS, {"status": "booked"})) == [other_visit.pk, booked.pk]
        assert ids(client.get(VISITS, {"status": "cancelled"})) == [cancelled.pk]
        assert ids(client.get(VISITS, {"status": "completed"})) == []
        assert ids(client.get(VISITS, {"pump": api_pump.pk})) == [cancelled.pk, booked.pk]
        assert ids(client.get(VISITS, {"pump": other.pk, "status": "booked"})) == [other_visit.pk]
        assert ids(client.get(VISITS, {"ordering": "-scheduled_at"})) == [
            booked.pk,
            other_visit.pk,
            cancelled.pk,
        ]
        detail = client.get(f"{VISITS}{cancelled.pk}/")
        assert detail.status_code == 200 and detail["ETag"]
        body = detail.json()
        assert body["status"] == "cancelled" and body["cancel_reason"] == "Patient in hospital"
        assert body["scheduled_at"] == "2026-11-11T12:00:00Z"
        assert body["booked_by"] == "nurse" and body["cancelled_by"] == "nurse"
        assert body["patient"] == world.patient_a1.pk and body["duration_minutes"] == 30
        check_units_and_times(body)
    assert results(api_as("clinician_b").get(VISITS)) == []


@pytest.fixture
def alerts(world, api_pump, make_pumps):
    """Two pumps' alerts from three sweeps:

    - 10 Nov 12:00 (14 days before due): "refill not booked" for both pumps;
    - the nurse books the second pump and acknowledges the first pump's alert;
    - 24 Nov 13:00 (one hour after due): "refill overdue" for the first pump; the second
      pump's "not booked" is resolved (it is booked).
    """
    (other,) = make_pumps(1)
    first_sweep = API_DUE_AT - timedelta(days=14)
    run_sweep(now=first_sweep)
    nurse_books(world, other, API_DUE_AT - timedelta(hours=3))
    not_booked = Alert.objects.get(pump=api_pump, kind=AlertKind.REFILL_NOT_BOOKED)
    alert_acknowledge(actor=world.nurse, alert=not_booked, note="Calling the patient")
    run_sweep(now=API_DUE_AT + timedelta(hours=1))
    return {
        "pump": api_pump,
        "other": other,
        "not_booked": not_booked,
        "overdue": Alert.objects.get(pump=api_pump, kind=AlertKind.REFILL_OVERDUE),
        "resolved": Alert.objects.get(pump=other, kind=AlertKind.REFILL_NOT_BOOKED),
    }


def test_alert_list_detail_filters_and_ordering(api_as, alerts, world):
    not_booked, overdue, resolved = alerts["not_booked"], alerts["overdue"], alerts["resolved"]
    assert resolved.status == AlertStatus.RESOLVED
    every = set(Alert.objects.values_list("id", flat=True))
    for caller in ("write_token", "clinician"):
        client = api_as(caller)
        listed = ids(client.get(ALERTS))
        assert set(listed) == every and len(listed) == len(every)
        for query in ({}, {"ordering": "-raised_at"}):  # newest first by default
            raised = [row["raised_at"] for row in results(client.get(ALERTS, query))]
            assert raised == sorted(raised, reverse=True)
            assert raised[0] == "2026-11-24T13:00:00Z" and raised[-1] == "2026-11-10T12:00:00Z"
        raised = [
            row["raised_at"] for row in results(client.get(ALERTS, {"ordering": "raised_at"}))
        ]
        assert raised == sorted(raised) and raised[0] == "2026-11-10T12:00:00Z"
        assert overdue.pk in ids(client.get(ALERTS, {"kind": "refill_overdue"}))
        assert set(ids(client.get(ALERTS, {"kind": "refill_overdue"}))) == set(
            Alert.objects.filter(kind=AlertKind.REFILL_OVERDUE).values_list("id", flat=True)
        )
        assert set(ids(client.get(ALERTS, {"kind": "refill_not_booked"}))) == {
            not_booked.pk,
            resolved.pk,
        }
        open_ids = set(ids(client.get(ALERTS, {"status": "open"})))
        assert open_ids == set(
            Alert.objects.filter(status=AlertStatus.OPEN).values_list("id", flat=True)
        )
        assert {not_booked.pk, overdue.pk} <= open_ids and resolved.pk not in open_ids
        assert ids(client.get(ALERTS, {"status": "resolved"})) == [resolved.pk]
        assert ids(client.get(ALERTS, {"acknowledged": "true"})) == [not_booked.pk]
        assert not_booked.pk not in ids(client.get(ALERTS, {"acknowledged": "false"}))
        assert overdue.pk in ids(client.get(ALERTS, {"acknowledged": "false"}))
        assert ids(client.get(ALERTS, {"kind": "refill_not_booked", "status": "open"})) == [
            not_booked.pk
        ]

        detail = client.get(f"{ALERTS}{not_booked.pk}/")
        assert detail.status_code == 200 and detail["ETag"]
        body = detail.json()
        assert body["kind"] == "refill_not_booked" and body["status"] == "open"
        assert body["acknowledged_by"] == "nurse" and body["acknowledge_note"] == (
            "Calling the patient"
        )
        assert body["raised_at"] == "2026-11-10T12:00:00Z"
        assert body["subject_at"] == iso(API_DUE_AT)
        check_units_and_times(body)
    # Caregivers get their alerts by email, not through the API.
    assert results(api_as("caregiver_a").get(ALERTS)) == []
    assert results(api_as("clinician_b").get(ALERTS)) == []


# --- 2. ETag and If-Match -------------------------------------------------------------------------


def test_if_none_match_answers_304_until_the_record_changes(api_as, api_pump, world):
    client = api_as("write_token")
    url = f"{PUMPS}{api_pump.pk}/"
    tag = etag(client, url)
    assert api_as("nurse").get(url)["ETag"] == tag  # the same version whoever reads it
    cached = client.get(url, HTTP_IF_NONE_MATCH=tag)
    assert cached.status_code == 304 and cached.content == b"" and cached["ETag"] == tag
    pump_update(actor=world.nurse, pump=api_pump, reason="Note", notes="Seen in clinic")
    fresh = client.get(url, HTTP_IF_NONE_MATCH=tag)
    assert fresh.status_code == 200 and fresh["ETag"] != tag
    assert fresh.json()["notes"] == "Seen in clinic"


def pump_update_entries(pump: Pump) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            record_type="pumps.Pump", record_id=str(pump.pk), action=AuditAction.UPDATE
        ).order_by("id")
    )


def test_pump_patch_without_if_match_is_428_and_changes_nothing(api_as, api_pump):
    client = api_as("write_token")
    response = client.patch(
        f"{PUMPS}{api_pump.pk}/",
        {"low_reservoir_alarm_ml": "4.00", "reason": "Withdrawal above 2 mL"},
        format="json",
    )
    assert response.status_code == 428
    assert "If-Match" in response.json()["detail"]
    stored = Pump.objects.get(pk=api_pump.pk)
    assert stored.low_reservoir_alarm_ml == Decimal("2.00")
    assert stored.refill_due_at == API_DUE_AT
    assert pump_update_entries(api_pump) == []


def test_pump_patch_with_a_stale_etag_is_412_and_keeps_the_other_change(api_as, api_pump):
    nurse, token = api_as("nurse"), api_as("write_token")
    url = f"{PUMPS}{api_pump.pk}/"
    nurse_tag, token_tag = etag(nurse, url), etag(token, url)
    assert nurse_tag == token_tag
    first = nurse.patch(
        url,
        {"notes": "Catheter checked", "reason": "Clinic visit"},
        format="json",
        HTTP_IF_MATCH=nurse_tag,
    )
    assert first.status_code == 200 and first["ETag"] != nurse_tag

    second = token.patch(
        url,
        {"low_reservoir_alarm_ml": "4.00", "reason": "Raise the alarm"},
        format="json",
        HTTP_IF_MATCH=token_tag,
    )
    assert second.status_code == 412
    assert "changed since you read it" in second.json()["detail"]
    stored = Pump.objects.get(pk=api_pump.pk)
    assert stored.low_reservoir_alarm_ml == Decimal("2.00")
    assert stored.notes == "Catheter checked"
    assert stored.refill_due_at == API_DUE_AT
    entries = pump_update_entries(api_pump)
    assert [(e.reason, e.via) for e in entries] == [("Clinic visit", "API (session)")]


def test_pump_patch_with_the_current_etag_changes_it_and_moves_the_projection(api_as, api_pump):
    client = api_as("write_token")
    url = f"{PUMPS}{api_pump.pk}/"
    tag = etag(client, url)
    response = client.patch(
        url,
        {"low_reservoir_alarm_ml": "4.00", "reason": "Withdrawal above 2 mL"},
        format="json",
        HTTP_IF_MATCH=tag,
    )
    assert response.status_code == 200, response.content
    new_tag = response["ETag"]
    assert new_tag != tag
    body = response.json()
    assert body["low_reservoir_alarm_ml"] == "4.00"
    # 16 mL to the 4 mL alarm at 0.6 mL/day: 26⅔ days after the fill; due 7 days before.
    alarm = API_FILLED_AT + timedelta(days=16 / 0.6)
    assert body["projection"]["low_reservoir_alarm_at"] == iso(alarm)
    assert body["projection"]["refill_due_at"] == iso(alarm - timedelta(days=7))
    stored = Pump.objects.get(pk=api_pump.pk)
    assert stored.low_reservoir_alarm_ml == Decimal("4.00")
    assert stored.projected_alarm_at == alarm
    assert stored.refill_due_at == alarm - timedelta(days=7)
    (entry,) = pump_update_entries(api_pump)
    assert entry.reason == "Withdrawal above 2 mL"
    assert entry.via == via_token("write_token")
    assert entry.actor.username == "integrator"
    assert entry.changes["low_reservoir_alarm_ml"] == ["2", "4"]
    # The returned ETag is the one a GET gives now, and works for the next change.
    assert client.get(url, HTTP_IF_NONE_MATCH=new_tag).status_code == 304
    again = client.patch(
        url, {"notes": "ok", "reason": "Note"}, format="json", HTTP_IF_MATCH=new_tag
    )
    assert again.status_code == 200
    replayed = client.patch(
        url, {"notes": "late", "reason": "Note"}, format="json", HTTP_IF_MATCH=new_tag
    )
    assert replayed.status_code == 412


def test_visit_reschedule_needs_the_current_etag(api_as, api_pump, world):
    visit = nurse_books(world, api_pump, API_FILLED_AT + timedelta(days=19))
    url = f"{VISITS}{visit.pk}/"
    nurse, token = api_as("nurse"), api_as("write_token")
    nurse_tag, token_tag = etag(nurse, url), etag(token, url)
    move = {"scheduled_at": "2026-11-22T15:00:00Z", "reason": "Transport booked"}

    missing = token.patch(url, move, format="json")
    assert missing.status_code == 428

    first = nurse.patch(
        url,
        {"scheduled_at": "2026-11-21T15:00:00Z", "reason": "Patient asked"},
        format="json",
        HTTP_IF_MATCH=nurse_tag,
    )
    assert first.status_code == 200 and first.json()["scheduled_at"] == "2026-11-21T15:00:00Z"

    stale = token.patch(url, move, format="json", HTTP_IF_MATCH=token_tag)
    assert stale.status_code == 412
    assert RefillVisit.objects.get(pk=visit.pk).scheduled_at == datetime.fromisoformat(
        "2026-11-21T15:00:00+00:00"
    )

    before = last_audit_id()
    current = etag(token, url)
    response = token.patch(url, move, format="json", HTTP_IF_MATCH=current)
    assert response.status_code == 200, response.content
    assert response["ETag"] != current
    assert response.json()["scheduled_at"] == "2026-11-22T15:00:00Z"
    stored = RefillVisit.objects.get(pk=visit.pk)
    assert iso(stored.scheduled_at) == "2026-11-22T15:00:00Z"
    assert iso(Pump.objects.get(pk=api_pump.pk).next_visit_at) == "2026-11-22T15:00:00Z"
    (entry,) = audit_since(before)
    assert entry.record_type == "refills.RefillVisit" and entry.action == AuditAction.UPDATE
    assert entry.reason == "Transport booked" and entry.via == via_token("write_token")
    assert entry.changes["scheduled_at"] == [
        "2026-11-21T15:00:00+00:00",
        "2026-11-22T15:00:00+00:00",
    ]


def test_visit_cancel_needs_the_current_etag(api_as, api_pump, world):
    visit = nurse_books(world, api_pump, API_FILLED_AT + timedelta(days=19))
    url = f"{VISITS}{visit.pk}/"
    token = api_as("write_token")
    stale_tag = etag(token, url)
    reason = {"reason": "Patient admitted elsewhere"}

    assert token.post(f"{url}cancel/", reason, format="json").status_code == 428
    refill_reschedule(
        actor=world.nurse,
        visit=visit,
        scheduled_at=API_FILLED_AT + timedelta(days=20),
        reason="Moved by phone",
    )
    stale = token.post(f"{url}cancel/", reason, format="json", HTTP_IF_MATCH=stale_tag)
    assert stale.status_code == 412
    assert RefillVisit.objects.get(pk=visit.pk).status == VisitStatus.BOOKED

    before = last_audit_id()
    response = token.post(f"{url}cancel/", reason, format="json", HTTP_IF_MATCH=etag(token, url))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["cancelled_by"] == "integrator"
    assert body["cancel_reason"] == "Patient admitted elsewhere"
    assert body["cancelled_at"] == iso(API_NOW)
    assert RefillVisit.objects.get(pk=visit.pk).status == VisitStatus.CANCELLED
    assert Pump.objects.get(pk=api_pump.pk).next_visit_at is None
    (entry,) = audit_since(before)
    assert entry.changes == {"status": ["booked", "cancelled"]}
    assert entry.reason == "Patient admitted elsewhere"
    assert entry.via == via_token("write_token")


# --- 4. program changes ---------------------------------------------------------------------------


def program_body(pump: Pump, dose: str, **extra: Any) -> dict[str, Any]:
    current = pump.programs.order_by("-effective_from").first()
    return {
        "pump": pump.pk,
        "expected_current_program": current.pk if current else None,
        "mode": "simple",
        "concentration_mcg_per_ml": "500",
        "daily_dose_mcg": dose,
        "context": "titration",
        "reason": "Spasticity not controlled",
        "pump_running_confirmed": True,
        **extra,
    }


def nothing_saved(pump: Pump, audit_before: int) -> None:
    assert PumpProgram.objects.filter(pump=pump).count() == 1
    assert audit_since(audit_before) == []
    assert Pump.objects.get(pk=pump.pk).refill_due_at == API_DUE_AT


def test_a_titration_is_saved_and_moves_the_stored_projection(api_as, api_pump):
    client = api_as("write_token")
    before = last_audit_id()
    response = client.post(PROGRAMS, program_body(api_pump, "360"), format="json")  # +20 %
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["dose_change_verdict"] == "ok" and body["override_reason"] == ""
    assert body["daily_dose_mcg"] == "360.000" and body["effective_from"] == iso(API_NOW)
    assert body["entered_by"] == "integrator" and response["ETag"]
    program = PumpProgram.objects.get(pk=body["id"])
    assert program.daily_dose_mcg == Decimal("360")
    # One hour at 0.6 mL/day, then 0.72 mL/day down to the 2 mL alarm.
    alarm = API_NOW + timedelta(days=(20 - 0.6 / 24 - 2) / 0.72)
    stored = Pump.objects.get(pk=api_pump.pk)
    assert abs((stored.projected_alarm_at - alarm).total_seconds()) < 1
    assert abs((stored.refill_due_at - (alarm - timedelta(days=7))).total_seconds()) < 1
    shown = client.get(f"{PUMPS}{api_pump.pk}/").json()
    assert shown["current_program"]["id"] == program.pk
    assert shown["projection"]["refill_due_at"] == iso(stored.refill_due_at)
    entries = audit_since(before)
    assert "pumps.PumpProgram" in {e.record_type for e in entries}
    assert {e.via for e in entries} == {via_token("write_token")}


def test_a_soft_stop_needs_an_override_reason(api_as, api_pump):
    client = api_as("write_token")
    before = last_audit_id()
    body = program_body(api_pump, "420")  # +40 %: above the spinal adult titration 30 %
    refused = client.post(PROGRAMS, body, format="json")
    assert refused.status_code == 400
    assert "document why" in " ".join(refused.json()["override_reason"])
    nothing_saved(api_pump, before)

    accepted = client.post(
        PROGRAMS, {**body, "override_reason": "Severe spasms; clinician call"}, format="json"
    )
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["dose_change_verdict"] == "soft_stop"
    assert accepted.json()["override_reason"] == "Severe spasms; clinician call"
    assert PumpProgram.objects.get(pk=accepted.json()["id"]).dose_change_verdict == "soft_stop"


def test_a_hard_stop_is_refused_even_with_an_override(api_as, api_pump):
    client = api_as("write_token")
    before = last_audit_id()
    # 600 mcg/day is twice the current 300: a suspected unit error.
    body = program_body(api_pump, "600", override_reason="I am sure")
    response = client.post(PROGRAMS, body, format="json")
    assert response.status_code == 400
    assert "never allowed" in " ".join(response.json()["daily_dose_mcg"])
    nothing_saved(api_pump, before)


def test_a_stale_expected_current_program_is_refused(api_as, api_pump, world):
    client = api_as("write_token")
    body = program_body(api_pump, "330")
    # Someone else changes the program while the integrator's form is open.
    assert api_as("clinician").post(PROGRAMS, body, format="json").status_code == 201
    before = last_audit_id()
    response = client.post(PROGRAMS, {**body, "daily_dose_mcg": "360"}, format="json")
    assert response.status_code == 400
    assert "changed while this form was open" in " ".join(response.json()["non_field_errors"])
    assert PumpProgram.objects.filter(pump=api_pump).count() == 2
    assert audit_since(before) == []


def test_pump_running_must_be_confirmed(api_as, api_pump):
    client = api_as("write_token")
    before = last_audit_id()
    response = client.post(
        PROGRAMS, program_body(api_pump, "330", pump_running_confirmed=False), format="json"
    )
    assert response.status_code == 400
    assert "interrogated" in " ".join(response.json()["pump_running_confirmed"])
    nothing_saved(api_pump, before)


def test_a_concentration_change_needs_the_bridge_confirmed(api_as, api_pump):
    client = api_as("write_token")
    before = last_audit_id()
    body = program_body(api_pump, "300", concentration_mcg_per_ml="2000")
    refused = client.post(PROGRAMS, body, format="json")
    assert refused.status_code == 400
    assert "bridge bolus" in " ".join(refused.json()["bridge_confirmed"])
    nothing_saved(api_pump, before)
    accepted = client.post(PROGRAMS, {**body, "bridge_confirmed": True}, format="json")
    assert accepted.status_code == 201, accepted.content
    bolus = PumpBolus.objects.get(program_id=accepted.json()["id"])
    assert bolus.kind == "bridge" and bolus.volume_ml == Decimal("0.2600")


def test_read_tokens_and_caregivers_cannot_change_a_program(api_as, api_pump):
    callers = {c: api_as(c) for c in ("read_token", "caregiver_token", "caregiver_a")}
    other_clinic = api_as("clinician_b")
    before = last_audit_id()
    for caller, client in callers.items():
        response = client.post(PROGRAMS, program_body(api_pump, "330"), format="json")
        assert response.status_code == 403, caller
    # Another clinic's pump does not exist for this caller.
    response = other_clinic.post(PROGRAMS, program_body(api_pump, "330"), format="json")
    assert response.status_code == 404
    nothing_saved(api_pump, before)


# --- 5. book and complete a refill, as an integrator does it --------------------------------------


COMPLETE = {
    "volume_removed_ml": "8.00",
    "volume_added_ml": "20",
    "concentration_mcg_per_ml": "500",
    "lot_number": "L2026-11",
    "expiry_date": "2027-06-30",
    "septum_confirmed": True,
}


def check_refill_completed(visit_id: int, body: dict[str, Any], pump: Pump, at: datetime) -> None:
    """The visit is completed with a new fill, and the projection restarts from it (TC-01
    from 20 mL: due 23 days later)."""
    visit = RefillVisit.objects.get(pk=visit_id)
    assert visit.status == VisitStatus.COMPLETED
    assert body["status"] == "completed" and body["completed_by"] == "integrator"
    assert body["completed_at"] == iso(at)
    fill = ReservoirFill.objects.get(pk=body["fill"])
    assert visit.fill_id == fill.pk
    assert fill.filled_at == at and fill.volume_ml == Decimal("20")
    assert fill.volume_removed_ml == Decimal("8.00") and fill.lot_number == "L2026-11"
    reconciliation = body["reconciliation"]
    # 20 days at 0.6 mL/day from 20 mL leave 8 mL: exactly what was removed.
    assert Decimal(reconciliation["expected_residual_ml"]) == Decimal("8")
    assert Decimal(reconciliation["residual_discrepancy_ml"]) == Decimal("0")
    assert reconciliation["flags"] == []
    stored = Pump.objects.get(pk=pump.pk)
    assert stored.projection_fill_id == fill.pk
    assert stored.refill_due_at == at + timedelta(days=23)
    assert stored.projected_alarm_at == at + timedelta(days=30)
    assert stored.next_visit_at is None


def test_book_and_complete_a_refill_with_the_write_token(api_as, api_pump, api_clock, world):
    client = api_as("write_token")
    visit_at = API_FILLED_AT + timedelta(days=20)
    booked = book(client, api_pump, visit_at)
    assert booked.status_code == 201, booked.content
    visit_id = booked.json()["id"]
    assert booked.json()["status"] == "booked" and booked.json()["booked_by"] == "integrator"
    assert Pump.objects.get(pk=api_pump.pk).next_visit_at == visit_at
    url = f"{VISITS}{visit_id}/"
    assert client.get(url, HTTP_IF_NONE_MATCH=booked["ETag"]).status_code == 304

    api_clock.move_to(visit_at)
    product = world_product()
    payload = {**COMPLETE, "product": product}
    fills_before = ReservoirFill.objects.count()

    missing = client.post(f"{url}complete/", payload, format="json")
    assert missing.status_code == 428
    assert ReservoirFill.objects.count() == fills_before
    assert RefillVisit.objects.get(pk=visit_id).status == VisitStatus.BOOKED

    # The nurse moves the visit by an hour after the integrator read it: its ETag is stale.
    stale = etag(client, url)
    refill_reschedule(
        actor=world.nurse,
        visit=RefillVisit.objects.get(pk=visit_id),
        scheduled_at=visit_at + timedelta(hours=1),
        reason="Clinic running late",
    )
    refused = client.post(f"{url}complete/", payload, format="json", HTTP_IF_MATCH=stale)
    assert refused.status_code == 412
    assert ReservoirFill.objects.count() == fills_before
    assert RefillVisit.objects.get(pk=visit_id).status == VisitStatus.BOOKED

    tag = etag(client, url)
    done = client.post(f"{url}complete/", payload, format="json", HTTP_IF_MATCH=tag)
    assert done.status_code == 200, done.content
    assert done["ETag"] != tag
    check_refill_completed(visit_id, done.json(), api_pump, visit_at)
    assert ReservoirFill.objects.count() == fills_before + 1
    # The old ETag no longer matches: completing twice is refused before any check.
    # Sent again: the old ETag no longer matches; with the new one, the visit is not booked.
    again = client.post(f"{url}complete/", payload, format="json", HTTP_IF_MATCH=tag)
    assert again.status_code == 412
    again = client.post(f"{url}complete/", payload, format="json", HTTP_IF_MATCH=etag(client, url))
    assert again.status_code == 400
    assert "not booked" in " ".join(again.json()["non_field_errors"])
    assert ReservoirFill.objects.count() == fills_before + 1


def world_product() -> int:
    from tests.conftest import pump_fill_product

    return pump_fill_product("500").pk


def test_the_same_with_raw_json_requests_like_curl(api_pump, api_clock, world):
    _token, raw = api_token_issue(
        actor=world.admin, user=world.integrator, scope="write", name="curl"
    )
    curl = Client()
    auth = {"Authorization": f"Bearer {raw}", "Accept": "application/json"}
    visit_at = API_FILLED_AT + timedelta(days=20)

    booked = curl.post(
        VISITS,
        data=json.dumps({"pump": api_pump.pk, "scheduled_at": "2026-11-21T12:00:00Z"}),
        content_type="application/json",
        headers={**auth, "Idempotency-Key": "5f0c7a52-0b8e-4d0c-9a52-2b9c1b3f7e11"},
    )
    assert booked.status_code == 201, booked.content
    assert booked["Content-Type"] == "application/json"
    visit_id = json.loads(booked.content)["id"]

    api_clock.move_to(visit_at)
    read = curl.get(f"{VISITS}{visit_id}/", headers=auth)
    assert read.status_code == 200
    tag = read["ETag"]
    complete = {
        "path": f"{VISITS}{visit_id}/complete/",
        "data": json.dumps({**COMPLETE, "product": world_product()}),
        "content_type": "application/json",
        "headers": {**auth, "If-Match": tag, "Idempotency-Key": "complete-visit-1"},
    }
    done = curl.post(**complete)
    assert done.status_code == 200, done.content
    check_refill_completed(visit_id, json.loads(done.content), api_pump, visit_at)
    # The answer was lost and curl retries: the same answer, no second fill, no 412.
    retried = curl.post(**complete)
    assert retried.status_code == 200 and retried["Idempotent-Replayed"] == "true"
    assert json.loads(retried.content) == json.loads(done.content)
    assert ReservoirFill.objects.filter(pump=api_pump).count() == 2
    fill_entries = AuditEntry.objects.filter(record_type="pumps.ReservoirFill").order_by("-id")
    assert fill_entries.first().via == via_token("curl")


# --- 9. audit entries name the token --------------------------------------------------------------


def test_every_api_write_is_audited_with_the_token(api_as, api_pump, api_clock, world):
    run_sweep(now=API_DUE_AT - timedelta(days=14))  # "refill not booked" for the pump
    alert = Alert.objects.get(pump=api_pump, kind=AlertKind.REFILL_NOT_BOOKED)
    client = api_as("write_token")
    via = via_token("write_token")
    pump_url = f"{PUMPS}{api_pump.pk}/"

    def write(expected: set[tuple[str, str]], send: Any) -> Any:
        before = last_audit_id()
        response = send()
        assert response.status_code in (200, 201), response.content
        entries = audit_since(before)
        assert expected <= {(e.record_type, e.action) for e in entries}, entries
        assert {e.via for e in entries} == {via}
        assert {e.actor_id for e in entries} == {world.integrator.pk}
        return response

    update, create = AuditAction.UPDATE, AuditAction.CREATE
    write(
        {("pumps.Pump", update)},
        lambda: client.patch(
            pump_url,
            {"low_reservoir_alarm_ml": "3.00", "reason": "Alarm"},
            format="json",
            HTTP_IF_MATCH=etag(client, pump_url),
        ),
    )
    write(
        {("pumps.PumpProgram", create)},
        lambda: client.post(PROGRAMS, program_body(api_pump, "330"), format="json"),
    )
    visit_id = write(
        {("refills.RefillVisit", create)},
        lambda: book(client, api_pump, API_FILLED_AT + timedelta(days=10)),
    ).json()["id"]
    url = f"{VISITS}{visit_id}/"
    write(
        {("refills.RefillVisit", update)},
        lambda: client.patch(
            url,
            {"scheduled_at": iso(API_FILLED_AT + timedelta(days=11)), "reason": "Moved"},
            format="json",
            HTTP_IF_MATCH=etag(client, url),
        ),
    )
    write(
        {("refills.RefillVisit", update)},
        lambda: client.post(
            f"{url}cancel/", {"reason": "Ill"}, format="json", HTTP_IF_MATCH=etag(client, url)
        ),
    )
    visit_id = write(
        {("refills.RefillVisit", create)},
        lambda: book(client, api_pump, API_FILLED_AT + timedelta(days=12)),
    ).json()["id"]
    url = f"{VISITS}{visit_id}/"
    api_clock.move_to(API_FILLED_AT + timedelta(days=12))
    write(
        {("pumps.ReservoirFill", create), ("refills.RefillVisit", update)},
        lambda: client.post(
            f"{url}complete/",
            {**COMPLETE, "volume_removed_ml": "12.5", "product": world_product()},
            format="json",
            HTTP_IF_MATCH=etag(client, url),
        ),
    )
    write(
        {("alerts.Alert", update)},
        lambda: client.post(
            f"{ALERTS}{alert.pk}/acknowledge/", {"note": "EHR inbox"}, format="json"
        ),
    )
    assert Alert.objects.get(pk=alert.pk).acknowledged_via == "api"

    # Through a browser session the entries say so.
    nurse = api_as("nurse")
    before = last_audit_id()
    response = nurse.patch(
        pump_url,
        {"notes": "Seen", "reason": "Visit"},
        format="json",
        HTTP_IF_MATCH=etag(nurse, pump_url),
    )
    assert response.status_code == 200
    assert [e.via for e in audit_since(before)] == ["API (session)"]
    # And nothing leaks to a change made outside the API afterwards.
    before = last_audit_id()
    pump_update(actor=world.nurse, pump=api_pump, reason="Page", notes="From the page")
    assert [e.via for e in audit_since(before)] == [""]


def test_complete_answers_with_the_etag_of_the_visit(api_as, api_pump, api_clock):
    client = api_as("write_token")
    visit_at = API_FILLED_AT + timedelta(days=20)
    visit_id = book(client, api_pump, visit_at).json()["id"]
    api_clock.move_to(visit_at)
    url = f"{VISITS}{visit_id}/"
    done = client.post(
        f"{url}complete/",
        {**COMPLETE, "product": world_product()},
        format="json",
        HTTP_IF_MATCH=etag(client, url),
    )
    assert done.status_code == 200
    assert client.get(url, HTTP_IF_NONE_MATCH=done["ETag"]).status_code == 304


def test_a_failing_request_leaves_no_via_nor_time_zone_behind(api_as, api_pump, world, monkeypatch):
    from django.utils import timezone

    from audit.context import current_via

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr("api.views.refill_schedule", broken)
    client = api_as("write_token")
    client.raise_request_exception = False

    def request_then_look() -> tuple[str, str]:
        response = book(client, api_pump, API_FILLED_AT + timedelta(days=20))
        assert response.status_code == 500
        return current_via(), timezone.get_current_timezone_name()

    # In a copy of this thread's context, so a leak cannot reach the tests that follow.
    via, zone = contextvars.copy_context().run(request_then_look)
    assert current_via() == ""
    assert via == ""  # what the next change in this thread would be audited with
    assert zone != "UTC"


def test_the_reconciliation_figures_have_the_stored_fields_digits():
    """Regression: a refill completed minutes after the previous one has a tiny expected
    delivery, so its discrepancy ran to 144000 % — more digits than the representation
    allowed: the response failed to render (500) and the refill was rolled back."""
    from api.serializers import ReconciliationSerializer
    from pumps.models import ReservoirFill

    fields = ReconciliationSerializer().fields
    for name in (
        "expected_residual_ml",
        "residual_discrepancy_ml",
        "delivered_discrepancy_percent",
    ):
        stored = ReservoirFill._meta.get_field(name)
        assert (fields[name].max_digits, fields[name].decimal_places) == (
            stored.max_digits,
            stored.decimal_places,
        ), name
    largest = Decimal("999999.999")
    assert fields["delivered_discrepancy_percent"].to_representation(largest) == "999999.999"
