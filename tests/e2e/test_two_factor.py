"""Two-factor authentication in a real browser: a nurse of a clinic that requires it sets up an
authenticator at her first sign-in, then signs in with a code. The codes are computed here from
the key the page shows, as her phone would."""

import re

import pytest
from django.utils import timezone

from accounts import totp
from accounts.models import TwoFactorDevice
from pumps.models import CareRole
from pumps.services import care_team_add
from tests.factories import ClinicFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's password


def sign_in_with_password(page, base: str) -> None:
    page.goto(f"{base}/")
    page.wait_for_selector("h1:has-text('Sign in')")
    page.get_by_label("Username").fill("nadia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_set_up_then_sign_in_with_a_code(live_server, page, screenshot):
    admin = UserFactory.create(username="boss", is_staff=True, is_superuser=True)
    clinic = ClinicFactory.create(name="Harbour ITB Clinic", require_two_factor=True)
    nurse = UserFactory.create(username="nadia", first_name="Nadia", last_name="Brennan")
    care_team_add(actor=admin, user=nurse, role=CareRole.NURSE, clinic=clinic)

    # First sign-in: the clinic requires two-factor, so the set-up page comes first.
    sign_in_with_password(page, live_server.url)
    page.wait_for_selector("h1:has-text('Set up two-factor authentication')")
    assert "Harbour ITB Clinic requires two-factor authentication" in page.content()
    assert page.locator(".qr-code svg").is_visible()
    secret = page.locator(".secret-key").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", secret.strip())
    screenshot("two-factor-setup")
    # Nothing else opens before it is set up.
    page.goto(f"{live_server.url}/calendar/")
    page.wait_for_selector("h1:has-text('Set up two-factor authentication')")

    page.get_by_label("Code from the app").fill("000000")
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    page.wait_for_selector("text=That code is not right")
    code = totp.totp(secret, timezone.now())
    page.get_by_label("Code from the app").fill(code)
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    page.wait_for_selector("h1:has-text('Your recovery codes')")
    codes = page.locator(".recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    # On to the page she last asked for.
    page.get_by_role("link", name="I have saved my codes: continue").click()
    page.wait_for_url(f"{live_server.url}/calendar/")
    page.goto(f"{live_server.url}/")
    page.wait_for_selector("h1:has-text('Refill board')")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Security").is_visible()

    # Next sign-in: password, then the code from the app.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("text=You have been signed out.")
    sign_in_with_password(page, live_server.url)
    page.wait_for_selector("h1:has-text('Enter your code')")
    assert page.get_by_role("link", name="Refill board").count() == 0  # no menu yet
    screenshot("two-factor-code")
    device = TwoFactorDevice.objects.get(user=nurse)
    assert device.last_used_step is not None
    # The code of the step after the one used at set-up (a used step is refused as a replay).
    step = max(totp.time_step(timezone.now()), device.last_used_step + 1)
    page.get_by_label("Code", exact=True).fill(totp.totp_at_step(secret, step))
    page.get_by_role("button", name="Verify and sign in").click()
    page.wait_for_selector("h1:has-text('Refill board')")
    assert "Nadia Brennan" in page.locator(".site-header").inner_text()

    # The Security page shows two-factor on, with all ten recovery codes left.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Security").click()
    page.wait_for_selector("h1:has-text('Security')")
    assert "Recovery codes left: 10" in page.locator("main").inner_text()
