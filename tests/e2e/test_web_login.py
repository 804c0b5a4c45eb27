"""The app's own pages in a real browser: sign in through the form as each role."""

from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from pumps.demo import DEMO_CLINIC, DEMO_PASSWORD
from pumps.models import Patient, PumpStatus

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_in(page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base}/")  # anonymous: sent to the sign-in page
    page.wait_for_selector("h1:has-text('Sign in')")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def demo(db: None) -> None:
    call_command("seed_demo", stdout=StringIO())


def test_login_page_and_wrong_password(live_server, page, screenshot):
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    # The stylesheet loads (served locally) and is applied.
    assert page.locator(".auth-card").evaluate("e => getComputedStyle(e).borderRadius") == "8px"
    assert screenshot("login").stat().st_size > 5_000
    sign_in(page, live_server.url, "clinician", "not-the-password")
    alert = page.get_by_role("alert")
    assert "Please enter a correct username and password" in alert.inner_text()
    assert page.get_by_role("link", name="Forgot your password?").is_visible()


def test_clinician_sees_the_refill_board(live_server, page, screenshot, demo):
    sign_in(page, live_server.url, "clinician")
    page.wait_for_selector("h1:has-text('Refill board')")
    expected = Patient.objects.filter(
        clinic__name=DEMO_CLINIC, pumps__status=PumpStatus.ACTIVE
    ).count()
    assert expected > 0
    assert page.locator("table.table tbody tr").count() == expected
    header = page.locator(".site-header").inner_text()
    assert "Claire Okafor" in header and "Clinician" in header
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Refill board").is_visible()
    assert nav.get_by_role("link", name="My patients").count() == 0
    assert "Northgate" not in page.content()
    screenshot("home-clinician")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("text=You have been signed out.")
    assert "/accounts/login/" in page.url


def test_nurse_sees_the_same_clinic(live_server, page, demo):
    sign_in(page, live_server.url, "nurse")
    page.wait_for_selector("h1:has-text('Refill board')")
    assert "Nurse" in page.locator(".account__roles").inner_text()
    expected = Patient.objects.filter(
        clinic__name=DEMO_CLINIC, pumps__status=PumpStatus.ACTIVE
    ).count()
    assert page.locator("table.table tbody tr").count() == expected


def test_caregiver_sees_their_patient_only(live_server, page, screenshot, demo):
    sign_in(page, live_server.url, "caregiver")
    page.wait_for_selector("h1:has-text('My patients')")
    assert page.url == f"{live_server.url}/my-patients/"
    cards = page.locator("article.patient-card")
    assert cards.count() == 1
    assert "Marcus Hale" in cards.first.inner_text()
    assert "Elena Varga" not in page.content()
    assert page.get_by_role("heading", name="Whom to call").is_visible()
    assert "+1 555 0100" in cards.first.inner_text()
    # The demo books Marcus Hale's refill: the caregiver sees the appointment and the alarm date.
    pump = Patient.objects.get(mrn="R-1001").pumps.get()
    booked = pump.next_visit_at.astimezone(ZoneInfo(pump.patient.effective_time_zone))
    card_text = cards.first.inner_text()
    assert booked.strftime("%B") in card_text and f"{booked:%Y}, 10:00" in card_text
    assert "Please keep this appointment." in card_text
    assert "low-reservoir alarm (single beep) is expected from" in card_text
    screenshot("caregiver")
    # The staff board is not theirs.
    page.goto(f"{live_server.url}/")
    assert page.url == f"{live_server.url}/my-patients/"


def test_second_caregiver_and_integrator_see_only_theirs(live_server, page, demo):
    sign_in(page, live_server.url, "caregiver2")
    page.wait_for_selector("h1:has-text('My patients')")
    cards = page.locator("article.patient-card")
    assert cards.count() == 1
    assert "Elena Varga" in cards.first.inner_text()
    assert "Marcus Hale" not in page.content()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server.url, "integrator")
    page.wait_for_selector("text=No patients in the app")
    assert page.get_by_role("link", name="API (documentation)").is_visible()
    for name in ("Hale", "Varga", "Singh"):
        assert name not in page.content()
