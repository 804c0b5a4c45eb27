"""The permission matrix of the REST API: every operation of the OpenAPI schema under
``/api/v1/`` (the dosing calculators and ping included) against every kind of caller.

``MATRIX`` is the table: for each operation and caller, the expected outcome. The test fails
when the schema has an operation the table lacks, or the table names one the schema lacks.

The data (the ``seeded`` fixture of tests/api/conftest.py): patients A1 and A2 of clinic A and
B1 of clinic B, each with a filled pump, its program, a booked refill visit and an open alert.
Detail and write routes use the records of patient A1. Each request runs in a savepoint that is
rolled back, so every caller meets the same state (a write that succeeds for one caller does not
change what the next one sees).
"""

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Q
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from alerts.models import Alert
from pumps.models import CareTeamMember, Patient, Pump, PumpProgram
from refills.models import RefillVisit
from refills.services import refill_cancel
from tests.api.conftest import SEED_DUE_AT, Seeded
from tests.conftest import pump_fill_product
from tests.dosing.test_calculator_api import VALID_BODIES

HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")

# --- The table ------------------------------------------------------------------------------------

OK = "200"
CREATED = "201"
LISTED = "200 listing exactly the caller's records"
GUARDED = "428 without If-Match, 412 with a stale ETag, 200 with the record's ETag"
FORBIDDEN = "403"
NOT_FOUND = "404"
UNAUTHENTICATED = "401 with WWW-Authenticate: Bearer"

# Two-letter names for the table below (and OK).
CR, LS, IM, FB, NF, UN = CREATED, LISTED, GUARDED, FORBIDDEN, NOT_FOUND, UNAUTHENTICATED

# The columns of MATRIX, in order (cln, nrs, cga, cgb, cgt, rd, wr, clb, an, exp, rev):
# caregiver_token is a write-scope token of caregiver A; read_token and write_token are the
# integrator's; clinician_b works in clinic B only.
CALLERS = (
    "clinician",
    "nurse",
    "caregiver_a",
    "caregiver_b",
    "caregiver_token",
    "read_token",
    "write_token",
    "clinician_b",
    "anonymous",
    "expired_token",
    "revoked_token",
)

# fmt: off
_ROWS: dict[str, tuple[str, ...]] = {
    # operation                                    cln nrs cga cgb cgt rd  wr  clb an  exp rev
    "GET /api/v1/ping/":                           (OK, OK, OK, OK, OK, OK, OK, OK, UN, UN, UN),
    "GET /api/v1/patients/":                       (LS, LS, LS, LS, LS, LS, LS, LS, UN, UN, UN),
    "GET /api/v1/patients/{id}/":                  (OK, OK, OK, NF, OK, OK, OK, NF, UN, UN, UN),
    "GET /api/v1/care-team/":                      (LS, LS, LS, LS, LS, LS, LS, LS, UN, UN, UN),
    "GET /api/v1/care-team/{id}/":                 (OK, OK, OK, NF, OK, OK, OK, NF, UN, UN, UN),
    "GET /api/v1/pumps/":                          (LS, LS, LS, LS, LS, LS, LS, LS, UN, UN, UN),
    "GET /api/v1/pumps/{id}/":                     (OK, OK, OK, NF, OK, OK, OK, NF, UN, UN, UN),
    "PATCH /api/v1/pumps/{id}/":                   (IM, IM, FB, NF, FB, FB, IM, NF, UN, UN, UN),
    "GET /api/v1/programs/":                       (LS, LS, LS, LS, LS, LS, LS, LS, UN, UN, UN),
    "POST /api/v1/programs/":                      (CR, CR, FB, NF, FB, FB, CR, NF, UN, UN, UN),
    "GET /api/v1/programs/{id}/":                  (OK, OK, OK, NF, OK, OK, OK, NF, UN, UN, UN),
    "GET /api/v1/refill-visits/":                  (LS, LS, LS, LS, LS, LS, LS, LS, UN, UN, UN),
    "POST /api/v1/refill-visits/":                 (CR, CR, FB, NF, FB, FB, CR, NF, UN, UN, UN),
    "GET /api/v1/refill-visits/{id}/":             (OK, OK, OK, NF, OK, OK, OK, NF, UN, UN, UN),
    "PATCH /api/v1/refill-visits/{id}/":           (IM, IM, FB, NF, FB, FB, IM, NF, UN, UN, UN),
    "POST /api/v1/refill-visits/{id}/cancel/":     (IM, IM, FB, NF, FB, FB, IM, NF, UN, UN, UN),
    "POST /api/v1/refill-visits/{id}/complete/":   (IM, IM, FB, NF, FB, FB, IM, NF, UN, UN, UN),
    "GET /api/v1/alerts/":                         (LS, LS, LS, LS, LS, LS, LS, LS, UN, UN, UN),
    "GET /api/v1/alerts/{id}/":                    (OK, OK, NF, NF, NF, OK, OK, NF, UN, UN, UN),
    "POST /api/v1/alerts/{id}/acknowledge/":       (OK, OK, NF, NF, NF, FB, OK, NF, UN, UN, UN),
    "POST /api/v1/dosing/projection/":             (OK, OK, OK, OK, OK, OK, OK, OK, UN, UN, UN),
    "POST /api/v1/dosing/concentration-change/":   (OK, OK, OK, OK, OK, OK, OK, OK, UN, UN, UN),
    "POST /api/v1/dosing/dose-change/":            (OK, OK, OK, OK, OK, OK, OK, OK, UN, UN, UN),
    "POST /api/v1/dosing/fixed-rate-fill/":        (OK, OK, OK, OK, OK, OK, OK, OK, UN, UN, UN),
    "POST /api/v1/dosing/refill-reconciliation/":  (OK, OK, OK, OK, OK, OK, OK, OK, UN, UN, UN),
    "POST /api/v1/dosing/starting-dose/":          (OK, OK, OK, OK, OK, OK, OK, OK, UN, UN, UN),
}
# fmt: on

MATRIX: dict[str, dict[str, str]] = {
    operation: dict(zip(CALLERS, row, strict=True)) for operation, row in _ROWS.items()
}

# Which patients each caller may see (the care-team rule), and who may see alerts (clinicians,
# nurses and integrators of the patient's clinic).
VISIBLE_PATIENTS: dict[str, set[str]] = {
    "clinician": {"a1", "a2"},
    "nurse": {"a1", "a2"},
    "caregiver_a": {"a1"},
    "caregiver_b": {"a2"},
    "caregiver_token": {"a1"},
    "read_token": {"a1", "a2"},
    "write_token": {"a1", "a2"},
    "clinician_b": {"b1"},
}
SEES_ALERTS = {"clinician", "nurse", "read_token", "write_token", "clinician_b"}


def schema_operations() -> set[str]:
    """``"METHOD /path/"`` of every operation under /api/v1/ in the generated schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
        if method in HTTP_METHODS
    }


SCHEMA_OPERATIONS = schema_operations()
OPERATIONS = sorted(SCHEMA_OPERATIONS | set(MATRIX))


# --- What each route needs ------------------------------------------------------------------------


def record_id(template: str, seeded: Seeded) -> int:
    """The id of patient A1's record that a detail route is called with."""
    if template.startswith("/api/v1/patients/"):
        return seeded.world.patient_a1.pk
    if template.startswith("/api/v1/care-team/"):
        return seeded.caregiver_a_membership.pk
    if template.startswith("/api/v1/pumps/"):
        return seeded.pumps["a1"].pk
    if template.startswith("/api/v1/programs/"):
        return seeded.programs["a1"].pk
    if template.startswith("/api/v1/refill-visits/"):
        return seeded.visits["a1"].pk
    if template.startswith("/api/v1/alerts/"):
        return seeded.alerts["a1"].pk
    raise AssertionError(f"record_id: no record is known for {template}: add it")


def iso(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))


def body_for(operation: str, seeded: Seeded) -> dict[str, Any] | None:
    """A valid body: a refusal then proves the permission, not bad input."""
    method, template = operation.split(" ", 1)
    if method == "GET":
        return None
    if template.startswith("/api/v1/dosing/"):
        return VALID_BODIES[template.removeprefix("/api/v1/dosing/").strip("/")]
    pump = seeded.pumps["a1"]
    bodies: dict[str, dict[str, Any]] = {
        "PATCH /api/v1/pumps/{id}/": {
            "notes": "Checked by the permission matrix.",
            "reason": "Permission matrix",
        },
        "POST /api/v1/programs/": {
            "pump": pump.pk,
            "expected_current_program": seeded.programs["a1"].pk,
            "mode": "simple",
            "concentration_mcg_per_ml": "500",
            "daily_dose_mcg": "330",
            "context": "titration",
            "reason": "Spasticity not controlled",
            "pump_running_confirmed": True,
        },
        "POST /api/v1/refill-visits/": {
            "pump": pump.pk,
            "scheduled_at": iso(SEED_DUE_AT - timedelta(days=3)),
        },
        "PATCH /api/v1/refill-visits/{id}/": {
            "scheduled_at": iso(SEED_DUE_AT - timedelta(days=1)),
            "reason": "The patient asked for another day",
        },
        "POST /api/v1/refill-visits/{id}/cancel/": {"reason": "The patient is in hospital"},
        "POST /api/v1/refill-visits/{id}/complete/": {
            # Nine days at 0.6 mL/day from 20 mL: 14.6 mL left.
            "volume_removed_ml": "14.60",
            "volume_added_ml": "20",
            "product": pump_fill_product("500").pk,
            "concentration_mcg_per_ml": "500",
            "lot_number": "L2026-11",
            "septum_confirmed": True,
        },
        "POST /api/v1/alerts/{id}/acknowledge/": {"note": "Calling the patient"},
    }
    assert operation in bodies, f"body_for: no valid body is known for {operation}: add one"
    return bodies[operation]


def prepare(operation: str, seeded: Seeded) -> None:
    """State a write needs before its callers are tried."""
    if operation == "POST /api/v1/refill-visits/":
        # One booked visit per pump: free patient A1's pump so a booking can succeed.
        refill_cancel(
            actor=seeded.world.nurse, visit=seeded.visits["a1"], reason="Rebooking (matrix)"
        )


def user_of(caller: str, seeded: Seeded) -> Any:
    world = seeded.world
    if caller in {"read_token", "write_token"}:
        return world.integrator
    if caller == "caregiver_token":
        return world.caregiver_a
    return getattr(world, caller)


def expected_list_ids(template: str, caller: str, seeded: Seeded) -> set[int]:
    """The ids of the records ``caller`` may see, worked out from the care-team rule (not from
    the API's own queryset)."""
    world = seeded.world
    by_key = {"a1": world.patient_a1, "a2": world.patient_a2, "b1": world.patient_b1}
    patients = [by_key[key] for key in VISIBLE_PATIENTS[caller]]
    clinics = {patient.clinic_id for patient in patients}
    rows: Any
    if template == "/api/v1/patients/":
        rows = Patient.objects.filter(pk__in=[p.pk for p in patients])
    elif template == "/api/v1/care-team/":
        # Staff of the clinics of the caller's patients, and the caregivers of those patients.
        rows = CareTeamMember.objects.filter(Q(clinic_id__in=clinics) | Q(patient__in=patients))
    elif template == "/api/v1/pumps/":
        rows = Pump.objects.filter(patient__in=patients)
    elif template == "/api/v1/programs/":
        rows = PumpProgram.objects.filter(pump__patient__in=patients)
    elif template == "/api/v1/refill-visits/":
        rows = RefillVisit.objects.filter(pump__patient__in=patients)
    elif template == "/api/v1/alerts/":
        rows = Alert.objects.filter(patient__in=patients if caller in SEES_ALERTS else [])
    else:
        raise AssertionError(f"expected_list_ids: no rule for {template}: add it")
    return set(rows.values_list("pk", flat=True))


def other_clinic_ids(template: str, seeded: Seeded) -> set[int]:
    """Clinic B's records of a list route (never listed for a caller of clinic A)."""
    b1 = seeded.world.patient_b1
    table: dict[str, Callable[[], Any]] = {
        "/api/v1/patients/": lambda: Patient.objects.filter(pk=b1.pk),
        "/api/v1/care-team/": lambda: CareTeamMember.objects.filter(
            Q(clinic=b1.clinic) | Q(patient=b1)
        ),
        "/api/v1/pumps/": lambda: Pump.objects.filter(patient=b1),
        "/api/v1/programs/": lambda: PumpProgram.objects.filter(pump__patient=b1),
        "/api/v1/refill-visits/": lambda: RefillVisit.objects.filter(pump__patient=b1),
        "/api/v1/alerts/": lambda: Alert.objects.filter(patient=b1),
    }
    return set(table[template]().values_list("pk", flat=True))


# --- Calling --------------------------------------------------------------------------------------


def call(
    client: APIClient,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """One request in a savepoint that is rolled back: the next caller sees the same state."""
    with transaction.atomic():
        if body is None:
            response = client.generic(method, path, headers=headers or {})
        else:
            response = client.generic(
                method,
                path,
                json.dumps(body),
                content_type="application/json",
                headers=headers or {},
            )
        transaction.set_rollback(True)
    return response


def shown(response: Any) -> str:
    text = response.content.decode(errors="replace")
    return f"{response.status_code} {text[:400]}"


def check(
    *,
    operation: str,
    caller: str,
    expected: str,
    clients: dict[str, APIClient],
    seeded: Seeded,
) -> None:
    method, template = operation.split(" ", 1)
    path = (
        template.replace("{id}", str(record_id(template, seeded)))
        if "{id}" in template
        else template
    )
    body = body_for(operation, seeded)
    client = clients[caller]
    where = f"{method} {path} as {caller}"
    etag = None
    if "If-Match" in PARAMETERS.get(operation, ()):
        # The record's current ETag, read by a caller who may: refused callers send it too, so
        # the refusal is the permission's, not the precondition's.
        resource = path.split("/cancel/")[0].split("/complete/")[0]
        resource = resource if resource.endswith("/") else resource + "/"
        read = clients["clinician"].get(resource)
        assert read.status_code == 200 and read.get("ETag"), (
            f"GET {resource} as clinician: expected 200 with an ETag, got {shown(read)}"
        )
        etag = read["ETag"]

    if expected == GUARDED:
        response = call(client, method, path, body)
        assert response.status_code == 428, (
            f"{where} without If-Match: expected 428 (authorized, precondition required), got "
            f"{shown(response)}"
        )
        stale = call(client, method, path, body, {"If-Match": '"0000stale"'})
        assert stale.status_code == 412, (
            f"{where} with a stale If-Match: expected 412, got {shown(stale)}"
        )
        assert etag is not None, f"{where}: expected the schema to require If-Match here"
        done = call(client, method, path, body, {"If-Match": etag})
        assert done.status_code == 200, (
            f"{where} with If-Match {etag}: expected 200, got {shown(done)}"
        )
        assert done.json()["id"] == record_id(template, seeded), (
            f"{where}: expected the changed record (id {record_id(template, seeded)}) in the "
            f"body, got {shown(done)}"
        )
        return

    headers = {"If-Match": etag} if etag else None
    if expected == LISTED:
        path = f"{path}?page_size=200"
    response = call(client, method, path, body, headers)
    got = shown(response)
    if expected == OK:
        assert response.status_code == 200, f"{where}: expected 200, got {got}"
        if "{id}" in template:
            assert response.json()["id"] == record_id(template, seeded), (
                f"{where}: expected the record with id {record_id(template, seeded)}, got {got}"
            )
    elif expected == CREATED:
        assert response.status_code == 201, f"{where}: expected 201, got {got}"
        assert response.json()["pump"] == seeded.pumps["a1"].pk, (
            f"{where}: expected a record of pump {seeded.pumps['a1'].pk}, got {got}"
        )
    elif expected == LISTED:
        assert response.status_code == 200, f"{where}: expected 200, got {got}"
        page = response.json()
        assert page.get("next") is None, f"{where}: expected one page of results, got {got}"
        ids = {row["id"] for row in page["results"]}
        visible = expected_list_ids(template, caller, seeded)
        assert ids == visible, (
            f"{where}: expected exactly ids {sorted(visible)} (the caller's care team), got "
            f"{sorted(ids)}; extra {sorted(ids - visible)}, missing {sorted(visible - ids)}"
        )
        if caller != "clinician_b":
            leaked = ids & other_clinic_ids(template, seeded)
            assert not leaked, f"{where}: expected no record of clinic B, got ids {sorted(leaked)}"
    elif expected == FORBIDDEN:
        assert response.status_code == 403, f"{where}: expected 403, got {got}"
    elif expected == NOT_FOUND:
        assert response.status_code == 404, f"{where}: expected 404, got {got}"
    elif expected == UNAUTHENTICATED:
        assert response.status_code == 401, f"{where}: expected 401, got {got}"
        challenge = response.get("WWW-Authenticate", "")
        assert challenge.startswith("Bearer"), (
            f"{where}: expected a 'WWW-Authenticate: Bearer ...' challenge, got {challenge!r}"
        )
    else:
        raise AssertionError(f"{where}: unknown expected outcome {expected!r} in MATRIX")


def _parameters() -> dict[str, tuple[str, ...]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found: dict[str, tuple[str, ...]] = {}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                found[f"{method.upper()} {path}"] = tuple(
                    p["name"] for p in operation.get("parameters", []) if p.get("required")
                )
    return found


# Required parameters of each operation (If-Match marks the guarded writes).
PARAMETERS = _parameters()


# --- Tests ----------------------------------------------------------------------------------------


def test_the_table_and_the_schema_name_the_same_operations(client: Any, db: None) -> None:
    served = client.get("/api/schema/?format=json")
    assert served.status_code == 200, f"GET /api/schema/: expected 200, got {served.status_code}"
    paths = json.loads(served.content)["paths"]
    served_operations = {
        f"{method.upper()} {path}"
        for path, item in paths.items()
        if path.startswith("/api/v1/")
        for method in item
        if method in HTTP_METHODS
    }
    assert served_operations == SCHEMA_OPERATIONS, (
        "expected /api/schema/ to serve the generated schema's operations; differ: "
        f"{sorted(served_operations ^ SCHEMA_OPERATIONS)}"
    )
    missing = sorted(SCHEMA_OPERATIONS - set(MATRIX))
    assert not missing, f"expected a MATRIX row for every schema operation; missing: {missing}"
    unknown = sorted(set(MATRIX) - SCHEMA_OPERATIONS)
    assert not unknown, f"expected every MATRIX row to be a schema operation; unknown: {unknown}"
    assert "GET /api/v1/ping/" in MATRIX, "expected ping in the matrix"
    assert sum(op.startswith("POST /api/v1/dosing/") for op in MATRIX) == 6, (
        "expected the six dosing calculators in the matrix"
    )


def test_every_row_names_every_caller_and_clinic_b_never_reaches_clinic_a() -> None:
    for operation, row in MATRIX.items():
        assert set(row) == set(CALLERS), f"{operation}: expected a cell for each of {CALLERS}"
        method, template = operation.split(" ", 1)
        for caller in ("anonymous", "expired_token", "revoked_token"):
            assert row[caller] == UNAUTHENTICATED, f"{operation} as {caller}: expected 401"
        if ("{id}" in template or method != "GET") and not template.startswith("/api/v1/dosing/"):
            assert row["clinician_b"] == NOT_FOUND, (
                f"{operation} as clinician_b on clinic A's record: expected 404 in the table"
            )
        if method != "GET" and not template.startswith("/api/v1/dosing/"):
            assert row["read_token"] in (FORBIDDEN, NOT_FOUND), (
                f"{operation} as read_token: expected a refusal (403) for a write"
            )
            for caregiver in ("caregiver_a", "caregiver_token"):
                assert row[caregiver] in (FORBIDDEN, NOT_FOUND), (
                    f"{operation} as {caregiver}: expected a refusal (403, 404 for alerts)"
                )


@pytest.mark.parametrize("operation", OPERATIONS)
def test_permission_matrix(
    operation: str, seeded: Seeded, api_as: Callable[[str], APIClient]
) -> None:
    assert operation in MATRIX, (
        f"{operation} is in the OpenAPI schema: expected a row for it in MATRIX"
    )
    assert operation in SCHEMA_OPERATIONS, (
        f"MATRIX names {operation}: expected the OpenAPI schema to have it"
    )
    clients = {caller: api_as(caller) for caller in CALLERS}
    prepare(operation, seeded)
    for caller in CALLERS:
        check(
            operation=operation,
            caller=caller,
            expected=MATRIX[operation][caller],
            clients=clients,
            seeded=seeded,
        )
