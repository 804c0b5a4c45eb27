"""schemathesis against the live OpenAPI schema, in process: the schema is read from
``/api/schema/`` through Django's WSGI application, and every operation under ``/api/v1/`` is
called with generated requests, once with the integrator's read-scope token and once with its
write-scope token.

Checks: no server error (5xx), the status code is one the schema documents, the content type
and the body conform to the schema.

The data is the ``seeded`` fixture (tests/api/conftest.py): generated requests use the real ids
of patient A1's records about half the time (path ``{id}`` and a body's ``pump``) and ``If-Match:
*`` about half the time, so they reach the services and not only the 404 and 412 paths. Each
request runs in a savepoint that is rolled back, so every example meets the same data and a
failing example replays on its own. Generation is derandomized (the same examples every run).

The requests that showed the bugs this test found (all fixed) are replayed in ``FIXED_BUGS``
and must pass every check.
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_issue
from api.schema import reachable_components
from tests.api.conftest import Seeded
from tests.api.test_matrix import SCHEMA_OPERATIONS, body_for, record_id

# Per operation and scope; about a quarter of the examples are negative (data outside the
# schema), checked for server errors only. ITB_FUZZ_EXAMPLES=300 digs deeper (still
# deterministic: the examples depend only on the number).
MAX_EXAMPLES = int(os.environ.get("ITB_FUZZ_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NEGATIVE_CHECKS = [not_a_server_error]
SCOPES = ("read", "write")

# --- Known bugs -----------------------------------------------------------------------------------

PERSON_FIELDS = {
    "acknowledged_by",
    "resolved_by",
    "booked_by",
    "cancelled_by",
    "completed_by",
    "entered_by",
    "verified_by",
}
LIST_PATHS = {
    "/api/v1/patients/",
    "/api/v1/care-team/",
    "/api/v1/pumps/",
    "/api/v1/programs/",
    "/api/v1/refill-visits/",
    "/api/v1/alerts/",
}


DATETIME_FILTERS = {
    "/api/v1/pumps/": ("refill_due_before", "refill_due_after"),
    "/api/v1/refill-visits/": ("scheduled_after", "scheduled_before"),
}


@dataclass(frozen=True)
class Repro:
    """One request that showed a bug: ``body`` is sent as JSON; with ``valid_body`` it
    is laid over the operation's valid body (tests/api/test_matrix.py ``body_for``)."""

    method: str
    path: str
    query: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    valid_body: bool = False


# The bugs this test found, fixed: the requests that showed each must pass every check.
FIXED_BUGS: dict[str, tuple[Repro, ...]] = {
    # User fields (acknowledged_by, cancelled_by, verified_by, ...) are null when nobody did
    # it; the schema said a non-null string.
    "person-fields-null": (
        Repro("GET", "/api/v1/alerts/{id}/"),
        Repro("GET", "/api/v1/refill-visits/{id}/"),
        Repro("GET", "/api/v1/programs/{id}/"),
    ),
    # A patient without an SCI level has "sci_level": "", which the schema's enum lacked.
    "sci-level-blank": (Repro("GET", "/api/v1/patients/{id}/"), Repro("GET", "/api/v1/patients/")),
    # An invalid ?cursor= answers 404, which the lists did not document.
    "invalid-cursor-404": tuple(
        Repro("GET", path, query={"cursor": "not-a-cursor"}) for path in sorted(LIST_PATHS)
    ),
    # The calculators' 400 body is {<field>: [messages]}; the schema required "field_name".
    "dosing-400-schema": (Repro("POST", "/api/v1/dosing/projection/", body={}),),
    # A flex step's messages are by step and field ({"steps": {"0": {"rate": [...]}}}); the
    # schema allowed a list of messages per field only.
    "dosing-400-step-messages": (
        Repro(
            "POST",
            "/api/v1/dosing/projection/",
            body={
                "concentration": 500,
                "steps": [{"start": "00:00", "rate": -1}],
                "reservoir_volume": 20,
                "filled_at": "2025-03-03T00:00:00Z",
            },
        ),
    ),
    # A date-time filter with a UTC offset of 16 h or more reached PostgreSQL as is: a 500.
    "datetime-filter-offset-500": tuple(
        Repro("GET", path, query={name: "2026-11-20T00:00:00+17:42"})
        for path, names in DATETIME_FILTERS.items()
        for name in names
    ),
    # POST /api/v1/programs/ with an effective_from before the current program's was a 500
    # (ValueError from dosing/engine/limits.assess_dose_change: "age_years must be >= 0",
    # "implanted_at is after `at`", "last_change_at is after `at`"); now a 400.
    "program-effective-from-in-the-past-500": tuple(
        Repro("POST", "/api/v1/programs/", body={"effective_from": at}, valid_body=True)
        for at in ("1970-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "2026-10-01T00:00:00Z")
    ),
}


# --- Running --------------------------------------------------------------------------------------

_loaded: dict[str, Any] = {}


def live_schema() -> Any:
    """The schema as served at /api/schema/ by the WSGI application (loaded once)."""
    if "schema" not in _loaded:
        _loaded["schema"] = schemathesis.openapi.from_wsgi(
            "/api/schema/?format=json", get_wsgi_application()
        )
    return _loaded["schema"]


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    """Requests through the WSGI handler inside the test's transaction: like Django's test
    client, keep the handler from closing the connection at the start and end of a request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def bearer_for(seeded: Seeded, scope: str) -> dict[str, str]:
    _token, raw = api_token_issue(
        actor=seeded.world.admin, user=seeded.world.integrator, scope=scope, name="schemathesis"
    )
    return {"Authorization": f"Bearer {raw}"}


def call_and_check(case: Any, auth: dict[str, str], checks: list[Any]) -> None:
    """Send ``case`` in a savepoint that is rolled back and run the checks; a failure fails the
    test with schemathesis' report."""
    with transaction.atomic():
        try:
            response = case.call(headers=auth)
        finally:
            transaction.set_rollback(True)
    case.validate_response(response, checks=checks, headers=auth)


def test_every_api_operation_is_fuzzed(db: None, wsgi_in_test_transaction: None) -> None:
    schema = live_schema()
    labels = {
        f"{operation.method.upper()} {operation.path}"
        for result in schema.get_all_operations()
        for operation in [result.ok()]
        if operation.path.startswith("/api/v1/")
    }
    assert labels == SCHEMA_OPERATIONS, (
        "expected the served schema to have exactly the generated schema's operations; "
        f"differ: {sorted(labels ^ SCHEMA_OPERATIONS)}"
    )


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("operation", sorted(SCHEMA_OPERATIONS))
def test_schemathesis(
    operation: str, scope: str, seeded: Seeded, wsgi_in_test_transaction: None
) -> None:
    method, path = operation.split(" ", 1)
    api_operation = live_schema()[path][method]
    auth = bearer_for(seeded, scope)
    real_id = record_id(path, seeded) if "{id}" in path else None
    pump_id = seeded.pumps["a1"].pk
    valid = body_for(operation, seeded)
    positive_cases = api_operation.as_strategy(GenerationMode.POSITIVE)
    negative_cases = api_operation.as_strategy(GenerationMode.NEGATIVE)

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        data=st.data(),
        use_real_ids=st.booleans(),
        match_any=st.booleans(),
        body_mode=st.sampled_from(["generated", "valid", "valid+1"]),
        overlay_index=st.integers(min_value=0, max_value=20),
    )
    def fuzz(
        data: st.DataObject,
        use_real_ids: bool,
        match_any: bool,
        body_mode: str,
        overlay_index: int,
    ) -> None:
        negative = data.draw(st.integers(min_value=0, max_value=3), label="negative") == 0
        case = data.draw(negative_cases if negative else positive_cases, label="case")
        if valid is not None and body_mode != "generated" and not negative:
            # A valid body (reaches the services), or a valid body with one generated field.
            body = dict(valid)
            if body_mode == "valid+1" and isinstance(case.body, dict) and case.body:
                key = sorted(case.body)[overlay_index % len(case.body)]
                body[key] = case.body[key]
            case.body = body
            case.media_type = "application/json"
        if use_real_ids:
            if real_id is not None:
                case.path_parameters["id"] = real_id
            if isinstance(case.body, dict) and "pump" in case.body:
                case.body["pump"] = pump_id
        if match_any and case.headers and "If-Match" in case.headers:
            case.headers["If-Match"] = "*"
        call_and_check(case, auth, checks=NEGATIVE_CHECKS if negative else CHECKS)

    fuzz()


def repro_case(repro: Repro, seeded: Seeded) -> Any:
    operation = f"{repro.method} {repro.path}"
    kwargs: dict[str, Any] = {}
    if "{id}" in repro.path:
        kwargs["path_parameters"] = {"id": record_id(repro.path, seeded)}
    if repro.query is not None:
        kwargs["query"] = repro.query
    if repro.body is not None:
        base = body_for(operation, seeded) if repro.valid_body else {}
        kwargs["body"] = {**(base or {}), **repro.body}
        kwargs["media_type"] = "application/json"
    return live_schema()[repro.path][repro.method].Case(**kwargs)


@pytest.mark.parametrize(
    ("bug", "index"),
    [
        pytest.param(name, index, id=f"{name}-{index}")
        for name, repros in FIXED_BUGS.items()
        for index in range(len(repros))
    ],
)
def test_fixed_bug_stays_fixed(
    bug: str, index: int, seeded: Seeded, wsgi_in_test_transaction: None
) -> None:
    case = repro_case(FIXED_BUGS[bug][index], seeded)
    call_and_check(case, bearer_for(seeded, "write"), checks=CHECKS)


def test_complete_answers_with_its_declared_schema_and_the_reconciliation(
    seeded: Seeded, wsgi_in_test_transaction: None
) -> None:
    """``POST .../complete/`` answers the visit with its ``reconciliation``: the schema declares
    it (the figures with their units, the flag codes) and the response validates against it."""
    path = "/api/v1/refill-visits/{id}/complete/"
    operation = live_schema()[path]["POST"]
    declared = operation.definition.raw["responses"]["200"]["content"]["application/json"]
    component = declared["schema"]["$ref"].rsplit("/", 1)[-1]
    schemas = live_schema().raw_schema["components"]["schemas"]
    assert "reconciliation" in schemas[component]["required"]
    reconciliation = schemas["Reconciliation"]
    assert set(reconciliation["properties"]) == {
        "expected_residual_ml",
        "residual_discrepancy_ml",
        "delivered_discrepancy_percent",
        "flags",
    }
    flags = reconciliation["properties"]["flags"]
    enum = schemas[flags["items"]["$ref"].rsplit("/", 1)[-1]]["enum"]
    assert enum == ["under_delivery", "over_delivery", "residual_discrepancy"]
    assert all(f"`{code}`" in flags["description"] for code in enum)

    case, response, auth = complete_a1_visit(seeded)
    assert response.status_code == 200, response.text
    answered = response.json()["reconciliation"]
    assert answered["flags"] == ["over_delivery", "residual_discrepancy"]
    assert answered["expected_residual_ml"] == "14.6000"
    case.validate_response(response, checks=CHECKS, headers=auth)


def complete_a1_visit(seeded: Seeded) -> tuple[Any, Response, dict[str, str]]:
    """Complete patient A1's booked visit (in a savepoint rolled back) with a reconciliation
    that raises flags: nine days at 0.6 mL/day from 20 mL leave 14.6 mL, and 2 mL is removed."""
    path = "/api/v1/refill-visits/{id}/complete/"
    body = {**(body_for(f"POST {path}", seeded) or {}), "volume_removed_ml": "2.00"}
    case = live_schema()[path]["POST"].Case(
        path_parameters={"id": record_id(path, seeded)},
        headers={"If-Match": "*"},
        body=body,
        media_type="application/json",
    )
    auth = bearer_for(seeded, "write")
    with transaction.atomic():
        try:
            response = case.call(headers=auth)
        finally:
            transaction.set_rollback(True)
    return case, response, auth


def with_body(response: Response, body: Any) -> Response:
    """``response`` with another JSON body."""
    return Response(
        status_code=response.status_code,
        headers=response.headers,
        content=json.dumps(body).encode(),
        request=response.request,
        elapsed=response.elapsed,
        verify=response.verify,
    )


def test_a_property_the_schema_does_not_declare_fails_the_response_check(
    seeded: Seeded, wsgi_in_test_transaction: None
) -> None:
    """The objects the API answers with declare every property they may hold (api/schema.py),
    so a response carrying one more — as ``complete`` carried ``reconciliation`` before the
    schema declared it — fails the schema check schemathesis runs on every response."""
    case, response, auth = complete_a1_visit(seeded)
    assert response.status_code == 200, response.text
    case.validate_response(response, checks=[response_schema_conformance], headers=auth)
    answered = response.json()
    drifted = (
        {**answered, "undeclared": True},
        {**answered, "reconciliation": {**answered["reconciliation"], "undeclared": True}},
    )
    for body in drifted:
        with pytest.raises(FailureGroup, match="undeclared"):
            case.validate_response(
                with_body(response, body), checks=[response_schema_conformance], headers=auth
            )
    # Every object a response holds is closed, but the program steps: sent in requests too,
    # where the API ignores what it does not know.
    schemas = live_schema().raw_schema["components"]["schemas"]
    answered_by_the_api = reachable_components(
        [
            operation.get("responses", {})
            for item in live_schema().raw_schema["paths"].values()
            for operation in item.values()
            if isinstance(operation, dict)
        ],
        schemas,
    )
    open_objects = {
        name
        for name in answered_by_the_api
        if schemas[name].get("type") == "object"
        and schemas[name].get("additionalProperties") is not False
    }
    assert open_objects == {"ProgramStep"}


def test_a_pumps_program_catheter_and_projection_are_declared_and_checked(
    seeded: Seeded, wsgi_in_test_transaction: None
) -> None:
    """The pump's nested objects are the Program, Catheter and Projection components (not
    free-form objects), so the detail and the list are checked field by field inside them."""
    schemas = live_schema().raw_schema["components"]["schemas"]
    pump = schemas["Pump"]["properties"]
    for name, component in (
        ("current_program", "Program"),
        ("catheter", "Catheter"),
        ("projection", "Projection"),
    ):
        assert pump[name]["allOf"] == [{"$ref": f"#/components/schemas/{component}"}], name
    assert pump["current_program"]["nullable"] and pump["catheter"]["nullable"]
    assert schemas["Projection"]["properties"]["refill_due_at"]["nullable"]
    auth = bearer_for(seeded, "read")
    for path, parameters in (
        ("/api/v1/pumps/{id}/", {"id": seeded.pumps["a1"].pk}),
        ("/api/v1/pumps/", {}),
    ):
        case = live_schema()[path]["GET"].Case(path_parameters=parameters)
        response = case.call(headers=auth)
        assert response.status_code == 200, response.text
        case.validate_response(response, checks=[response_schema_conformance], headers=auth)
        answered = response.json()
        first = answered["results"][0] if "results" in answered else answered
        assert first["current_program"]["concentration_mcg_per_ml"]
        drifted = {**first, "projection": {**first["projection"], "undeclared": True}}
        body = {**answered, "results": [drifted]} if "results" in answered else drifted
        with pytest.raises(FailureGroup, match="undeclared"):
            case.validate_response(
                with_body(response, body), checks=[response_schema_conformance], headers=auth
            )
