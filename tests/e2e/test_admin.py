"""The demo clinic in the admin, in a real browser."""

from io import StringIO

import pytest
from django.core.management import call_command

from pumps.demo import DEMO_CLINIC, DEMO_PASSWORD
from pumps.models import Clinic, Patient

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("input[type=submit]")


def test_admin_shows_the_demo_clinic(live_server, page, screenshot):
    call_command("seed_demo", stdout=StringIO())
    login(page, live_server.url, "admin")
    page.wait_for_selector("text=Clinic administration")
    clinic = Clinic.objects.get(name=DEMO_CLINIC)
    expected = Patient.objects.filter(clinic=clinic).count()
    page.goto(f"{live_server.url}/admin/pumps/patient/?clinic__id__exact={clinic.pk}")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == expected
    assert page.locator("#result_list").inner_text().count(DEMO_CLINIC) == expected
    assert screenshot("admin-patients").stat().st_size > 10_000

    page.goto(f"{live_server.url}/admin/pumps/pumpmodel/")
    text = page.locator("#result_list").inner_text()
    assert "SynchroMed II 40 mL" in text and "Codman 3000" in text
    assert "⚠" in text  # unconfirmed catalog values are flagged
    screenshot("admin-pump-models")


def test_wrong_password_is_refused(live_server, page):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")
    # The answer is a new page: read it once it is there (content() while the browser is
    # between the two pages answers empty).
    error = page.locator(".errornote")
    error.wait_for()
    assert "Please enter the correct username and password" in error.inner_text()
    assert page.url == f"{live_server.url}/admin/login/"
