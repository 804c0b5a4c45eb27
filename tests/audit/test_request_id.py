"""The request id: every response names its request in ``X-Request-ID``; an id sent by a proxy
is kept only when it is plainly an id; every log line written while the request runs carries
it, and the access-log rows of the request too (tests/audit/test_access_log.py)."""

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from audit.middleware import RequestIdMiddleware
from audit.models import AccessLogEntry
from audit.request_id import REQUEST_ID_HEADER, RequestIdFilter, current_request_id

NEW_ID = re.compile(r"[0-9a-f]{32}")


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_response_carries_a_new_request_id(db: None) -> None:
    client = Client()
    first, second = client.get("/accounts/login/"), client.get("/accounts/login/")
    assert NEW_ID.fullmatch(first[REQUEST_ID_HEADER]), first[REQUEST_ID_HEADER]
    assert NEW_ID.fullmatch(second[REQUEST_ID_HEADER])
    assert first[REQUEST_ID_HEADER] != second[REQUEST_ID_HEADER]


def test_api_health_redirect_and_error_responses_carry_it_too(world: Any) -> None:
    responses: dict[str, Any] = {
        "API without credentials": APIClient().get("/api/v1/pumps/"),
        "health check": Client().get("/healthz"),
        "redirect to sign-in": Client().get("/"),
        "page not found": signed_in(world.nurse).get("/patients/999999/"),
    }
    statuses = {name: r.status_code for name, r in responses.items()}
    assert statuses == {
        "API without credentials": 401,
        "health check": 200,
        "redirect to sign-in": 302,
        "page not found": 404,
    }
    for name, response in responses.items():
        assert NEW_ID.fullmatch(response.get(REQUEST_ID_HEADER, "")), name
    # The error page shows the id to quote to support.
    not_found = responses["page not found"]
    assert not_found[REQUEST_ID_HEADER] in not_found.content.decode()


@pytest.mark.parametrize(
    "incoming", ["abc12345", "a" * 64, "req.2026-11-10_01", "0f6e1b5e-9d6c-4c11-9d3e-1a2b3c4d5e6f"]
)
def test_a_well_formed_incoming_id_is_kept(db: None, incoming: str) -> None:
    response = Client().get("/accounts/login/", headers={"X-Request-ID": incoming})
    assert response[REQUEST_ID_HEADER] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "short",  # fewer than 8 characters
        "a" * 65,  # more than 64
        "has spaces 12345",
        "forged\nlog line",
        "<script>alert(1)</script>",
        "ünïcode-12345",
        "semi;colon;12345",
        "",
    ],
)
def test_any_other_incoming_id_is_replaced(db: None, incoming: str) -> None:
    response = Client().get("/accounts/login/", headers={"X-Request-ID": incoming})
    assert NEW_ID.fullmatch(response[REQUEST_ID_HEADER])
    assert response[REQUEST_ID_HEADER] != incoming


def test_the_id_is_forgotten_when_the_request_ends(world: Any) -> None:
    signed_in(world.caregiver_a).get("/my-patients/", headers={"X-Request-ID": "done-12345"})
    assert current_request_id() == ""
    # It was the request's while it ran: its access row carries it.
    assert AccessLogEntry.objects.get().request_id == "done-12345"


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler (LOGGING in itb/settings/base.py) writes."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RequestIdFilter) for f in handler.filters)
    ]
    assert len(handlers) == 1, "expected the console handler to carry the request-id filter"
    handler = handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)  # type: ignore[arg-type]


def test_log_lines_written_during_a_request_name_it(world: Any, console: io.StringIO) -> None:
    # Django logs a 404 ("Not Found: ...") while the request runs.
    response = signed_in(world.nurse).get(
        "/patients/999999/", headers={"X-Request-ID": "trace-0042"}
    )
    assert response.status_code == 404
    lines = [line for line in console.getvalue().splitlines() if "Not Found" in line]
    assert lines, f"expected Django's 'Not Found' warning in the log, got {console.getvalue()!r}"
    assert all("[trace-0042]" in line for line in lines), lines


def test_log_lines_outside_a_request_say_so(console: io.StringIO) -> None:
    logging.getLogger("itb.worker").warning("sweep took long")
    line = console.getvalue().strip().splitlines()[-1]
    assert line.endswith("itb.worker [-] sweep took long"), line


def test_the_filter_keeps_an_id_a_record_already_has() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.__dict__["request_id"] = "from-celery-1"
    assert RequestIdFilter().filter(record) is True
    assert record.__dict__["request_id"] == "from-celery-1"


def test_app_log_lines_inside_the_view_name_the_request(console: io.StringIO) -> None:
    def view(request: HttpRequest) -> HttpResponse:
        logging.getLogger("pumps.projection").warning("projection failed for pump 7")
        return HttpResponse("ok")

    request = RequestFactory().get("/", headers={"X-Request-ID": "inside-view-1"})
    response = RequestIdMiddleware(view)(request)
    assert response[REQUEST_ID_HEADER] == "inside-view-1"
    assert getattr(request, "request_id", "") == "inside-view-1"
    line = console.getvalue().strip().splitlines()[-1]
    assert "[inside-view-1] projection failed for pump 7" in line, line
