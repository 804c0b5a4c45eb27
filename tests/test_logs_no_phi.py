"""No patient's name, MRN or date of birth in the application's logs or in an alert email's
subject line.

The main test runs a representative day (pages, a search, a web write and an API write, a 404, a
500, the alert sweep and its emails, one of them failing) with every logger at DEBUG and reads
both what was logged (caplog) and what the configured console handler wrote. The access log of
gunicorn is checked by starting gunicorn. This module is also the URL configuration of the
tests that need a failing view (``@pytest.mark.urls``).
"""

import io
import logging
import os
import re
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from django.core import mail
from django.core.servers.basehttp import WSGIRequestHandler
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import path
from django.utils import timezone

import itb.urls
from accounts.services import api_token_issue
from alerts import outbox
from alerts.emails import build_message, subject_for
from alerts.kinds import KINDS
from alerts.models import Alert, Audience, Delivery, DeliveryStatus
from alerts.sweep import run_sweep
from audit.middleware import RequestIdMiddleware
from itb.security import REDACTED, RedactingFilter
from pumps.models import CareTeamMember, Patient
from tests.api.conftest import SEED_DUE_AT, SEED_VISIT_AT, Seeded, seeded  # noqa: F401
from tests.conftest import World

ROOT = Path(__file__).resolve().parent.parent
APP_LOGGERS = (
    "accounts",
    "alerts",
    "api",
    "audit",
    "dosing",
    "itb",
    "pumps",
    "refills",
    "web",
    "django.request",
    "django.security",
    "celery",
)

# Distinct identifiers, so a hit is never a coincidence of short strings.
IDENTITIES = {
    "a1": ("MRN-Q4417-A", date(1961, 3, 14)),
    "a2": ("MRN-Q5528-B", date(1972, 8, 29)),
    "b1": ("MRN-Q6639-C", date(1990, 11, 2)),
}


# --- URL configuration for the failing views -----------------------------------------------------


def _broken(request: HttpRequest, pk: int) -> HttpResponse:
    """An ordinary bug after reading a patient."""
    patient = Patient.objects.get(pk=pk)
    return HttpResponse(str(len(patient.mrn) // 0))


def _duplicate_patient(request: HttpRequest, pk: int) -> HttpResponse:
    """A write PostgreSQL refuses: its error repeats the row's values."""
    patient = Patient.objects.get(pk=pk)
    Patient.objects.create(
        clinic=patient.clinic,
        mrn=patient.mrn,
        given_name=patient.given_name,
        family_name=patient.family_name,
        date_of_birth=patient.date_of_birth,
        spasticity_origin=patient.spasticity_origin,
    )
    return HttpResponse("saved")


urlpatterns = [
    path("test-logs/broken/<int:pk>/", _broken),
    path("test-logs/duplicate/<int:pk>/", _duplicate_patient),
    *itb.urls.urlpatterns,
]
handler500 = itb.urls.handler500
handler404 = itb.urls.handler404


# --- Helpers ------------------------------------------------------------------------------------


def identify(world: World) -> list[Patient]:
    """Give the three patients distinctive MRNs and dates of birth."""
    patients = {"a1": world.patient_a1, "a2": world.patient_a2, "b1": world.patient_b1}
    for key, patient in patients.items():
        mrn, born = IDENTITIES[key]
        Patient.objects.filter(pk=patient.pk).update(mrn=mrn, date_of_birth=born)
    return list(Patient.objects.filter(pk__in=[p.pk for p in patients.values()]))


def patient_details(patients: list[Patient]) -> list[str]:
    found = []
    for p in patients:
        born = p.date_of_birth
        found += [
            p.given_name,
            p.family_name,
            p.mrn,
            born.isoformat(),
            f"{born:%d/%m/%Y}",
            f"{born:%m/%d/%Y}",
            f"{born:%B} {born.day}, {born.year}",
            f"{born.day} {born:%B} {born.year}",
            f"{born.day} {born:%b} {born.year}",
        ]
    return found


def leaks(text: str, patients: list[Patient]) -> list[str]:
    return [detail for detail in patient_details(patients) if detail in text]


def caplog_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record with its traceback, formatted afresh from the exception (not the
    text a handler's filter may have redacted)."""
    lines = []
    for record in caplog.records:
        lines.append(f"{record.name} {record.levelname} {record.getMessage()}")
        if record.exc_info:
            lines.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(lines)


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler (settings.LOGGING, with its filters) writes."""
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler)
        and any(isinstance(f, RedactingFilter) for f in h.filters)
    ]
    assert handlers, "expected the console handler of settings.LOGGING, with RedactingFilter"
    written = io.StringIO()
    previous = [h.setStream(written) for h in handlers]
    try:
        yield written
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def at_debug(caplog: pytest.LogCaptureFixture) -> None:
    """Everything at DEBUG (LOG_LEVEL=DEBUG) except the loggers settings.LOGGING pins higher
    because they would write patient details (see ``test_chatty_django_loggers_stay_pinned``)."""
    caplog.set_level(logging.DEBUG)
    for name in APP_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


def server_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a server started by a test: test settings, no PostgreSQL or Redis
    (no database is needed for the answers asked: sign-in redirects, 401s, 404s)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS"))},
        "DJANGO_SETTINGS_MODULE": "itb.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "ITB_VAR_DIR": str(tmp_path / "var"),
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Tests --------------------------------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_a_day_of_work_logs_no_patient_details(
    seeded: Seeded,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    console: io.StringIO,
) -> None:
    world = seeded.world
    patients = identify(world)
    # The clinician leads clinic A: the access log of a patient's record is a lead's page.
    CareTeamMember.objects.filter(user=world.clinician).update(is_clinic_lead=True)
    at_debug(caplog)
    a1 = Patient.objects.get(pk=world.patient_a1.pk)
    pump = seeded.pumps["a1"]

    # Pages, including searches by name and MRN (query strings are never logged).
    staff = Client(raise_request_exception=False)
    staff.force_login(world.clinician)
    for url in (
        "/",
        f"/?q={a1.family_name}",
        f"/?q={a1.mrn}",
        f"/patients/{a1.pk}/",
        "/calendar/",
        f"/alerts/?q={a1.family_name}",
        f"/alerts/{seeded.alerts['a1'].pk}/",
        f"/patients/{a1.pk}/access-log/",
    ):
        assert staff.get(url).status_code == 200, url

    # A web write (cancel the booked refill) and an API write (book it again).
    cancelled = staff.post(
        f"/refills/{seeded.visits['a1'].pk}/cancel/", {"reason": f"{a1.given_name} is in hospital"}
    )
    assert cancelled.status_code == 302
    _token, raw = api_token_issue(actor=world.admin, user=world.integrator, scope="write")
    booked = Client().post(
        "/api/v1/refill-visits/",
        {"pump": pump.pk, "scheduled_at": (SEED_DUE_AT - timedelta(days=3)).isoformat()},
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert booked.status_code == 201, booked.content

    # Refusals: another clinic's patient (404), a bad API body (400), no sign-in (redirect).
    other = Client()
    other.force_login(world.clinician_b)
    assert other.get(f"/patients/{a1.pk}/").status_code == 404
    refused = Client().post(
        "/api/v1/refill-visits/",
        {"pump": pump.pk, "scheduled_at": "not a time", "late_reason": a1.family_name},
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert refused.status_code == 400
    assert Client().get(f"/patients/{a1.pk}/").status_code == 302

    # A server error after reading the patient.
    assert staff.get(f"/test-logs/broken/{a1.pk}/").status_code == 500

    # The sweep after the booked visit was missed, then its emails: all sent but one, which
    # fails against a mail server that is not there (and is retried).
    seeded.clock.move_to(SEED_VISIT_AT + timedelta(days=2))
    run_sweep()
    queued = list(
        Delivery.objects.filter(status=DeliveryStatus.QUEUED).values_list("pk", flat=True)
    )
    assert len(queued) >= 2
    mail.outbox.clear()
    for delivery_id in queued[:-1]:
        assert outbox.send_delivery(delivery_id) == "sent"
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=closed_port(),
        EMAIL_TIMEOUT=2,
    ):
        assert outbox.send_delivery(queued[-1]) == "retry"

    logged = caplog_text(caplog)
    written = console.getvalue()
    # The day was logged: the test reads real log lines.
    for expected in (
        "alert sweep:",
        f"Not Found: /patients/{a1.pk}/",
        f"Internal Server Error: /test-logs/broken/{a1.pk}/",
        "ZeroDivisionError",
        f"alert delivery {queued[-1]} will be retried",
    ):
        assert expected in logged, f"expected {expected!r} in the log"
        assert expected in written, f"expected {expected!r} on the console"
    assert not leaks(logged, patients), leaks(logged, patients)
    assert not leaks(written, patients), leaks(written, patients)
    # Nothing needed redacting: the logs were clean as written.
    assert REDACTED not in logged and REDACTED not in written
    # Nor in the subjects of the emails sent.
    assert mail.outbox, "expected alert emails"
    for message in mail.outbox:
        assert not leaks(str(message.subject), patients), message.subject


def test_chatty_django_loggers_stay_pinned_whatever_the_log_level() -> None:
    """At DEBUG, Django's template logger writes the whole template context (patients
    included) for every missing variable, and its database logger every query with its
    parameters. The settings pin both above DEBUG, so LOG_LEVEL=DEBUG does not turn them on."""
    from django.conf import settings

    loggers = cast(dict[str, Any], settings.LOGGING)["loggers"]
    assert loggers["django.template"]["level"] == "INFO"
    assert loggers["django.db.backends"]["level"] == "WARNING"
    assert logging.getLogger("django.template").getEffectiveLevel() >= logging.INFO
    assert logging.getLogger("django.db.backends").getEffectiveLevel() >= logging.WARNING
    # And Django's error-report emails (the request's POST data) are off.
    assert loggers["django"]["handlers"] == []
    assert not any(
        type(h).__name__ == "AdminEmailHandler" for h in logging.getLogger("django").handlers
    )


@pytest.mark.urls(__name__)
def test_database_errors_are_logged_without_the_row_values(
    world: World, caplog: pytest.LogCaptureFixture, console: io.StringIO
) -> None:
    """PostgreSQL repeats the refused row's values in its error; the console log redacts them."""
    patients = identify(world)
    at_debug(caplog)
    a1 = Patient.objects.get(pk=world.patient_a1.pk)
    staff = Client(raise_request_exception=False)
    staff.force_login(world.clinician)
    with transaction.atomic():
        response = staff.get(f"/test-logs/duplicate/{a1.pk}/")
        transaction.set_rollback(True)
    assert response.status_code == 500
    # The danger is real: the error itself names the MRN ...
    assert a1.mrn in caplog_text(caplog)
    # ... and the configured log handler writes it redacted.
    written = console.getvalue()
    assert "IntegrityError" in written and "Key (clinic_id, mrn)=" in written
    assert f"=({REDACTED})" in written
    assert not leaks(written, patients), leaks(written, patients)


def test_alert_email_subjects_name_no_patient(seeded: Seeded) -> None:  # noqa: F811
    """Every kind, to caregivers and staff, first and repeated: the subject names the clinic
    and the alert number only (a subject shows on lock screens and in shared inboxes)."""
    world = seeded.world
    patients = identify(world)
    pump = seeded.pumps["a1"]
    patient = Patient.objects.get(pk=world.patient_a1.pk)
    pump.patient = patient
    checked = 0
    for n, (kind, spec) in enumerate(KINDS.items(), start=1):
        alert = Alert(
            pk=90_000 + n,
            pump=pump,
            patient=patient,
            clinic=patient.clinic,
            high_risk=True,
            kind=kind,
            severity=spec.severity,
            cycle_key=f"subject-test-{kind}",
            raised_at=timezone.now(),
            recipient_groups=spec.groups,
            initial_groups=spec.groups,
        )
        audiences = [Audience.STAFF] + ([Audience.CAREGIVER] if spec.caregiver_summary else [])
        for audience in audiences:
            user = world.caregiver_a if audience == Audience.CAREGIVER else world.nurse
            for stage in (0, 1):
                delivery = Delivery(
                    pk=90_000 + checked,
                    alert=alert,
                    user=user,
                    to_email=user.email,
                    audience=audience,
                    stage=stage,
                    next_attempt_at=timezone.now(),
                    created_at=timezone.now(),
                )
                subject = subject_for(delivery)
                message = build_message(delivery)
                assert message.subject == subject
                assert patient.clinic.name in subject
                assert not leaks(subject, patients), f"{kind} to {audience}: {subject!r}"
                headers = " ".join(f"{k}: {v}" for k, v in message.extra_headers.items())
                assert not leaks(headers, patients), headers
                checked += 1
    assert checked >= 2 * len(KINDS)


def test_gunicorn_access_log_has_no_query_string_referer_or_link_secret(tmp_path: Path) -> None:
    """The access log from gunicorn.conf.py: paths without query strings, no Referer, the feed
    and acknowledge-link secrets redacted, and the request id."""
    port = closed_port()
    access_log = tmp_path / "access.log"
    env = server_env(tmp_path)
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "itb.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(access_log),
            "--error-logfile",
            str(tmp_path / "error.log"),
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "error.log").read_text()
                assert server.poll() is None, (tmp_path / "error.log").read_text()
                time.sleep(0.2)
        client_requests = [
            ("/?q=Atwood&mrn=MRN-Q4417-A", {"Referer": "http://x/?q=Brightwater"}),
            ("/ical/SecretFeedToken123.ics", {}),
            ("/alerts/ack/eyJhIjoxfQ:1u2v:SecretSignature/", {"X-Request-ID": "gunicorn-req-1"}),
        ]
        for url, headers in client_requests:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            request = f"GET {url} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"
            sock.sendall(request.encode())
            while sock.recv(65536):
                pass
            sock.close()
        deadline = time.monotonic() + 10
        while access_log.read_text().count("\n") < len(client_requests):
            assert time.monotonic() < deadline, access_log.read_text()
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = access_log.read_text()
    for secret in ("Atwood", "MRN-Q4417-A", "Brightwater", "SecretFeedToken123", "SecretSignature"):
        assert secret not in log, f"{secret!r} in the access log:\n{log}"
    assert re.search(r'"GET / HTTP/1.1" 302 ', log), log
    assert f'"GET /ical/{REDACTED}.ics HTTP/1.1"' in log, log
    assert f'"GET /alerts/ack/{REDACTED}/ HTTP/1.1"' in log, log
    assert "gunicorn-req-1" in log, log


def test_a_runserver_request_line_is_logged_without_its_query_string(
    caplog: pytest.LogCaptureFixture,
    console: io.StringIO,
    db: None,  # closing the response runs Django's request_finished receivers
) -> None:
    """``make run`` serves with Django's development server, which logs every request line on
    the ``django.server`` logger, query string included: where the board's search puts an MRN.
    The line is logged without it, named by its request id (the server logs it after the
    middleware has returned, while the response is sent)."""
    caplog.set_level(logging.INFO, logger="django.server")
    mrn = IDENTITIES["a1"][0]
    request = RequestFactory().get(
        "/api/v1/patients/", {"mrn": mrn}, headers={"X-Request-ID": "runserver-req-1"}
    )
    response = RequestIdMiddleware(lambda request: HttpResponse("[]"))(request)
    server = WSGIRequestHandler.__new__(WSGIRequestHandler)  # the line as runserver logs it
    with socket.socket() as connection:
        server.request = cast(Any, connection)  # the connection's socket, as socketserver sets it
        server.log_message('"%s" %s %s', f"GET /api/v1/patients/?mrn={mrn} HTTP/1.1", "200", "2")
        response.close()  # sent: what the server logs next names no request
        server.log_message(
            "code %d, message %s", 400, f"Bad request version ('GET /?q=O'Brien&mrn={mrn} x')"
        )
    logged, written = caplog_text(caplog), console.getvalue()
    for text in (logged, written):
        assert mrn not in text and "O'Brien" not in text and "Brien" not in text, text
        assert '"GET /api/v1/patients/ HTTP/1.1" 200 2' in text, text
    assert '[runserver-req-1] "GET /api/v1/patients/ HTTP/1.1" 200 2' in written, written
    assert "[-] code 400, message Bad request version ('GET /" in written, written


def test_runserver_request_log_has_no_query_string_and_names_each_request(tmp_path: Path) -> None:
    """What ``make run`` writes (manage.py runserver, as Procfile.dev starts it): request lines
    without query strings and with the request id the response carried, secrets redacted."""
    port = closed_port()
    output = tmp_path / "runserver.log"
    env = {**server_env(tmp_path), "PYTHONUNBUFFERED": "1"}
    with output.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    ids = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, output.read_text()
                assert server.poll() is None, output.read_text()
                time.sleep(0.2)
        for url, headers in (
            ("/?q=Atwood&mrn=MRN-Q4417-A", {"X-Request-ID": "runserver-req-2"}),
            ("/api/v1/patients/?mrn=MRN-Q4417-A", {}),
            ("/no-such-page/?q=Atwood", {}),
            ("/alerts/ack/eyJhIjoxfQ:1u2v:SecretSignature/", {}),
        ):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            request = f"GET {url} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"
            sock.sendall(request.encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            sock.close()
            found = re.search(rb"(?im)^X-Request-ID: (\S+)\r$", answer)
            assert found, answer[:500]
            ids.append(found.group(1).decode())
        deadline = time.monotonic() + 10
        while output.read_text().count('HTTP/1.1" ') < len(ids):
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = output.read_text()
    for secret in ("Atwood", "MRN-Q4417-A", "SecretSignature"):
        assert secret not in log, f"{secret!r} in the runserver log:\n{log}"
    assert ids[0] == "runserver-req-2"
    for request_id, line in zip(
        ids,
        (
            '"GET / HTTP/1.1" 302 ',
            '"GET /api/v1/patients/ HTTP/1.1" 401 ',
            '"GET /no-such-page/ HTTP/1.1" 404 ',
            f'"GET /alerts/ack/{REDACTED}/ HTTP/1.1" ',
        ),
        strict=True,
    ):
        assert f"django.server [{request_id}] {line}" in log, log
