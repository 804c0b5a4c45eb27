"""Alerts in a real browser: the nurse finds an alert in the list, opens it and acknowledges it;
the emailed acknowledge link works without signing in; a caregiver cannot open the list."""

import pytest

from alerts.emails import ack_token
from alerts.models import Alert, AlertKind, AlertStatus
from alerts.selectors import alerts_visible_to
from alerts.sweep import run_sweep
from pumps.demo import DEMO_CLINIC
from pumps.models import Patient
from tests.e2e.test_web_login import demo, sign_in  # noqa: F401  (demo is a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The demo's patient whose refill is overdue and not booked (see pumps/demo.py).
OVERDUE_MRN = "R-1014"


def overdue_alert(username: str = "nurse", kind: str = AlertKind.REFILL_NOT_BOOKED) -> Alert:
    """The sweep raises the demo's alerts; these go to the nurses."""
    run_sweep()
    patient = Patient.objects.get(mrn=OVERDUE_MRN)
    from django.contrib.auth import get_user_model

    nurse = get_user_model().objects.get(username=username)
    alert = alerts_visible_to(nurse).get(patient=patient, kind=kind, status=AlertStatus.OPEN)
    assert alert.acknowledged_at is None
    return alert


def test_nurse_acknowledges_an_alert(live_server, page, screenshot, demo):  # noqa: F811
    alert = overdue_alert(kind=AlertKind.REFILL_OVERDUE)
    patient = alert.patient
    sign_in(page, live_server.url, "nurse")
    page.wait_for_selector("h1:has-text('Refill board')")
    # The board shows the pump's open alert, linked to it.
    row = page.locator(f"tr[data-pump='{alert.pump_id}']")
    # The most severe of its open alerts (overdue: high; not booked: warning).
    assert "Refill overdue and not booked" in row.locator(".board-alert").inner_text()
    screenshot("alerts-board")

    # The menu counts the open alerts nobody has acknowledged; it leads to the list.
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Alerts").click()
    page.wait_for_selector("h1:has-text('Alerts')")
    assert page.url == f"{live_server.url}/alerts/"
    table = page.locator("table.alert-table")
    assert table.is_visible()
    patient_rows = table.locator("tbody tr", has_text=patient.family_name)
    assert patient_rows.count() == 2  # overdue, and not booked
    patient_row = patient_rows.filter(has_text="Refill overdue")
    assert patient_row.count() == 1
    assert "Not acknowledged" in patient_row.inner_text()
    assert "High" in patient_row.inner_text()
    # Severity badges are styled (the stylesheet's badge colours are applied).
    badge = patient_row.locator(".badge").first
    assert badge.evaluate("e => getComputedStyle(e).borderRadius") == "999px"
    screenshot("alerts-list")

    patient_row.get_by_role("link", name="Refill overdue and not booked").click()
    page.wait_for_selector("h1:has-text('Refill overdue and not booked')")
    assert page.url == f"{live_server.url}/alerts/{alert.pk}/"
    facts = page.locator("#facts").inner_text()
    assert patient.full_name in facts and DEMO_CLINIC in page.locator(".page-header").inner_text()
    assert "nurse" in page.locator("#deliveries").inner_text()
    screenshot("alert-detail")

    page.get_by_label("Note (optional)").fill("Phoning the family to book today")
    page.get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector("text=Alert acknowledged by nurse")
    acknowledgement = page.locator("#acknowledgement").inner_text()
    assert "Acknowledged by" in acknowledgement and "Nadia Brennan (nurse)" in acknowledgement
    assert "Phoning the family to book today" in acknowledgement
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    screenshot("alert-acknowledged")

    alert.refresh_from_db()
    assert alert.acknowledged_by is not None and alert.acknowledged_by.username == "nurse"
    assert alert.acknowledged_via == "app" and alert.next_escalation_at is None


def test_email_link_acknowledges_without_signing_in(live_server, page, screenshot, demo):  # noqa: F811
    alert = overdue_alert()
    token = ack_token(alert_id=alert.pk, user_id=alert.deliveries.get(stage=0).user_id)
    page.goto(f"{live_server.url}/alerts/ack/{token}/")
    page.wait_for_selector("h1:has-text('Acknowledge an alert')")
    text = page.locator("main").inner_text()
    assert "Refill not booked" in text and DEMO_CLINIC in text
    assert alert.patient.family_name not in text and OVERDUE_MRN not in text
    alert.refresh_from_db()
    assert alert.acknowledged_at is None  # opening the link did nothing
    screenshot("alert-ack-link")

    page.get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector("h1:has-text('Thank you')")
    assert "acknowledged by nurse" in page.locator("main").inner_text()
    screenshot("alert-ack-link-done")
    alert.refresh_from_db()
    assert alert.acknowledged_via == "email link"

    page.goto(f"{live_server.url}/alerts/ack/{token}x/")
    assert "This link has expired or is not valid" in page.locator("main").inner_text()
    screenshot("alert-ack-link-invalid")


def test_caregiver_cannot_open_the_alert_list(live_server, page, screenshot, demo):  # noqa: F811
    alert = overdue_alert()
    sign_in(page, live_server.url, "caregiver")
    page.wait_for_selector("h1")
    nav = page.get_by_role("navigation", name="Main").inner_text()
    assert "Alerts" not in nav
    response = page.goto(f"{live_server.url}/alerts/")
    assert response is not None and response.status == 403
    assert "Alerts are for clinic staff" in page.locator("h1").inner_text()
    assert alert.patient.family_name not in page.locator("main").inner_text()
    screenshot("alerts-caregiver-refused")
    response = page.goto(f"{live_server.url}/alerts/{alert.pk}/")
    assert response is not None and response.status == 404
