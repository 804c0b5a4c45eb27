"""The patient page and the screening calculator in a real browser, as the demo clinician."""

from io import StringIO

import pytest
from django.core.management import call_command

from pumps.demo import DEMO_PASSWORD

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


def test_clinician_opens_a_patient_from_the_board(live_server, page, screenshot, demo):
    sign_in(page, live_server.url, "clinician")
    page.wait_for_selector("h1:has-text('Refill board')")
    page.locator("table.board tbody tr").filter(has_text="Hale, Marcus").get_by_role(
        "link", name="Hale, Marcus"
    ).click()
    page.wait_for_selector("h1:has-text('Marcus Hale')")
    assert "/patients/" in page.url
    chart = page.locator("svg.reservoir-chart")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 600  # scaled to the card, not a thumbnail
    assert page.locator("svg.reservoir-chart polyline.chart__volume").count() == 1
    program = page.locator("#program")
    assert "Daily dose" in program.inner_text() and "mcg/day" in program.inner_text()
    assert page.locator("#timeline li").count() > 0
    # The stylesheet applies to the new sections.
    assert (
        page.locator(".timeline__item").first.evaluate("e => getComputedStyle(e).display") == "grid"
    )
    screenshot("patient")


def test_clinician_uses_the_screening_calculator(live_server, page, screenshot, demo):
    sign_in(page, live_server.url, "clinician")
    page.wait_for_selector("h1:has-text('Refill board')")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Screening").click()
    page.wait_for_selector("h1:has-text('Screening trial')")
    page.get_by_label("Effective bolus dose (mcg)").fill("75")
    page.get_by_label("Effect duration (h)").fill("6")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector(".starting-dose")
    assert "150 mcg/day" in page.locator(".starting-dose").inner_text()
    screenshot("screening")
    page.get_by_label("Effective bolus dose (mcg)").fill("abc")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector(".field__errors")
    assert "mcg" in page.locator(".field__errors").first.inner_text()
