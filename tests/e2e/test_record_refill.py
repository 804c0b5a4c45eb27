"""Recording a refill with a discrepancy, in the browser."""

from io import StringIO

import pytest
from django.core.management import call_command

from pumps.demo import DEMO_PASSWORD
from pumps.models import Patient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_nurse_records_a_refill_with_a_discrepancy(live_server, page, screenshot):
    call_command("seed_demo", stdout=StringIO())
    patient = Patient.objects.get(mrn="R-1004")  # 450 mcg/day at 1000 mcg/mL in a 40 mL pump
    pump = patient.pumps.get()
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("nurse")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("h1:has-text('Refill board')")

    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.get_by_role("link", name="Record a refill").click()
    page.wait_for_selector("h1:has-text('Record a refill')")
    # Far more left than the pump should hold after 40 days at 0.45 mL/day: under-delivery.
    page.get_by_label("Volume removed (mL)").fill("35")
    page.get_by_label("Product").select_option(label="Gablofen 1000 mcg/mL × 20 mL vial")
    page.get_by_label("Lot number").fill("GB-2291")
    page.get_by_label("Expiry date").fill("2028-01-31")
    page.get_by_label("Volume in the reservoir after the fill (mL)").fill("40")
    page.get_by_label("Post-refill observation").fill("Observed 30 minutes, comfortable")
    page.get_by_label("Filled through the reservoir septum (not the catheter access port)").check()
    screenshot("record-refill")
    page.get_by_role("button", name="Record the refill").click()
    page.wait_for_selector("h1:has-text('Refill recorded')")
    text = page.inner_text("main")
    assert "Less drug was delivered than expected" in text
    assert "catheter" in text  # what to do about it
    assert pump.fills.latest().reconciliation_flags.startswith("under_delivery")
    screenshot("refill-recorded")
