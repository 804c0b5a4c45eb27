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

Bugs found and not fixed yet are listed in ``KNOWN_BUGS``: each has strict-xfail reproducers
(``test_known_bug``), which start failing (XPASS) once the bug is fixed, and while it stands
the fuzzing lets exactly that violation through (``matches``), so it keeps finding anything
else. A fixed bug moves to ``FIXED_BUGS``, whose requests must then pass every check.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.utils.dateparse import parse_datetime
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup, ServerError
from schemathesis.generation import GenerationMode
from schemathesis.openapi.checks import JsonSchemaError, UndefinedStatusCode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_issue
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


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _person_is_null(failure: Failure, case: Any, response: Any) -> bool:
    return (
        isinstance(failure, JsonSchemaError)
        and failure.instance is None
        and bool(failure.instance_path)
        and failure.instance_path[-1] in PERSON_FIELDS
    )


def _sci_level_is_blank(failure: Failure, case: Any, response: Any) -> bool:
    return (
        isinstance(failure, JsonSchemaError)
        and failure.instance == ""
        and bool(failure.instance_path)
        and failure.instance_path[-1] == "sci_level"
    )


def _invalid_cursor_is_404(failure: Failure, case: Any, response: Any) -> bool:
    return (
        isinstance(failure, UndefinedStatusCode)
        and failure.status_code == 404
        and case.operation.path in LIST_PATHS
        and "cursor" in (case.query or {})
        and _json(response) == {"detail": "Invalid cursor"}
    )


def _dosing_400_is_not_field_name(failure: Failure, case: Any, response: Any) -> bool:
    return (
        isinstance(failure, JsonSchemaError)
        and case.operation.path.startswith("/api/v1/dosing/")
        and response.status_code == 400
        and list(failure.instance_path) == []
        and "field_name" in str(failure.message)
    )


DATETIME_FILTERS = {
    "/api/v1/pumps/": ("refill_due_before", "refill_due_after"),
    "/api/v1/refill-visits/": ("scheduled_after", "scheduled_before"),
}


def _filter_offset_out_of_range_is_500(failure: Failure, case: Any, response: Any) -> bool:
    if not (
        isinstance(failure, ServerError | UndefinedStatusCode)
        and response.status_code == 500
        and case.method.upper() == "GET"
        and case.operation.path in DATETIME_FILTERS
    ):
        return False
    for name in DATETIME_FILTERS[case.operation.path]:
        try:
            value = parse_datetime(str((case.query or {}).get(name)))
        except ValueError:
            continue
        offset = value.utcoffset() if value is not None else None
        if offset is not None and abs(offset) >= timedelta(hours=16):
            return True
    return False


@dataclass(frozen=True)
class Repro:
    """One request that shows a known bug: ``body`` is sent as JSON; with ``valid_body`` it
    is laid over the operation's valid body (tests/api/test_matrix.py ``body_for``)."""

    method: str
    path: str
    query: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    valid_body: bool = False


@dataclass(frozen=True)
class KnownBug:
    """A failure reported and not fixed yet: ``matches`` recognises exactly it (and nothing
    else); each of ``reproduce`` shows it."""

    where: str
    what: str
    matches: Callable[[Failure, Any, Any], bool]
    reproduce: tuple[Repro, ...]
    # Shows only on PostgreSQL (the suite's database): elsewhere the reproducer fails, not XPASS.
    postgres_only: bool = False


# Reported and since fixed; their requests are replayed below (FIXED_BUGS) and must pass.
REPORTED_BUGS: dict[str, KnownBug] = {
    "person-fields-null": KnownBug(
        where="api/serializers.py PersonField",
        what="acknowledged_by, resolved_by, booked_by, cancelled_by, completed_by, entered_by "
        "and verified_by are null when nobody did it, but the schema says type string (not "
        'nullable): an open alert answers "acknowledged_by": null, "resolved_by": null; a '
        'booked visit "cancelled_by": null, "completed_by": null; a program "verified_by": null.',
        matches=_person_is_null,
        reproduce=(
            Repro("GET", "/api/v1/alerts/{id}/"),
            Repro("GET", "/api/v1/refill-visits/{id}/"),
            Repro("GET", "/api/v1/programs/{id}/"),
        ),
    ),
    "sci-level-blank": KnownBug(
        where="api/serializers.py PatientSerializer.sci_level",
        what='a patient without an SCI level has "sci_level": "", which is not in the schema\'s '
        "SciLevelEnum (the read-only ModelSerializer field drops allow_blank, so no BlankEnum).",
        matches=_sci_level_is_blank,
        reproduce=(Repro("GET", "/api/v1/patients/{id}/"), Repro("GET", "/api/v1/patients/")),
    ),
    "invalid-cursor-404": KnownBug(
        where="api/views.py LIST_ERRORS (every list)",
        what='an invalid ?cursor= answers 404 {"detail": "Invalid cursor"} (DRF\'s '
        "CursorPagination), a status the list operations do not document (200, 400, 401, 429).",
        matches=_invalid_cursor_is_404,
        reproduce=tuple(
            Repro("GET", path, query={"cursor": "not-a-cursor"}) for path in sorted(LIST_PATHS)
        ),
    ),
    "dosing-400-schema": KnownBug(
        where="dosing/api/views.py ERROR_RESPONSE (every calculator)",
        what="the 400 body is {<field>: [messages]} but the schema documents an object with a "
        'required property literally named "field_name".',
        matches=_dosing_400_is_not_field_name,
        reproduce=(Repro("POST", "/api/v1/dosing/projection/", body={}),),
    ),
    "datetime-filter-offset-500": KnownBug(
        where="api/views.py PumpFilter / VisitFilter (django_filters IsoDateTimeFilter)",
        what="a date-time filter with a UTC offset of 16 hours or more (valid ISO 8601, "
        'Python accepts up to ±23:59) reaches PostgreSQL as is: DataError "time zone '
        'displacement out of range" and a 500, not a 400: refill_due_before / '
        "refill_due_after on /api/v1/pumps/, scheduled_after / scheduled_before on "
        "/api/v1/refill-visits/.",
        matches=_filter_offset_out_of_range_is_500,
        reproduce=tuple(
            Repro("GET", path, query={name: "2026-11-20T00:00:00+17:42"})
            for path, names in DATETIME_FILTERS.items()
            for name in names
        ),
        postgres_only=True,
    ),
}


# Bugs this test found that are fixed: their requests must now pass every check.
# Reported and not fixed yet (none now): fuzzing lets through exactly these failures.
KNOWN_BUGS: dict[str, KnownBug] = {}

FIXED_BUGS: dict[str, tuple[Repro, ...]] = {
    **{name: bug.reproduce for name, bug in REPORTED_BUGS.items()},
    # POST /api/v1/programs/ with an effective_from before the current program's was a 500
    # (ValueError from dosing/engine/limits.assess_dose_change: "age_years must be >= 0",
    # "implanted_at is after `at`", "last_change_at is after `at`"); now a 400.
    "program-effective-from-in-the-past-500": tuple(
        Repro("POST", "/api/v1/programs/", body={"effective_from": at}, valid_body=True)
        for at in ("1970-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "2026-10-01T00:00:00Z")
    ),
}


def unknown_failures(group: FailureGroup, case: Any, response: Any) -> list[Failure]:
    return [
        failure
        for failure in group.exceptions
        if not any(bug.matches(failure, case, response) for bug in KNOWN_BUGS.values())
    ]


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
    """Send ``case`` in a savepoint that is rolled back and run the checks; failures that are
    known bugs are let through, anything else fails with schemathesis' report."""
    with transaction.atomic():
        try:
            response = case.call(headers=auth)
        finally:
            transaction.set_rollback(True)
    try:
        case.validate_response(response, checks=checks, headers=auth)
    except FailureGroup as group:
        if unknown_failures(group, case, response):
            raise


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


# Defined only while a bug is known, so an empty list is not a skipped test.
if KNOWN_BUGS:

    @pytest.mark.parametrize(
        ("bug", "index"),
        [
            pytest.param(
                name,
                index,
                id=f"{name}-{index}",
                marks=pytest.mark.xfail(
                    strict=True, raises=FailureGroup, reason=f"{bug.where}: {bug.what}"
                ),
            )
            for name, bug in KNOWN_BUGS.items()
            for index in range(len(bug.reproduce))
        ],
    )
    def test_known_bug(
        bug: str,
        index: int,
        seeded: Seeded,
        wsgi_in_test_transaction: None,
        request: pytest.FixtureRequest,
    ) -> None:
        """The requests that show each known bug, checked as the fuzzing checks them: each fails
        (xfail) while the bug stands and passes (XPASS, a failure under strict) once it is fixed;
        then move it from KNOWN_BUGS to FIXED_BUGS."""
        known = KNOWN_BUGS[bug]
        if known.postgres_only:
            request.getfixturevalue("postgres")
        repro = known.reproduce[index]
        case = repro_case(repro, seeded)
        auth = bearer_for(seeded, "write")
        with transaction.atomic():
            try:
                response = case.call(headers=auth)
            finally:
                transaction.set_rollback(True)
        try:
            case.validate_response(response, checks=CHECKS, headers=auth)
        except FailureGroup as group:
            other = [f for f in group.exceptions if not known.matches(f, case, response)]
            assert not other, (
                f"{repro.method} {repro.path}: expected only the known bug {bug!r}, got {other}"
            )
            raise


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
