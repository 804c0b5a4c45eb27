"""The "who has looked at this record" page in a real browser: the demo nurse opens a patient,
then the demo clinician (the clinic lead) follows the link from the patient page and sees the
nurse's visit, with its request id."""

from io import StringIO

import pytest
from django.core.management import call_command

from audit.models import AccessLogEntry
from pumps.models import Patient
from tests.e2e.test_patient_page import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db: None) -> None:
    call_command("seed_demo", stdout=StringIO())


def test_clinic_lead_sees_the_nurses_visit(live_server, browser, page, demo, screenshot):  # type: ignore[no-untyped-def]
    patient = Patient.objects.get(given_name="Marcus", family_name="Hale")
    patient_url = f"{live_server.url}/patients/{patient.pk}/"

    nurse_context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    nurse = nurse_context.new_page()
    sign_in(nurse, live_server.url, "nurse")
    nurse.wait_for_selector("h1:has-text('Refill board')")
    nurse.goto(patient_url)
    nurse.wait_for_selector("h1:has-text('Marcus Hale')")
    # The nurse is not the clinic lead: no link, and the page itself is refused.
    assert nurse.get_by_role("link", name="Who has looked at this record").count() == 0
    refused = nurse.goto(f"{patient_url}access-log/")
    assert refused is not None and refused.status == 404
    nurse_context.close()
    visit = AccessLogEntry.objects.get(actor__username="nurse", what="patient page")

    # The clinic lead, in the test's own page.
    sign_in(page, live_server.url, "clinician")
    page.wait_for_selector("h1:has-text('Refill board')")
    page.goto(patient_url)
    page.wait_for_selector("h1:has-text('Marcus Hale')")
    page.get_by_role("link", name="Who has looked at this record").click()
    page.wait_for_selector("h1:has-text('Who has looked at this record')")
    nurse_rows = page.locator("table.access-log tbody tr").filter(has_text="Nadia Brennan")
    # The board she signed in to listed the patient too.
    assert nurse_rows.count() == 2
    row = nurse_rows.filter(has_text="Patient page")
    assert row.count() == 1
    text = row.inner_text()
    assert "Nurse" in text and f"GET /patients/{patient.pk}/" in text
    assert visit.request_id in text and "127.0.0.1" in text
    assert nurse_rows.filter(has_text="Board").count() == 1
    screenshot("access-log")
    # Filtered to the nurse alone: the lead's own looks are left out.
    assert page.locator("table.access-log tbody tr").count() > 2
    page.get_by_label("Who").select_option(label="Nadia Brennan (nurse)")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_selector("table.access-log")
    rows = page.locator("table.access-log tbody tr")
    assert rows.count() == 2
    assert all("Nadia Brennan" in rows.nth(i).inner_text() for i in range(2))
