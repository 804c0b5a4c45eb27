"""Changing a program in the browser: a soft-stop override, then a concentration change with
its bridge bolus."""

from io import StringIO

import pytest
from django.core.management import call_command

from pumps.demo import DEMO_PASSWORD
from pumps.models import Patient, PumpBolus, PumpProgram

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("h1:has-text('Refill board')")


def test_soft_stop_override_and_concentration_change_with_bridge(live_server, page, screenshot):
    call_command("seed_demo", stdout=StringIO())
    pump = Patient.objects.get(mrn="R-1001").pumps.get()  # 300 mcg/day at 500 mcg/mL
    before = PumpProgram.objects.filter(pump=pump).count()
    sign_in(page, live_server.url, "nurse")
    change_url = f"{live_server.url}/pumps/{pump.pk}/program/"

    # 1. +50 % at a refill: above the 40 % limit for spinal origin → soft stop, override.
    page.goto(change_url)
    page.get_by_label("Concentration again (mcg/mL)").select_option("500")
    page.get_by_label("Daily dose (mcg/day)").fill("450")
    page.get_by_label("Reason").fill("Breakthrough spasticity")
    page.get_by_role("button", name="Review the change").click()
    page.wait_for_selector("h1:has-text('Review the program change')")
    assert "Soft stop" in page.content()
    assert "0.9 mL/day" in page.content()  # 450 / 500
    screenshot("program-review-soft-stop")
    page.get_by_role("button", name="Save the new program").click()
    # Refused without a reason: the answer is a new page, read once it is there (content()
    # while the browser is between the two pages answers empty).
    page.wait_for_selector("text=document why")
    assert "document why" in page.content()
    page.get_by_label("Why this change outside the label limits is made").fill(
        "Clinician reviewed by phone; severe spasms"
    )
    page.get_by_label("The pump was interrogated and is running the new program").check()
    page.get_by_role("button", name="Save the new program").click()
    page.wait_for_selector("text=New program saved")
    latest = PumpProgram.objects.filter(pump=pump).latest()
    assert latest.daily_dose_mcg == 450 and latest.dose_change_verdict == "soft_stop"

    # 2. Same dose at 2000 mcg/mL: the bridge bolus is shown and must be confirmed.
    page.goto(change_url)
    page.get_by_label("Concentration (mcg/mL)", exact=True).select_option("2000")
    page.get_by_label("Concentration again (mcg/mL)").select_option("2000")
    page.get_by_label("Reason").fill("Longer refill interval")
    page.get_by_role("button", name="Review the change").click()
    page.wait_for_selector("text=a bridge bolus is required")
    assert "25 % of the prescribed dose" in page.content()
    screenshot("program-review-bridge")
    page.get_by_label("I have programmed the bridge bolus shown above").check()
    page.get_by_label("The pump was interrogated and is running the new program").check()
    page.get_by_role("button", name="Save the new program").click()
    page.wait_for_selector("text=New program saved")
    assert PumpProgram.objects.filter(pump=pump).count() == before + 2
    assert PumpBolus.objects.filter(pump=pump, kind="bridge").count() == 1
