"""The clinic calendar: week and month grids, visits placed on their clinic-local day, status in
words, navigation, today marker and access."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from refills import calendar as cal
from refills.models import RefillVisit, VisitStatus
from refills.services import refill_schedule
from tests.refills.test_schedule_pages import NOW, fixed_names, make_pump

NY = ZoneInfo("America/New_York")


def day_html(html, iso):
    """The markup of one calendar day (up to the next day)."""
    return html.split(f'data-date="{iso}"', 1)[1].split('data-date="', 1)[0]


# --- Pure grid arithmetic --------------------------------------------------------------------


def test_week_starts_on_monday_and_bad_input_falls_back_to_today():
    today = date(2025, 3, 12)
    assert cal.week_start(date(2025, 3, 16)) == date(2025, 3, 10)
    assert cal.parse_week("2025-03-16", today) == date(2025, 3, 10)
    assert cal.parse_week("2025-13-40", today) == date(2025, 3, 10)
    assert cal.parse_week(None, today) == date(2025, 3, 10)
    assert cal.week_days(date(2025, 3, 10))[-1] == date(2025, 3, 16)


def test_month_grid_covers_whole_weeks():
    weeks = cal.month_weeks(date(2025, 3, 1))
    assert weeks[0][0] == date(2025, 2, 24) and weeks[-1][-1] == date(2025, 4, 6)
    assert all(len(w) == 7 and w[0].weekday() == 0 for w in weeks)
    assert cal.parse_month("2025-3", date(2024, 1, 5)) == date(2025, 3, 1)
    assert cal.parse_month("nope", date(2024, 1, 5)) == date(2024, 1, 1)
    assert cal.shift_month(date(2025, 12, 1), 1) == date(2026, 1, 1)
    assert cal.shift_month(date(2025, 1, 1), -1) == date(2024, 12, 1)


def test_entries_land_on_their_local_day_in_time_order():
    class V:
        def __init__(self, pk):
            self.pk = pk

    late = cal.Entry(local_start=datetime(2025, 3, 11, 22, tzinfo=NY), visit=V(1))
    early = cal.Entry(local_start=datetime(2025, 3, 11, 9, tzinfo=NY), visit=V(2))
    days = cal.place(cal.week_days(date(2025, 3, 10)), [late, early], today=date(2025, 3, 10))
    assert [e.visit.pk for e in days[1].entries] == [2, 1]
    assert days[0].is_today and not days[1].is_today
    assert sum(len(d.entries) for d in days) == 2


# --- The page --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def visits(world):
    """This week (10–16 March 2025): a booked visit on time, one after the due date, a cancelled
    and a completed one; and a clinic B visit that clinic A must not see."""
    fixed_names(world)
    p1 = make_pump(world, world.patient_a1, "NGP1", due=datetime(2025, 3, 12, 12, tzinfo=UTC))
    p2 = make_pump(world, world.patient_a2, "NGP2", due=datetime(2025, 3, 20, tzinfo=UTC))
    pb = make_pump(world, world.patient_b1, "NGPB", due=datetime(2025, 3, 20, tzinfo=UTC))
    # 02:00 UTC on the 12th is 22:00 EDT on Tuesday the 11th: it belongs on Tuesday.
    on_time = refill_schedule(
        actor=world.nurse, pump=p2, scheduled_at=datetime(2025, 3, 12, 2, tzinfo=UTC)
    )
    late = refill_schedule(
        actor=world.nurse,
        pump=p1,
        scheduled_at=datetime(2025, 3, 13, 14, tzinfo=UTC),  # Thu 10:00 EDT, after due
        late_reason="Transport",
    )
    cancelled = RefillVisit.objects.create(
        pump=p1,
        scheduled_at=datetime(2025, 3, 10, 14, tzinfo=UTC),
        booked_by=world.nurse,
        booked_at=NOW,
        status=VisitStatus.CANCELLED,
        cancelled_at=NOW,
        cancelled_by=world.nurse,
    )
    completed = RefillVisit.objects.create(
        pump=p2,
        scheduled_at=datetime(2025, 3, 10, 13, 30, tzinfo=UTC),
        booked_by=world.nurse,
        booked_at=NOW - timedelta(days=3),
        status=VisitStatus.COMPLETED,
        completed_at=NOW,
        completed_by=world.nurse,
    )
    other = refill_schedule(
        actor=world.clinician_b, pump=pb, scheduled_at=datetime(2025, 3, 12, 15, tzinfo=UTC)
    )
    return {
        "on_time": on_time,
        "late": late,
        "cancelled": cancelled,
        "completed": completed,
        "other": other,
    }


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("clinician", 200),
        ("nurse", 200),
        ("clinician_b", 200),
        ("caregiver_a", 404),
        ("integrator", 404),
        ("stranger", 404),
    ],
)
def test_calendar_access(client, world, who, status):
    client.force_login(getattr(world, who))
    assert client.get(reverse("refills:calendar")).status_code == status


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(reverse("refills:calendar"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_week_view_shows_this_weeks_visits(client, world, visits):
    client.force_login(world.nurse)
    html = client.get(reverse("refills:calendar")).content.decode()
    a1, a2 = world.patient_a1, world.patient_a2
    tuesday = day_html(html, "2025-03-11")
    assert "22:00" in tuesday and f"{a2.family_name}, {a2.given_name}" in tuesday
    assert "After the due date" not in tuesday
    assert reverse("refills:reschedule", args=[visits["on_time"].pk]) in tuesday
    assert reverse("refills:cancel", args=[visits["on_time"].pk]) in tuesday
    thursday = day_html(html, "2025-03-13")
    assert "10:00" in thursday and f"{a1.family_name}, {a1.given_name}" in thursday
    assert "After the due date" in thursday
    monday = day_html(html, "2025-03-10")
    assert "Cancelled" in monday and "Completed" in monday
    assert "cal-visit--cancelled" in monday and "cal-visit--completed" in monday
    # Only booked visits can be moved or cancelled.
    assert reverse("refills:cancel", args=[visits["cancelled"].pk]) not in html
    assert reverse("refills:reschedule", args=[visits["completed"].pk]) not in html
    assert 'aria-current="date"' in monday and "Today" in monday
    assert 'aria-current="date"' not in tuesday
    # Clinic B's visit is not shown to clinic A.
    assert "Kessler" not in html
    assert f'data-visit="{visits["other"].pk}"' not in html


def test_week_navigation_and_empty_state(client, world, visits):
    client.force_login(world.nurse)
    url = reverse("refills:calendar")
    html = client.get(url).content.decode()
    assert f'href="{url}?week=2025-03-03"' in html and f'href="{url}?week=2025-03-17"' in html
    assert "Week of 10 March 2025" in html
    html = client.get(url, {"week": "2025-03-19"}).content.decode()  # any day of the week
    assert "Week of 17 March 2025" in html
    assert "No refill visits this week." in html
    assert 'data-date="2025-03-17"' in html and 'data-date="2025-03-23"' in html
    assert "No refill visits this week." not in client.get(url).content.decode()


def test_month_view(client, world, visits):
    client.force_login(world.nurse)
    url = reverse("refills:calendar")
    html = client.get(url, {"view": "month", "month": "2025-03"}).content.decode()
    assert "March 2025" in html
    assert f'href="{url}?view=month&amp;month=2025-02"' in html
    assert f'href="{url}?view=month&amp;month=2025-04"' in html
    assert 'data-date="2025-02-24"' in html and 'data-date="2025-04-06"' in html
    assert "After the due date" in day_html(html, "2025-03-13")
    assert world.patient_a2.family_name in day_html(html, "2025-03-11")
    assert "cal-day--outside" in html.split('data-date="2025-02-24"')[0].rsplit("<li", 1)[1]
    empty = client.get(url, {"view": "month", "month": "2025-05"}).content.decode()
    assert "No refill visits this month." in empty


def test_calendar_follows_the_clinic_time_zone_across_dst(client, world):
    # Clinic B is in America/Chicago. Clocks went forward on 9 March: 09:00 CDT is 14:00 UTC.
    pump = make_pump(world, world.patient_b1, "NGPB", due=datetime(2025, 3, 20, tzinfo=UTC))
    refill_schedule(
        actor=world.clinician_b, pump=pump, scheduled_at=datetime(2025, 3, 11, 14, tzinfo=UTC)
    )
    client.force_login(world.clinician_b)
    html = client.get(reverse("refills:calendar")).content.decode()
    assert "09:00" in day_html(html, "2025-03-11")
    assert timezone.now() == NOW
