"""Times render in the patient's zone, whatever the server's zone."""

from datetime import UTC, datetime, timedelta

from django.template import Context, Template

from refills.templatetags.clinic_time import time_left


def render(value, zone):
    return Template('{% load clinic_time %}{{ v|in_zone:z|date:"Y-m-d H:i T" }}').render(
        Context({"v": value, "z": zone})
    )


def test_in_zone_survives_the_date_filter(settings):
    moment = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
    assert render(moment, "America/Chicago") == "2026-07-01 09:00 CDT"
    assert render(moment, "Europe/London") == "2026-07-01 15:00 BST"
    assert render(moment, "America/New_York") == "2026-07-01 10:00 EDT"


def test_time_left_words():
    assert time_left(timedelta(days=3, hours=5)) == "in 3 days"
    assert time_left(timedelta(hours=5)) == "in 5 hours"
    assert time_left(timedelta(days=-2, hours=3)) == "1 day overdue"
    assert time_left(timedelta(minutes=20)) == "due now"
    assert time_left(None) == "—"
