"""Showing stored UTC instants in the patient's (or clinic's) time zone, and time left."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django import template
from django.templatetags.tz import do_timezone

register = template.Library()


@register.filter
def in_zone(value: datetime | None, zone: str) -> datetime | str | None:
    """The instant in ``zone`` (an IANA name), for the date filter to format.

    Django's own ``timezone`` filter marks its result so that ``date`` does not convert it
    back to the active time zone (a plain ``astimezone`` would be undone)."""
    if value is None:
        return None
    return do_timezone(value, ZoneInfo(zone))


@register.filter
def time_left(value: timedelta | None) -> str:
    """ "in 3 days", "in 5 hours", "due now", "2 days overdue" — whole units, rounded down."""
    if value is None:
        return "—"
    seconds = value.total_seconds()
    overdue = seconds < 0
    seconds = abs(seconds)
    days, hours = int(seconds // 86400), int(seconds % 86400 // 3600)
    if days == 0 and hours == 0:
        return "due now"
    text = (
        f"{days} day{'s' if days != 1 else ''}"
        if days
        else f"{hours} hour{'s' if hours != 1 else ''}"
    )
    return f"{text} overdue" if overdue else f"in {text}"
