"""The Content-Security-Policy in a real browser: every main page, the admin, the API and its
docs load with no inline script or style, no policy violation and nothing on the console.

Each page is opened in Chromium with a listener for ``securitypolicyviolation`` events (added
before any page script runs) and for console messages, page errors and failed requests. The
first test proves the listener catches a violation, so "none" in the others means none.
"""

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from alerts.models import Alert, AlertStatus
from alerts.sweep import run_sweep
from pumps.demo import DEMO_CLINIC, DEMO_PASSWORD
from pumps.models import Patient, PumpStatus
from refills.models import RefillVisit, VisitStatus
from tests.e2e.test_web_login import demo  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REDOC_LOGO_HOST = "https://cdn.redoc.ly/"

# Registered before any page script runs; Playwright's binding is not subject to the page's CSP.
LISTEN = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
    page: document.location.href,
  });
}, true);
"""


@dataclass
class Watch:
    """What the browser reported while the pages were open."""

    violations: list[dict[str, Any]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [
            *(f"CSP violation: {v}" for v in self.violations),
            *(f"console: {line}" for line in self.console),
            *(f"page error: {line}" for line in self.errors),
            *(f"request failed: {line}" for line in self.failed),
        ]

    def clear(self) -> None:
        self.violations.clear()
        self.console.clear()
        self.errors.clear()
        self.failed.clear()


@pytest.fixture
def watch(page) -> Watch:  # type: ignore[no-untyped-def]
    found = Watch()
    page.expose_function("reportViolation", lambda v: found.violations.append(v))
    page.add_init_script(LISTEN)
    # Chromium's "verbose" level holds its developer hints (e.g. about autocomplete attributes),
    # not errors or warnings.
    page.on(
        "console",
        lambda m: (
            found.console.append(f"[{m.type}] {m.text} ({m.location.get('url')}, {page.url})")
            if m.type != "verbose"
            else None
        ),
    )
    page.on("pageerror", lambda e: found.errors.append(f"{e} ({page.url})"))
    page.on("requestfailed", lambda r: found.failed.append(f"{r.url}: {r.failure}"))
    page.on(
        "response",
        lambda r: found.failed.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None,
    )
    return found


def sign_in(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def open_page(page, watch: Watch, url: str, ready: str) -> None:  # type: ignore[no-untyped-def]
    """Open ``url``, wait for ``ready`` (a selector) and for the network to settle, and check
    the page came with the policy and caused no report."""
    response = page.goto(url)
    assert response is not None and response.status == 200, f"GET {url}: {response}"
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "style-src 'self'" in policy, (
        f"GET {url}: expected the Content-Security-Policy header, got {policy!r}"
    )
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
    page.wait_for_selector(ready)
    page.wait_for_load_state("networkidle")
    assert not watch.problems(), f"GET {url}: " + "\n".join(watch.problems())


def test_the_listener_catches_an_inline_script_and_style(live_server, page, watch):
    page.goto(f"{live_server.url}/accounts/login/")
    page.wait_for_selector("h1:has-text('Sign in')")
    assert not watch.problems(), watch.problems()
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.inlineScriptRan = true;";
          document.body.append(script);
          const style = document.createElement("style");
          style.textContent = "body { background: red; }";
          document.head.append(style);
        }"""
    )
    page.wait_for_function("() => true")
    page.wait_for_timeout(200)  # the violation events are dispatched asynchronously
    assert page.evaluate("() => window.inlineScriptRan === undefined"), "inline script ran"
    directives = {v["directive"] for v in watch.violations}
    assert {"script-src-elem", "style-src-elem"} <= directives, watch.violations
    assert any("Content Security Policy" in line for line in watch.console), watch.console


def test_clinician_pages_keep_the_policy(live_server, page, watch, demo, screenshot):  # noqa: F811
    run_sweep()
    base = live_server.url
    # The demo's R-1001: 300 mcg/day at 500 mcg/mL, filled, with a chart on the patient page.
    patient = Patient.objects.get(mrn="R-1001")
    pump = patient.pumps.get(status=PumpStatus.ACTIVE)
    visit = RefillVisit.objects.filter(
        status=VisitStatus.BOOKED, pump__patient__clinic__name=DEMO_CLINIC
    ).first()
    assert visit is not None
    alert = Alert.objects.filter(status=AlertStatus.OPEN, clinic__name=DEMO_CLINIC).first()
    assert alert is not None

    open_page(page, watch, f"{base}/accounts/login/", "h1:has-text('Sign in')")
    sign_in(page, base, "clinician")
    assert not watch.problems(), watch.problems()
    pages = [
        ("/", "h1:has-text('Refill board')"),
        ("/?q=a&high_risk=1", "h1:has-text('Refill board')"),
        (f"/patients/{patient.pk}/", "svg"),
        (f"/pumps/{pump.pk}/refills/new/", "form"),
        (f"/refills/{visit.pk}/reschedule/", "form"),
        (f"/refills/{visit.pk}/cancel/", "form"),
        (f"/pumps/{pump.pk}/program/", "form"),
        (f"/pumps/{pump.pk}/refill/", "form"),
        ("/calendar/", "h1"),
        ("/calendar/?view=month", "h1"),
        ("/calendar/feeds/", "h1"),
        ("/alerts/", "h1:has-text('Alerts')"),
        (f"/alerts/{alert.pk}/", "#facts"),
        ("/screening/", "h1"),
        ("/accounts/password_change/", "h1"),
        ("/accounts/security/", "h1"),
        ("/accounts/two-factor/setup/", "h1"),
        # The demo's clinician leads the clinic: the record's access log is theirs to read.
        (f"/patients/{patient.pk}/access-log/", "h1"),
    ]
    for path, ready in pages:
        open_page(page, watch, f"{base}{path}", ready)
        if path == f"/patients/{patient.pk}/":
            # The reservoir chart keeps its colours (SVG presentation attributes, no style).
            assert page.locator("figure.chart-figure svg [stroke]").count() > 0
            screenshot("csp-patient")

    # The program change's review step (a form post and the page that answers it).
    page.goto(f"{base}/pumps/{pump.pk}/program/")
    page.get_by_label("Concentration again (mcg/mL)").select_option("500")
    page.get_by_label("Daily dose (mcg/day)").fill("330")
    page.get_by_label("Reason").fill("Checking the page under the policy")
    page.get_by_role("button", name="Review the change").click()
    page.wait_for_selector("h1:has-text('Review the program change')")
    page.wait_for_load_state("networkidle")
    assert not watch.problems(), "\n".join(watch.problems())

    # The API documentation: Swagger UI renders the operations, ReDoc the reference.
    open_page(page, watch, f"{base}/api/docs/", "#swagger-ui")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/pumps/" in text for text in paths), paths
    assert page.locator(".opblock").count() >= 20
    page.locator(".opblock-summary", has_text="/api/v1/ping/").first.click()
    page.wait_for_selector(".opblock-body")
    page.wait_for_load_state("networkidle")
    assert not watch.problems(), "\n".join(watch.problems())
    screenshot("csp-swagger")
    # The API itself, opened in the browser: JSON, not DRF's inline-styled browsable pages.
    open_page(page, watch, f"{base}/api/v1/pumps/", "body")
    listed = json.loads(page.locator("body").inner_text())
    assert any(row["id"] == pump.pk for row in listed["results"]), listed
    page.goto(f"{base}/api/docs/redoc/")
    page.wait_for_selector("h1:has-text('ITB pump clinic API')")
    page.wait_for_selector("text=/api/v1/pumps/")
    page.wait_for_load_state("networkidle")
    # ReDoc always fetches its side menu's logo from cdn.redoc.ly; the policy blocks it (the app
    # makes no request to another site) and ReDoc then leaves the image out. That is the only
    # report the page may cause.
    blocked_logo = [v for v in watch.violations if v["blocked"].startswith(REDOC_LOGO_HOST)]
    assert [v["directive"] for v in blocked_logo] == ["img-src"], watch.violations
    watch.violations.remove(blocked_logo[0])
    watch.console[:] = [line for line in watch.console if REDOC_LOGO_HOST not in line]
    watch.failed[:] = [line for line in watch.failed if REDOC_LOGO_HOST not in line]
    assert not watch.problems(), "\n".join(watch.problems())
    assert page.locator("img[alt='redocly logo']").count() == 0
    screenshot("csp-redoc")


def test_caregiver_page_keeps_the_policy(live_server, page, watch, demo):  # noqa: F811
    sign_in(page, live_server.url, "caregiver")
    open_page(page, watch, f"{live_server.url}/my-patients/", "h1")


def test_admin_keeps_the_policy(live_server, page, watch, demo, screenshot):  # noqa: F811
    base = live_server.url
    open_page(page, watch, f"{base}/admin/login/", "#id_username")
    page.fill("#id_username", "admin")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("text=Clinic administration")
    assert not watch.problems(), watch.problems()
    patient = Patient.objects.filter(clinic__name=DEMO_CLINIC).first()
    assert patient is not None
    admin_pages = [
        ("/admin/", "text=Clinic administration"),
        ("/admin/pumps/patient/", "#result_list"),
        (f"/admin/pumps/patient/{patient.pk}/change/", "#patient_form"),
        ("/admin/pumps/pump/add/", "form"),
        ("/admin/alerts/alert/", "#changelist"),
        ("/admin/accounts/apitoken/add/", "form"),
    ]
    for path, ready in admin_pages:
        open_page(page, watch, f"{base}{path}", ready)
    # The admin's date widget (its script opens a calendar) works under the policy.
    open_page(page, watch, f"{base}/admin/pumps/patient/{patient.pk}/change/", "#patient_form")
    calendar_link = page.locator(".datetimeshortcuts a").last
    if calendar_link.count():
        calendar_link.click()
        page.wait_for_selector(".calendarbox", state="visible")
    assert not watch.problems(), "\n".join(watch.problems())
    screenshot("csp-admin-change-form")

    # Issuing an API token: the page that shows it once is styled from a file.
    integrator = get_user_model().objects.get(username="integrator")
    page.goto(f"{base}/admin/accounts/apitoken/add/")
    page.select_option("#id_user", str(integrator.pk))
    page.fill("#id_name", "CSP check")
    page.click("input[type=submit]")
    page.wait_for_selector("#api-token")
    # The element can be in the page before its stylesheet has loaded: wait for the page.
    page.wait_for_load_state("load")
    user_select = page.locator("#api-token").evaluate("e => getComputedStyle(e).userSelect")
    assert user_select == "all"
    assert not watch.problems(), "\n".join(watch.problems())


def test_error_pages_keep_the_policy(live_server, page, watch, demo):  # noqa: F811
    """The plain error pages are styled from the stylesheet too (no inline style)."""
    sign_in(page, live_server.url, "clinician")
    response = page.goto(f"{live_server.url}/no-such-page/")
    assert response is not None and response.status == 404
    assert response.headers.get("content-security-policy", "").startswith("default-src 'self'")
    page.wait_for_selector("h1:has-text('Page not found')")
    assert page.locator(".auth-card").evaluate("e => getComputedStyle(e).borderRadius") == "8px"
    reference = response.headers.get("x-request-id", "")
    assert reference and reference in page.locator(".auth-card").inner_text()
    page.wait_for_load_state("networkidle")
    # The page's own 404 is the one failure expected.
    assert watch.failed == [f"{live_server.url}/no-such-page/: HTTP 404"]
    watch.failed.clear()
    watch.console[:] = [line for line in watch.console if "404" not in line]
    assert not watch.problems(), "\n".join(watch.problems())
