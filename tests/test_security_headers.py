"""Security headers on every response, error pages that reveal nothing, and production settings
that pass Django's deployment checks.

This module is also the URL configuration of its error-page tests (``@pytest.mark.urls``): the
project's routes, the project's error handlers, and a few routes that fail on purpose.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import path

import itb.urls
from itb import views as itb_views
from itb.security import (
    REDACTED,
    content_security_policy,
    permissions_policy,
    redact,
    redact_path,
)
from pumps.models import Patient
from tests.conftest import World

ROOT = Path(__file__).resolve().parent.parent

EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# Test-only secret: production reads its own from the environment.
TEST_SECRET_KEY = "test-only-xNMZyYvOeVRYqiSPJeQ9WpX3oFk0VIztZz2Pgl486OxiAOglrJu6fRhVhN-sy_mU"
REQUIRED_ENV = {
    "DJANGO_SECRET_KEY": TEST_SECRET_KEY,
    "DJANGO_ALLOWED_HOSTS": "itb.example.org",
    "DATABASE_URL": "postgres://itb@db.invalid:5432/itb",
    "REDIS_URL": "redis://redis.invalid:6379/0",
}
# Behind one HTTPS proxy, as production.py assumes (SECURE_PROXY_SSL_HEADER).
PRODUCTION_ENV = {**REQUIRED_ENV, "ITB_TRUSTED_PROXIES": "1"}


# --- The URL configuration of the error-page tests ------------------------------------------------


def _explode(request: HttpRequest, pk: int) -> HttpResponse:
    """A bug after reading a patient: the exception text names the patient."""
    patient = Patient.objects.get(pk=pk)
    raise RuntimeError(f"cannot draw {patient.full_name} (MRN {patient.mrn}, {patient.pk})")


def _forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("Secret reason naming Alma Atwood")


def _suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("Suspicious detail naming Alma Atwood")


urlpatterns = [
    path("test-errors/explode/<int:pk>/", _explode),
    path("test-errors/forbidden/", _forbidden),
    path("test-errors/suspicious/", _suspicious),
    *itb.urls.urlpatterns,
]
handler400 = itb.urls.handler400
handler403 = itb.urls.handler403
handler404 = itb.urls.handler404
handler500 = itb.urls.handler500


# --- Headers ------------------------------------------------------------------------------------


def assert_security_headers(response: Any, where: str) -> None:
    assert response["Content-Security-Policy"] == EXPECTED_CSP, where
    assert response["X-Frame-Options"] == "DENY", where
    assert response["X-Content-Type-Options"] == "nosniff", where
    # same-origin, or stricter (the iCal feed sends no referrer at all).
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer"}, where
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", where
    features = dict(
        item.strip().split("=", 1) for item in response["Permissions-Policy"].split(",")
    )
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert features.get(feature) == "()", f"{where}: {feature} not turned off: {features}"


def test_the_policy_allows_no_inline_script_or_style() -> None:
    policy = content_security_policy(settings.ITB_CONTENT_SECURITY_POLICY)
    assert policy == EXPECTED_CSP
    for word in ("unsafe-inline", "unsafe-eval", "*", "http:", "https:"):
        assert word not in policy


def test_header_values_are_built_from_the_settings() -> None:
    assert content_security_policy(
        {"default-src": ["'self'"], "upgrade-insecure-requests": []}
    ) == ("default-src 'self'; upgrade-insecure-requests")
    assert permissions_policy({"camera": [], "fullscreen": ["self"]}) == (
        "camera=(), fullscreen=(self)"
    )


def test_every_kind_of_response_has_the_headers(world: World, client: Client) -> None:
    """Pages, redirects, 404s, static files, JSON, the admin and the iCal feed alike."""
    from refills.models import CalendarFeed, FeedKind

    anonymous = {
        "/accounts/login/": 200,
        "/": 302,
        f"/patients/{world.patient_a1.pk}/": 302,
        "/no-such-page/": 404,
        "/static/css/app.css": 200,
        "/healthz": 200,
        "/api/v1/ping/": 401,
        "/api/schema/": 200,
        "/admin/login/": 200,
    }
    for url, status in anonymous.items():
        response = client.get(url)
        assert response.status_code == status, f"GET {url}: {response.status_code}"
        assert_security_headers(response, f"GET {url}")

    feed = CalendarFeed.objects.create(
        user=world.clinician, kind=FeedKind.CLINIC, clinic=world.clinic_a
    )
    response = client.get(f"/ical/{feed.token}.ics")
    assert response.status_code == 200
    assert_security_headers(response, "the iCal feed")

    client.force_login(world.clinician)
    for url in ("/", f"/patients/{world.patient_a1.pk}/", f"/patients/{world.patient_b1.pk}/"):
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert_security_headers(response, f"GET {url} as clinician")
    response = client.post("/accounts/logout/")
    assert_security_headers(response, "POST /accounts/logout/")


def test_the_api_docs_load_no_inline_script_or_style(world: World, client: Client) -> None:
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert_security_headers(docs, "/api/docs/")
    # Every <script> has a src (the set-up script is /api/docs/?script=), and no <style>.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], html
    assert "<style" not in html and "style=" not in html
    assert 'src="/api/docs/?script="' in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()

    redoc = client.get("/api/docs/redoc/")
    assert redoc.status_code == 200
    html = redoc.content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], html
    assert "<style" not in html and "fonts.googleapis.com" not in html
    # ReDoc's page admits, beyond the site's policy, only the hashes of its two inline styles.
    policy = redoc["Content-Security-Policy"]
    style_src = next(d for d in policy.split("; ") if d.startswith("style-src "))
    assert style_src.split()[1] == "'self'"
    assert all(source.startswith("'sha256-") for source in style_src.split()[2:])
    assert policy.replace(style_src, "style-src 'self'") == EXPECTED_CSP


def test_debug_error_pages_go_without_the_policy(client: Client, db: None) -> None:
    """Django's technical 404 page styles itself inline; with DEBUG on it stays readable."""
    with override_settings(DEBUG=True):
        response = client.get("/no-such-page/")
        assert response.status_code == 404
        assert "Content-Security-Policy" not in response
        assert client.get("/accounts/login/")["Content-Security-Policy"] == EXPECTED_CSP
    assert client.get("/no-such-page/")["Content-Security-Policy"] == EXPECTED_CSP


def test_no_page_template_has_inline_script_style_or_handlers() -> None:
    """The pages' templates (not the emails, whose HTML must carry its own styles) keep to the
    policy: no style attribute, no <style>, no <script> without src, no on… handlers."""
    templates = ROOT / "templates"
    offending = []
    patterns = {
        "style attribute": re.compile(r"\sstyle\s*=", re.I),
        "style element": re.compile(r"<style", re.I),
        "inline script": re.compile(r"<script(?![^>]*\bsrc=)", re.I),
        "event handler": re.compile(r"\son[a-z]+\s*=", re.I),
        "javascript: URL": re.compile(r"javascript:", re.I),
    }
    for file in templates.rglob("*.html"):
        if "email" in file.relative_to(templates).parts:
            continue
        text = file.read_text()
        for what, pattern in patterns.items():
            if pattern.search(text):
                offending.append(f"{file.relative_to(ROOT)}: {what}")
    assert not offending, offending
    # The reservoir chart is drawn with SVG presentation attributes, not style.
    chart = (ROOT / "pumps" / "chart.py").read_text()
    assert not re.search(r"\sstyle=", chart)


# --- Error pages --------------------------------------------------------------------------------


def assert_reveals_nothing(response: Any, world: World) -> str:
    html = response.content.decode()
    for secret in (
        "Traceback",
        "RuntimeError",
        "SELECT",
        "pumps_patient",
        "Secret reason",
        "Suspicious detail",
        settings.SECRET_KEY,
        "SECRET_KEY",
        "DATABASES",
        "INSTALLED_APPS",
        str(settings.DATABASES["default"]["NAME"]),
        world.patient_a1.given_name,
        world.patient_a1.family_name,
        world.patient_a1.mrn + ",",
        str(world.patient_a1.date_of_birth),
        "/test-errors/",
    ):
        assert secret not in html, f"the error page shows {secret!r}"
    return html


@pytest.mark.urls(__name__)
def test_a_404_shows_the_request_id_and_nothing_else(world: World, client: Client) -> None:
    response = client.get("/no-such-page/?q=Atwood", headers={"X-Request-ID": "support-404-id"})
    assert response.status_code == 404
    html = assert_reveals_nothing(response, world)
    assert "Page not found" in html
    assert response["X-Request-ID"] == "support-404-id"
    assert "support-404-id" in html
    assert "/no-such-page/" not in html and "Atwood" not in html


@pytest.mark.urls(__name__)
def test_a_patient_outside_the_care_team_gets_the_plain_404(world: World, client: Client) -> None:
    client.force_login(world.clinician_b)
    response = client.get(f"/patients/{world.patient_a1.pk}/")
    assert response.status_code == 404
    assert "Page not found" in assert_reveals_nothing(response, world)


@pytest.mark.urls(__name__)
def test_a_server_error_shows_the_request_id_and_nothing_else(world: World) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(world.clinician)
    response = client.get(f"/test-errors/explode/{world.patient_a1.pk}/")
    assert response.status_code == 500
    html = assert_reveals_nothing(response, world)
    assert "Something went wrong" in html
    assert "check whether your change was saved" in html
    request_id = response["X-Request-ID"]
    assert request_id and request_id in html
    assert response["Content-Security-Policy"] == EXPECTED_CSP


@pytest.mark.urls(__name__)
def test_a_server_error_page_needs_no_database(world: World) -> None:
    """The 500 handler renders without a context processor: no query at all."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    request = RequestFactory().get("/anything/")
    request.request_id = "no-db-id"  # type: ignore[attr-defined]
    request.user = world.clinician  # type: ignore[attr-defined]
    with CaptureQueriesContext(connection) as queries:
        response = itb_views.server_error(request)
    assert response.status_code == 500
    assert len(queries) == 0
    assert "no-db-id" in response.content.decode()
    # And it still works without the request-id middleware.
    plain = itb_views.server_error(RequestFactory().get("/anything/"))
    assert "Something went wrong" in plain.content.decode()
    assert "Reference" not in plain.content.decode()


@pytest.mark.urls(__name__)
def test_403_and_400_pages_reveal_nothing(world: World) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(world.clinician)
    forbidden = client.get("/test-errors/forbidden/")
    assert forbidden.status_code == 403
    assert "Not allowed" in assert_reveals_nothing(forbidden, world)
    assert forbidden["X-Request-ID"] in forbidden.content.decode()
    bad = client.get("/test-errors/suspicious/")
    assert bad.status_code == 400
    assert "Bad request" in assert_reveals_nothing(bad, world)
    assert bad["X-Request-ID"] in bad.content.decode()


@pytest.mark.urls(__name__)
def test_a_refused_form_gets_the_expired_form_page(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.clinician)
    response = client.post("/accounts/logout/")
    assert response.status_code == 403
    html = assert_reveals_nothing(response, world)
    assert "The form has expired" in html and "Nothing was saved" in html
    assert "CSRF" not in html
    assert response["X-Request-ID"] in html


@pytest.mark.urls(__name__)
def test_api_errors_stay_json(world: World) -> None:
    client = Client(raise_request_exception=False)
    missing = client.get("/api/v1/no-such-endpoint/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found.", "request_id": missing["X-Request-ID"]}


# --- Log hygiene helpers ------------------------------------------------------------------------


def test_redaction_of_secrets_in_paths_and_database_row_values() -> None:
    assert redact_path("/ical/Zx9-abc_DEF.ics") == f"/ical/{REDACTED}.ics"
    assert redact_path("/alerts/ack/eyJhIjoxfQ:1u2v:sig/") == f"/alerts/ack/{REDACTED}/"
    assert redact_path("/patients/12/") == "/patients/12/"
    detail = (
        'new row for relation "pumps_patient" violates check constraint\n'
        "DETAIL:  Failing row contains (7, A1, Alma, Atwood (Al), 1980-05-17).\n"
        'duplicate key value violates unique constraint "uniq_mrn"\n'
        "DETAIL:  Key (clinic_id, mrn)=(1, A1) already exists."
    )
    cleaned = redact(detail)
    assert "Alma" not in cleaned and "1980-05-17" not in cleaned and "(1, A1)" not in cleaned
    assert f"Failing row contains ({REDACTED})." in cleaned
    assert f"Key (clinic_id, mrn)=({REDACTED}) already exists." in cleaned


# --- Production settings ------------------------------------------------------------------------


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "DATABASE", "REDIS", "EMAIL", "CLINIC"))
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="itb.settings.production")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deployment_checks() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_fail_the_checks_with_a_weak_key() -> None:
    """The check has teeth: the same command fails on a short key."""
    weak = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": "short"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **weak)
    assert result.returncode != 0
    assert "security.W009" in result.stderr


@pytest.mark.parametrize("missing", sorted(REQUIRED_ENV))
def test_production_refuses_to_start_without_each_required_variable(missing: str) -> None:
    env = {name: value for name, value in PRODUCTION_ENV.items() if name != missing}
    result = _manage("check", "--deploy", **env)
    assert result.returncode != 0
    assert f"{missing} must be set in the environment for production" in result.stderr


def test_pages_shown_to_a_signed_in_user_are_not_kept_by_the_browser(
    world: World, client: Client
) -> None:
    """Back after signing out on a shared clinic computer must not show a patient page."""
    client.force_login(world.clinician)
    for url in ("/", f"/patients/{world.patient_a1.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Cache-Control"] == "no-store", url
    # What holds no patient data stays cacheable: the stylesheet.
    assert "no-store" not in client.get("/static/css/app.css").get("Cache-Control", "")
