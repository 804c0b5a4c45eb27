"""Booking a refill in a real browser: the nurse opens the schedule page of an unbooked pump,
picks a suggested slot, books it and finds it on the board and on the calendar."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from pumps.demo import DEMO_CLINIC
from pumps.models import Pump, PumpStatus
from refills.models import RefillVisit, VisitStatus
from tests.e2e.test_web_login import demo, sign_in  # noqa: F401  (demo is a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def unbooked_pump() -> Pump:
    now = timezone.now()
    pump = (
        Pump.objects.filter(
            patient__clinic__name=DEMO_CLINIC,
            status=PumpStatus.ACTIVE,
            next_visit_at__isnull=True,
            refill_due_at__gt=now,
            projected_empty_at__isnull=False,
        )
        .select_related("patient__clinic")
        .order_by("-refill_due_at")
        .first()
    )
    assert pump is not None, "the demo has an unbooked pump whose refill is not yet due"
    return pump


def test_nurse_books_a_suggested_slot(live_server, page, screenshot, demo):  # noqa: F811
    pump = unbooked_pump()
    assert pump is not None, "the demo should have an unbooked pump with a future due date"
    patient = pump.patient
    zone = ZoneInfo(patient.clinic.time_zone)
    sign_in(page, live_server.url, "nurse")
    page.wait_for_selector("h1:has-text('Refill board')")

    page.goto(f"{live_server.url}/pumps/{pump.pk}/refills/new/")
    page.wait_for_selector("h1:has-text('Schedule a refill')")
    assert patient.family_name in page.locator(".schedule-summary").inner_text()
    assert page.get_by_role("link", name="Back to the refill board").first.is_visible()
    first_slot = page.locator("a.slot").first
    slot_at = datetime.fromisoformat(first_slot.get_attribute("data-slot"))
    assert slot_at <= pump.refill_due_at  # the latest safe slot, not after the due time
    first_slot.click()
    local = slot_at.astimezone(zone)
    assert page.get_by_label("Date", exact=True).input_value() == f"{local:%Y-%m-%d}"
    assert page.get_by_label("Time", exact=True).input_value() == f"{local:%H:%M}"
    # The stylesheet is applied to the new pages.
    assert page.locator(".schedule-layout").evaluate("e => getComputedStyle(e).display") == "grid"
    screenshot("schedule")

    page.get_by_role("button", name="Book refill").click()
    page.wait_for_selector("h1:has-text('Refill board')")
    assert "Refill booked for" in page.locator(".messages").inner_text()
    visit = RefillVisit.objects.get(pump=pump, status=VisitStatus.BOOKED)
    assert visit.scheduled_at == slot_at and visit.booked_by.username == "nurse"
    row = page.locator(f"tr[data-pump='{pump.pk}']")
    next_booked = row.locator("td").nth(3).inner_text()  # "Next booked refill" column
    assert f"{local:%-d %b %Y, %H:%M}" in next_booked

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar").click()
    page.wait_for_selector("h1:has-text('Refill calendar')")
    page.goto(f"{live_server.url}/calendar/?week={local:%Y-%m-%d}")
    day = page.locator(f"li.cal-day[data-date='{local:%Y-%m-%d}']")
    entry = day.locator(f"li.cal-visit[data-visit='{visit.pk}']")
    text = entry.inner_text()
    assert f"{local:%H:%M}" in text and f"{patient.family_name}, {patient.given_name}" in text
    assert entry.get_by_role("link", name="Reschedule").is_visible()
    screenshot("calendar")
