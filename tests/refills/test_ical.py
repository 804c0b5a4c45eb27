"""iCal feeds: RFC 5545 structure (CRLF, folding at 75 octets, escaping, UTC times, VALARM), what
each kind of feed shows, and that a revoked or unknown token is a 404."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError
from django.urls import reverse

from pumps.models import CareTeamMember
from refills.ical import Event, escape_text, fold, render_calendar
from refills.models import CalendarFeed, FeedKind, RefillVisit, VisitStatus
from refills.services import refill_cancel, refill_schedule
from tests.refills.test_schedule_pages import NOW, fixed_names, make_pump

# --- Rendering -------------------------------------------------------------------------------


def unfold(body):
    return body.replace("\r\n ", "")


def test_escaping_and_folding():
    assert escape_text("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"
    line = "SUMMARY:" + "Baclofen pump refill — Zoë " * 6
    folded = fold(line)
    physical = folded.split("\r\n")
    assert len(physical) > 1
    assert all(len(p.encode("utf-8")) <= 75 for p in physical)
    assert all(p.startswith(" ") for p in physical[1:])
    assert folded.replace("\r\n ", "") == line  # unfolding gives the line back, chars intact
    assert fold("SHORT:x") == "SHORT:x"


def test_calendar_structure():
    start = datetime(2025, 3, 25, 20, 30, tzinfo=UTC)
    body = render_calendar(
        name="Test",
        events=[Event(uid="u1@x", start=start, end=start + timedelta(minutes=30), summary="A, B")],
        now=datetime(2025, 3, 10, 12, tzinfo=UTC),
    )
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.endswith("END:VCALENDAR\r\n")
    assert "\n" not in body.replace("\r\n", "")  # every line ends with CRLF
    lines = body.split("\r\n")
    assert "DTSTART:20250325T203000Z" in lines and "DTEND:20250325T210000Z" in lines
    assert "DTSTAMP:20250310T120000Z" in lines and "UID:u1@x" in lines
    assert "SUMMARY:A\\, B" in lines
    alarm = body.split("BEGIN:VALARM\r\n", 1)[1].split("END:VALARM", 1)[0]
    assert "ACTION:DISPLAY\r\n" in alarm and "TRIGGER:-P1D\r\n" in alarm and "DESCRIPTION:" in alarm


# --- Feeds -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def booked(world):
    fixed_names(world)
    p1 = make_pump(world, world.patient_a1, "NGP1")
    p2 = make_pump(world, world.patient_a2, "NGP2")
    pb = make_pump(world, world.patient_b1, "NGPB")
    v1 = refill_schedule(
        actor=world.nurse, pump=p1, scheduled_at=datetime(2025, 3, 24, 14, tzinfo=UTC)
    )
    v2 = refill_schedule(
        actor=world.nurse, pump=p2, scheduled_at=datetime(2025, 3, 25, 15, tzinfo=UTC)
    )
    vb = refill_schedule(
        actor=world.clinician_b, pump=pb, scheduled_at=datetime(2025, 3, 24, 16, tzinfo=UTC)
    )
    return v1, v2, vb


def fetch(client, feed):
    return client.get(reverse("refills:ical", args=[feed.token]))


def test_tokens_are_long_random_and_url_safe(world):
    feeds = [
        CalendarFeed.objects.create(user=world.nurse, kind=FeedKind.CLINIC, clinic=world.clinic_a)
        for _ in range(3)
    ]
    tokens = {f.token for f in feeds}
    assert len(tokens) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43,}", t) for t in tokens)  # 32 bytes, base64url


def test_a_clinic_feed_needs_its_clinic(world):
    with pytest.raises(IntegrityError):
        CalendarFeed.objects.create(user=world.nurse, kind=FeedKind.CLINIC, clinic=None)


def test_clinic_feed(client, world, booked):
    v1, v2, vb = booked
    # A cancelled visit is not in the feed.
    p3 = make_pump(
        world,
        world.patient_a1.__class__.objects.create(
            clinic=world.clinic_a,
            mrn="A3",
            given_name="Ann",
            family_name="Cole",
            date_of_birth=date(1970, 1, 1),
            spasticity_origin="spinal",
        ),
        "NGP3",
    )
    gone = refill_schedule(
        actor=world.nurse, pump=p3, scheduled_at=datetime(2025, 3, 21, 14, tzinfo=UTC)
    )
    refill_cancel(actor=world.nurse, visit=gone, reason="Moved away")
    feed = CalendarFeed.objects.create(
        user=world.nurse, kind=FeedKind.CLINIC, clinic=world.clinic_a
    )
    response = fetch(client, feed)  # no sign-in: the token is the credential
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    text = unfold(body)
    assert body.count("BEGIN:VEVENT") == 2 and body.count("BEGIN:VALARM") == 2
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    a1 = world.patient_a1
    assert f"SUMMARY:ITB refill: {a1.family_name}\\, {a1.given_name} (MRN A1)" in text
    assert f"UID:refill-visit-{v1.pk}@itb-clinic" in text
    assert "DTSTART:20250324T140000Z" in text and "DTEND:20250324T143000Z" in text
    assert world.patient_b1.family_name not in text and "Cole" not in text
    # The UID stays the same when the visit moves.
    from refills.services import refill_reschedule

    refill_reschedule(
        actor=world.nurse, visit=v1, scheduled_at=datetime(2025, 3, 24, 15, tzinfo=UTC), reason="x"
    )
    text = unfold(fetch(client, feed).content.decode())
    assert f"UID:refill-visit-{v1.pk}@itb-clinic" in text and "DTSTART:20250324T150000Z" in text


def test_caregiver_feed_shows_only_their_patient_with_first_name(client, world, booked):
    v1, v2, _ = booked
    feed = CalendarFeed.objects.create(user=world.caregiver_a, kind=FeedKind.CAREGIVER)
    text = unfold(fetch(client, feed).content.decode())
    assert text.count("BEGIN:VEVENT") == 1
    assert f"SUMMARY:Baclofen pump refill — {world.patient_a1.given_name}\r\n" in text
    assert world.patient_a1.family_name not in text and "MRN" not in text
    assert world.patient_a2.given_name not in text
    assert f"UID:refill-visit-{v1.pk}@itb-clinic" in text
    # Losing the care-team place removes the patient at the next fetch.
    CareTeamMember.objects.filter(user=world.caregiver_a).delete()
    text = unfold(fetch(client, feed).content.decode())
    assert "BEGIN:VEVENT" not in text and text.startswith("BEGIN:VCALENDAR")


def test_clinic_feed_follows_the_owners_role(client, world, booked):
    feed = CalendarFeed.objects.create(
        user=world.nurse, kind=FeedKind.CLINIC, clinic=world.clinic_a
    )
    CareTeamMember.objects.filter(user=world.nurse).delete()
    assert "BEGIN:VEVENT" not in fetch(client, feed).content.decode()


def test_revoked_and_unknown_tokens_are_404(client, world, booked):
    feed = CalendarFeed.objects.create(
        user=world.nurse, kind=FeedKind.CLINIC, clinic=world.clinic_a
    )
    assert fetch(client, feed).status_code == 200
    feed.revoked_at = NOW
    feed.save()
    assert fetch(client, feed).status_code == 404
    assert client.get(reverse("refills:ical", args=["x" * 43])).status_code == 404
    assert client.get("/ical/.ics").status_code == 404


# --- Feed pages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("clinician", 200),
        ("nurse", 200),
        ("caregiver_a", 200),
        ("clinician_b", 200),
        ("integrator", 404),
        ("stranger", 404),
    ],
)
def test_feed_page_access(client, world, who, status):
    client.force_login(getattr(world, who))
    assert client.get(reverse("refills:feeds")).status_code == status


def test_anonymous_feed_page_is_sent_to_sign_in(client):
    response = client.get(reverse("refills:feeds"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_staff_create_a_feed_for_their_clinic_only(client, world):
    client.force_login(world.nurse)
    html = client.get(reverse("refills:feeds")).content.decode()
    assert f'value="clinic:{world.clinic_a.pk}"' in html
    assert f'value="clinic:{world.clinic_b.pk}"' not in html and 'value="caregiver"' not in html
    response = client.post(reverse("refills:feeds"), {"kind": f"clinic:{world.clinic_b.pk}"})
    assert response.status_code == 200 and not CalendarFeed.objects.exists()
    response = client.post(reverse("refills:feeds"), {"kind": f"clinic:{world.clinic_a.pk}"})
    assert response.status_code == 302
    feed = CalendarFeed.objects.get()
    assert (feed.user, feed.kind, feed.clinic) == (world.nurse, FeedKind.CLINIC, world.clinic_a)
    html = client.get(reverse("refills:feeds")).content.decode()
    assert f"/ical/{feed.token}.ics" in html


def test_caregiver_creates_a_caregiver_feed(client, world):
    client.force_login(world.caregiver_a)
    assert (
        client.post(reverse("refills:feeds"), {"kind": f"clinic:{world.clinic_a.pk}"}).status_code
        == 200
    )
    assert client.post(reverse("refills:feeds"), {"kind": "caregiver"}).status_code == 302
    feed = CalendarFeed.objects.get()
    assert (
        feed.kind == FeedKind.CAREGIVER and feed.clinic is None and feed.user == world.caregiver_a
    )


def test_revoke_with_confirmation(client, world):
    feed = CalendarFeed.objects.create(
        user=world.nurse, kind=FeedKind.CLINIC, clinic=world.clinic_a
    )
    url = reverse("refills:feed_revoke", args=[feed.pk])
    client.force_login(world.clinician)  # not the owner
    assert client.get(url).status_code == 404 and client.post(url).status_code == 404
    client.force_login(world.nurse)
    html = client.get(url).content.decode()
    assert "Revoke the feed" in html and "Its address stops working at once" in html
    feed.refresh_from_db()
    assert feed.revoked_at is None  # GET changes nothing
    assert client.post(url).status_code == 302
    feed.refresh_from_db()
    assert feed.revoked_at is not None
    assert fetch(client, feed).status_code == 404
    assert f"/ical/{feed.token}.ics" not in client.get(reverse("refills:feeds")).content.decode()
    assert RefillVisit.objects.filter(status=VisitStatus.BOOKED).count() == 0
