"""Cross-site request forgery: a POST without the CSRF token is refused (403, the expired-form
page) and changes nothing, on every web route of the permission matrix; the same POST with the
token is accepted; and the REST API refuses a session-authenticated write without the token.

The browser of a signed-in user is played by ``Client(enforce_csrf_checks=True)`` (Django's
test client otherwise skips the check). The routes, roles, bodies and expected outcomes are
those of tests/web/test_matrix.py: for each POST route, the first role the matrix lets through.
"""

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client

from refills.models import RefillVisit
from refills.services import refill_cancel
from tests.api.conftest import SEED_DUE_AT, Seeded, seeded  # noqa: F401
from tests.web.test_matrix import (
    FORBIDDEN,
    LOGIN,
    MATRIX,
    NOT_ALLOWED,
    NOT_FOUND,
    ROLES,
    Data,
    Outcome,
    body_for,
    db_state,
    make_data,
    prepare,
    url_for,
)

REFUSED = (FORBIDDEN, NOT_FOUND, NOT_ALLOWED, LOGIN)
# Who sends each POST: the first role of this list the matrix lets through.
PREFERENCE = ("clinician", "lead", "caregiver_a", "admin", "anonymous")
assert set(PREFERENCE) <= set(ROLES)


def sender(operation: str) -> tuple[str, Outcome] | None:
    for role in PREFERENCE:
        outcome = MATRIX[operation][role]
        if outcome not in REFUSED:
            return role, outcome
    return None


POST_ROUTES = sorted(op for op in MATRIX if op.startswith("POST ") and sender(op) is not None)
# Routes nobody may POST to (405 for all): the check runs before the view, so they refuse a POST
# without a token with 403 as well. The API's schema and docs are refused by the REST
# framework's own check (its session authentication), with its own 403.
NO_POST = sorted(op for op in MATRIX if op.startswith("POST ") and sender(op) is None)


@pytest.fixture
def data(seeded: Seeded) -> Data:  # noqa: F811
    return make_data(seeded)


def browser(role: str, data: Data) -> Client:
    """A browser with the CSRF check on, signed in as ``role``, holding its CSRF cookie (set by
    the first page it opened)."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    if role != "anonymous":
        client.force_login(data.users[role])
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert settings.CSRF_COOKIE_NAME in client.cookies
    return client


def token_of(client: Client) -> str:
    return str(client.cookies[settings.CSRF_COOKIE_NAME].value)


def post(client: Client, operation: str, data: Data, body: dict[str, Any]) -> tuple[Any, bool]:
    """The POST in a savepoint that is rolled back; returns the response and whether the
    watched tables changed."""
    path = url_for(operation.split(" ", 1)[1], data)
    with transaction.atomic():
        prepare(operation, data)
        before = db_state()
        response = client.post(path, body)
        changed = db_state() != before
        transaction.set_rollback(True)
    return response, changed


def test_every_post_route_is_checked() -> None:
    assert POST_ROUTES, "expected POST routes in the matrix"
    assert len(POST_ROUTES) + len(NO_POST) == sum(op.startswith("POST ") for op in MATRIX)
    writes = [op for op in POST_ROUTES if any(o.changed for o in MATRIX[op].values())]
    assert len(writes) >= 8, writes


def test_a_post_without_the_token_is_refused_and_changes_nothing(
    data: Data, postgres: None
) -> None:
    failures = []
    browsers: dict[str, Client] = {}
    for operation in POST_ROUTES + NO_POST:
        role = (sender(operation) or ("clinician", NOT_ALLOWED))[0]
        client = browsers.setdefault(role, browser(role, data))
        body = body_for(operation, data)
        where = f"{operation} as {role}"
        for what, sent in (
            ("without a token", body),
            ("with a forged token", {**body, "csrfmiddlewaretoken": "x" * 32}),
        ):
            response, changed = post(client, operation, data, sent)
            if response.status_code != 403:
                failures.append(f"{where} {what}: expected 403, got {response.status_code}")
            elif changed:
                failures.append(f"{where} {what}: expected no change")
            elif not operation.startswith("POST /api/") and (
                "The form has expired" not in response.content.decode()
            ):
                failures.append(f"{where} {what}: expected the expired-form page")
    assert not failures, "\n".join(failures)


def test_the_same_post_with_the_token_is_accepted(data: Data, postgres: None) -> None:
    failures = []
    for operation in POST_ROUTES:
        found = sender(operation)
        assert found is not None
        role, expected = found
        # A browser of its own: signing in or out changes the session.
        client = browser(role, data)
        body = {**body_for(operation, data), "csrfmiddlewaretoken": token_of(client)}
        response, changed = post(client, operation, data, body)
        got = f"{response.status_code} {response.get('Location', '')} changed={changed}"
        if response.status_code != expected.status or changed != expected.changed:
            failures.append(f"{operation} as {role} with the token: expected {expected}, got {got}")
    assert not failures, "\n".join(failures)


def test_a_session_api_write_needs_the_token(data: Data, postgres: None) -> None:
    """The API's session authentication (for the browser) enforces the token; an API token
    (Bearer) is not a cookie and needs none."""
    seeded_ = data.seeded
    world = seeded_.world
    pump = seeded_.pumps["a1"]
    refill_cancel(actor=world.nurse, visit=seeded_.visits["a1"], reason="Rebooking (CSRF test)")
    body = {"pump": pump.pk, "scheduled_at": (SEED_DUE_AT - timedelta(days=3)).isoformat()}
    client = browser("clinician", data)
    booked = RefillVisit.objects.filter(pump=pump, status="booked")
    assert not booked.exists()

    refused = client.post("/api/v1/refill-visits/", body, content_type="application/json")
    assert refused.status_code == 403, refused.content
    assert "CSRF" in refused.json()["detail"]
    assert not booked.exists()

    accepted = client.post(
        "/api/v1/refill-visits/",
        body,
        content_type="application/json",
        headers={"X-CSRFToken": token_of(client)},
    )
    assert accepted.status_code == 201, accepted.content
    assert booked.count() == 1
