"""The alert pages: who may open them, what they show, the filters, acknowledging and resolving
in the app, the signed acknowledge link of the emails, and the alerts on the refill board.

Alerts are raised the real way: a filled pump (tests/alerts/conftest.py) and the sweep run after
moving the clock."""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alerts import views as alert_views
from alerts.emails import ack_token
from alerts.models import Alert, AlertKind, AlertStatus
from alerts.sweep import run_sweep
from audit.models import AuditEntry
from pumps.models import CareRole, CareTeamMember, CatheterModel, Patient, Pump, PumpModel
from pumps.services import care_team_add, pump_implant, reservoir_fill_record
from tests.alerts.conftest import DUE_AT, EMPTY_AT, FILLED_AT
from tests.conftest import program_and_fill, pump_fill_product
from tests.factories import ClinicFactory
from tests.html import shows_word

# --- Helpers -------------------------------------------------------------------------------------


def raise_not_booked(clock) -> Alert:
    """13 days before the refill is due with nothing booked: a warning for the nurses."""
    clock.move_to(DUE_AT - timedelta(days=13))
    assert run_sweep().raised == 1
    return Alert.objects.get(kind=AlertKind.REFILL_NOT_BOOKED)


def raise_reservoir_alerts(clock) -> dict[str, Alert]:
    """An hour before the reservoir is projected empty: not booked (escalated), low, empty."""
    raise_not_booked(clock)
    clock.move_to(EMPTY_AT - timedelta(hours=1))
    run_sweep()
    return {a.kind: a for a in Alert.objects.filter(status=AlertStatus.OPEN)}


def raise_discrepancy(world, pump, clock) -> Alert:
    """A refill recorded with a flagged reconciliation: a refill-discrepancy (event) alert."""
    clock.move_to(FILLED_AT + timedelta(days=20))
    reservoir_fill_record(
        actor=world.nurse,
        pump=pump,
        filled_at=timezone.now() - timedelta(hours=1),
        volume_ml=Decimal("20"),
        concentration_mcg_per_ml=Decimal("500"),
        product=pump_fill_product("500"),
        volume_removed_ml=Decimal("15"),
        reconciliation={"reconciliation_flags": "under_delivery"},
    )
    run_sweep()
    return Alert.objects.get(kind=AlertKind.REFILL_DISCREPANCY)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def detail_url(alert: Alert) -> str:
    return reverse("alerts:detail", args=[alert.pk])


def list_rows(html: str) -> list[str]:
    if "<tbody>" not in html:
        return []
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.split("<tr ")[1:]


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- Who may open the pages ----------------------------------------------------------------------


def test_clinician_and_nurse_see_their_clinics_alerts(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    for user in (world.clinician, world.nurse):
        response = logged_in(user).get(reverse("alerts:list"))
        assert response.status_code == 200, user.username
        rows = list_rows(response.content.decode())
        assert len(rows) == 1, user.username
        row = rows[0]
        assert "Refill not booked" in row and detail_url(alert) in row
        assert "Atwood, Alma" in row and reverse("pumps:patient", args=[world.patient_a1.pk]) in row
        assert ">Warning<" in row and "badge--warning" in row
        # Raised 11 Nov 12:00 UTC: 07:00 in the clinic's zone (New York, EST).
        assert "Wed 11 Nov 2026" in row and "07:00 EST" in row
        assert "Not acknowledged" in row and "Stage 0" in row


def test_staff_of_another_clinic_see_nothing_and_get_404(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    client = logged_in(world.clinician_b)
    response = client.get(reverse("alerts:list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert list_rows(html) == [] and "Atwood" not in html
    assert "No open alerts need acknowledging." in html
    assert client.get(detail_url(alert)).status_code == 404
    # Nor can they act on it: the same 404, and nothing changes.
    assert client.post(reverse("alerts:acknowledge", args=[alert.pk])).status_code == 404
    assert client.post(reverse("alerts:resolve", args=[alert.pk]), {"reason": "x"}).status_code == (
        404
    )
    alert.refresh_from_db()
    assert alert.acknowledged_at is None and alert.status == AlertStatus.OPEN


@pytest.mark.parametrize("username", ["caregiver_a", "integrator", "stranger"])
def test_others_are_refused_the_list_and_get_404_on_an_alert(world, filled_pump, clock, username):
    alert = raise_not_booked(clock)
    client = logged_in(getattr(world, username))
    response = client.get(reverse("alerts:list"))
    assert response.status_code == 403
    html = response.content.decode()
    assert "Alerts are for clinic staff" in html and "Atwood" not in html
    # The same 404 as for an alert that does not exist.
    assert client.get(detail_url(alert)).status_code == 404
    assert client.get(reverse("alerts:detail", args=[alert.pk + 1000])).status_code == 404
    assert client.post(reverse("alerts:acknowledge", args=[alert.pk])).status_code == 404
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_caregiver_refusal_points_to_their_page(world, db):
    html = logged_in(world.caregiver_a).get(reverse("alerts:list")).content.decode()
    assert reverse("web:caregiver") in html and "by email" in html


def test_anonymous_visitors_are_sent_to_sign_in(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    client = Client()
    for url in (reverse("alerts:list"), detail_url(alert)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    response = client.post(reverse("alerts:acknowledge", args=[alert.pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


# --- The alert page ------------------------------------------------------------------------------


def test_alert_page_shows_the_facts_and_the_emails(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    response = logged_in(world.nurse).get(detail_url(alert))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 class="page-header__title">Refill not booked</h1>' in html
    assert "Severity: Warning" in html
    assert "No refill is booked, and the refill is due soon (or overdue)." in html  # KINDS
    assert "Alma Atwood" in html and "MRN A1" in html and "#NGP100001" in html
    # The refill-due time (subject, and the pump's due time now): 24 Nov 12:00 UTC = 07:00 EST.
    assert html.count("Tue 24 Nov 2026, 07:00 EST") == 2
    assert "Tue 1 Dec 2026, 07:00 EST" in html  # low-reservoir alarm
    assert "Fri 4 Dec 2026, 15:00 EST" in html  # empty
    assert "None booked" in html and reverse("refills:schedule", args=[filled_pump.pk]) in html
    assert "Stage 0: first recipients" in html
    # The next escalation, in the clinic's zone.
    escalation = alert.next_escalation_at.astimezone(ZoneInfo("America/New_York"))
    assert f"{escalation:%a %-d %b %Y, %H:%M %Z}" in html
    assert "<dt>Goes to now</dt><dd>nurses</dd>" in html
    # The emails: the nurse, at stage 0, queued.
    deliveries = html.split('id="deliveries"', 1)[1]
    assert '<th scope="row">nurse</th>' in deliveries and "nurse@example.invalid" in deliveries
    assert "Clinic staff" in deliveries and "Queued" in deliveries
    # The acknowledge form; no resolve form for a condition alert.
    assert reverse("alerts:acknowledge", args=[alert.pk]) in html
    assert reverse("alerts:resolve", args=[alert.pk]) not in html
    assert "resolves itself when its condition clears" in html
    assert "<script" not in html and "style=" not in html


def test_high_risk_patients_are_marked_in_words(world, implanted_pump, clock):
    Patient.objects.filter(pk=world.patient_a1.pk).update(history_of_withdrawal=True)
    program_and_fill(
        world, implanted_pump, filled_at=FILLED_AT, program_from=FILLED_AT - timedelta(hours=1)
    )
    clock.move_to(EMPTY_AT - timedelta(hours=1))
    run_sweep()
    alerts = Alert.objects.filter(status=AlertStatus.OPEN)
    assert alerts and all(a.high_risk for a in alerts)
    client = logged_in(world.nurse)
    rows = list_rows(client.get(reverse("alerts:list")).content.decode())
    assert rows and all("High withdrawal risk" in row for row in rows)
    assert "High withdrawal risk" in client.get(detail_url(alerts[0])).content.decode()


# --- Filters, order, pages -----------------------------------------------------------------------


def test_most_severe_first_and_the_filters(world, filled_pump, clock):
    alerts = raise_reservoir_alerts(clock)
    assert set(alerts) == {
        AlertKind.REFILL_NOT_BOOKED,
        AlertKind.REFILL_OVERDUE,
        AlertKind.RESERVOIR_LOW,
        AlertKind.RESERVOIR_EMPTY_SOON,
    }
    client = logged_in(world.nurse)

    def kinds(**params) -> list[str]:
        response = client.get(reverse("alerts:list"), params)
        assert response.status_code == 200
        return [a.kind for a in response.context["alerts"]]

    # Critical, then high (two, raised together), then warning.
    listed = kinds()
    assert listed[0] == "reservoir_empty_soon"
    assert set(listed[1:3]) == {"reservoir_low", "refill_overdue"}
    assert listed[3:] == ["refill_not_booked"]
    assert kinds(severity="critical") == ["reservoir_empty_soon"]
    assert set(kinds(severity="high")) == {"reservoir_low", "refill_overdue"}
    assert kinds(kind="refill_not_booked") == ["refill_not_booked"]
    assert kinds(q="atwood") == kinds(q="A1") == kinds(q="Alma Atwood") == kinds()
    assert kinds(q="Brightwater") == []
    # Acknowledged alerts leave the default list ("open, not acknowledged") for their own.
    client.post(reverse("alerts:acknowledge", args=[alerts[AlertKind.RESERVOIR_LOW].pk]))
    assert kinds() == ["reservoir_empty_soon", "refill_overdue", "refill_not_booked"]
    assert kinds(status="acknowledged") == ["reservoir_low"]
    assert len(kinds(status="all_open")) == 4
    assert kinds(status="resolved") == []
    # Nonsense falls back to the defaults rather than failing.
    assert kinds(status="bogus", severity="bogus") == [
        "reservoir_empty_soon",
        "refill_overdue",
        "refill_not_booked",
    ]
    # A booking clears "not booked": resolved by the sweep, shown under resolved and all.
    from refills.services import refill_schedule

    refill_schedule(
        actor=world.nurse,
        pump=filled_pump,
        scheduled_at=timezone.now() + timedelta(minutes=30),
        late_reason="Could not come earlier",
    )
    run_sweep()
    assert set(kinds(status="resolved")) == {"refill_not_booked", "refill_overdue"}
    everything = kinds(status="all")
    assert "refill_not_booked" in everything
    assert len(everything) == len(kinds(status="all_open")) + 2
    html = client.get(reverse("alerts:list"), {"status": "resolved"}).content.decode()
    assert 'badge--ok">Resolved<' in html
    empty = client.get(reverse("alerts:list"), {"q": "nobody"}).content.decode()
    assert "No alerts match these filters." in empty


def test_clinic_filter_offers_only_the_users_clinics(world, filled_pump, clock):
    raise_not_booked(clock)
    care_team_add(
        actor=world.admin, user=world.clinician, role=CareRole.CLINICIAN, clinic=world.clinic_b
    )
    clinic_c = ClinicFactory.create(name="Clinic C")  # where the clinician does not work
    client = logged_in(world.clinician)
    response = client.get(reverse("alerts:list"))
    html = response.content.decode()
    assert 'name="clinic"' in html and ">Clinic B</option>" in html
    assert "Clinic C" not in html
    assert (
        len(client.get(reverse("alerts:list"), {"clinic": world.clinic_a.pk}).context["alerts"])
        == 1
    )
    assert (
        len(client.get(reverse("alerts:list"), {"clinic": world.clinic_b.pk}).context["alerts"])
        == 0
    )
    # Another clinic's id is not a choice: ignored, the default list is shown.
    assert len(client.get(reverse("alerts:list"), {"clinic": clinic_c.pk}).context["alerts"]) == 1


def test_the_list_is_paginated(world, filled_pump, clock, monkeypatch):
    raise_reservoir_alerts(clock)
    monkeypatch.setattr(alert_views, "PAGE_SIZE", 2)
    client = logged_in(world.nurse)
    first = client.get(reverse("alerts:list"), {"status": "all_open"})
    assert len(first.context["alerts"]) == 2
    html = first.content.decode()
    assert "Page 1 of 2" in html and "4 alerts." in html
    assert "?status=all_open&amp;page=2" in html
    second = client.get(reverse("alerts:list"), {"status": "all_open", "page": 2})
    on_second = [a.kind for a in second.context["alerts"]]
    assert len(on_second) == 2 and on_second[-1] == "refill_not_booked"  # the warning comes last


# --- Acknowledge in the app ----------------------------------------------------------------------


def test_acknowledge_records_who_and_when_and_stops_escalation(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    assert alert.next_escalation_at is not None
    client = logged_in(world.nurse)
    response = client.post(
        reverse("alerts:acknowledge", args=[alert.pk]),
        {"note": " Calling the family "},
        follow=True,
    )
    assert response.redirect_chain == [(detail_url(alert), 302)]
    assert "Alert acknowledged by nurse on Wed 11 Nov 2026, 07:00 EST" in messages_of(response)[0]
    alert.refresh_from_db()
    assert alert.acknowledged_by == world.nurse
    assert alert.acknowledged_at == timezone.now()
    assert alert.acknowledged_via == "app" and alert.acknowledge_note == "Calling the family"
    assert alert.next_escalation_at is None
    assert AuditEntry.objects.filter(record_type="alerts.Alert", actor=world.nurse).exists()
    html = response.content.decode()
    assert "Acknowledged by" in html and "(nurse)" in html and "In the app" in html
    assert "Calling the family" in html and "None: acknowledged" in html
    assert reverse("alerts:acknowledge", args=[alert.pk]) not in html  # the form is gone
    # Escalation has stopped: a day later, the sweep leaves it at stage 0.
    clock.move_to(timezone.now() + timedelta(days=1))
    run_sweep()
    alert.refresh_from_db()
    assert alert.stage == 0 and alert.deliveries.count() == 1


def test_acknowledging_twice_keeps_the_first(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    logged_in(world.nurse).post(reverse("alerts:acknowledge", args=[alert.pk]), {"note": "first"})
    first_at = Alert.objects.get(pk=alert.pk).acknowledged_at
    clock.move_to(timezone.now() + timedelta(hours=1))
    response = logged_in(world.clinician).post(
        reverse("alerts:acknowledge", args=[alert.pk]), {"note": "second"}, follow=True
    )
    assert "already acknowledged by nurse" in messages_of(response)[0]
    alert.refresh_from_db()
    assert alert.acknowledged_by == world.nurse and alert.acknowledged_at == first_at
    assert alert.acknowledge_note == "first"


def test_acknowledge_and_resolve_are_post_only(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    client = logged_in(world.nurse)
    assert client.get(reverse("alerts:acknowledge", args=[alert.pk])).status_code == 405
    assert client.get(reverse("alerts:resolve", args=[alert.pk])).status_code == 405
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_app_forms_need_the_csrf_token(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.nurse)
    assert client.post(reverse("alerts:acknowledge", args=[alert.pk])).status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


# --- Resolve -------------------------------------------------------------------------------------


def test_resolve_is_refused_for_condition_alerts(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    response = logged_in(world.nurse).post(
        reverse("alerts:resolve", args=[alert.pk]), {"reason": "Phoned"}, follow=True
    )
    assert response.redirect_chain == [(detail_url(alert), 302)]
    assert "resolves itself when its condition clears" in messages_of(response)[0]
    assert 'class="message message--error"' in response.content.decode()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN and alert.resolved_at is None


def test_resolve_a_refill_discrepancy_needs_a_reason(world, filled_pump, clock):
    alert = raise_discrepancy(world, filled_pump, clock)
    assert alert.is_event
    client = logged_in(world.clinician)
    page = client.get(detail_url(alert)).content.decode()
    assert reverse("alerts:resolve", args=[alert.pk]) in page and "Refill discrepancy" in page

    for reason in ("", "   "):
        response = client.post(reverse("alerts:resolve", args=[alert.pk]), {"reason": reason})
        assert response.status_code == 200
        assert "Say what was done about it." in response.content.decode()
        alert.refresh_from_db()
        assert alert.status == AlertStatus.OPEN

    response = client.post(
        reverse("alerts:resolve", args=[alert.pk]),
        {"reason": "Volumes rechecked: the removal was mis-measured."},
        follow=True,
    )
    assert response.redirect_chain == [(detail_url(alert), 302)]
    assert messages_of(response)[0].startswith("Alert resolved by clinician")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by == world.clinician and alert.resolved_at == timezone.now()
    assert alert.resolution == "Volumes rechecked: the removal was mis-measured."
    assert alert.acknowledged_by == world.clinician  # resolving acknowledges too
    html = response.content.decode()
    assert "Volumes rechecked" in html and "(clinician)" in html
    assert reverse("alerts:resolve", args=[alert.pk]) not in html
    # Resolving again is refused with a message.
    again = client.post(reverse("alerts:resolve", args=[alert.pk]), {"reason": "x"}, follow=True)
    assert "already resolved" in messages_of(again)[0]


# --- The signed acknowledge link -----------------------------------------------------------------


def link(alert: Alert, user) -> str:
    return reverse("alerts:ack_link", args=[ack_token(alert_id=alert.pk, user_id=user.pk)])


def test_ack_link_get_shows_the_alert_without_the_patient_and_does_not_acknowledge(
    world, filled_pump, clock
):
    alert = raise_not_booked(clock)
    response = Client().get(link(alert, world.nurse))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Refill not booked" in html and "Warning" in html and "Clinic A" in html
    assert "Atwood" not in html and "Alma" not in html and not shows_word(html, "A1")
    assert "NGP100001" not in html
    assert 'method="post"' in html and "csrfmiddlewaretoken" in html and ">Acknowledge<" in html
    assert "no-cache" in response["Cache-Control"]
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_ack_link_post_acknowledges_as_the_recipient(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    client = Client(enforce_csrf_checks=True)
    url = link(alert, world.nurse)
    client.get(url)  # sets the CSRF cookie, as the browser does
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Thank you" in html and "acknowledged" in html
    assert '<strong class="ack-by">nurse</strong>' in html
    assert "Wed 11 Nov 2026, 07:00 EST" in html and "Atwood" not in html
    alert.refresh_from_db()
    assert alert.acknowledged_by == world.nurse and alert.acknowledged_via == "email link"
    assert alert.next_escalation_at is None
    # Again: already acknowledged, the first stays.
    again = client.post(url, {"csrfmiddlewaretoken": token})
    assert again.status_code == 200 and "already acknowledged" in again.content.decode()
    # And the GET page now says so, without a button.
    page = client.get(url).content.decode()
    assert "Already acknowledged by" in page and ">Acknowledge<" not in page


def test_ack_link_without_csrf_token_is_refused(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    client = Client(enforce_csrf_checks=True)
    response = client.post(link(alert, world.nurse))
    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_expired_ack_link_is_refused(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    url = link(alert, world.nurse)
    clock.move_to(timezone.now() + timedelta(hours=settings.ITB_ALERT_ACK_LINK_HOURS, minutes=1))
    for response in (Client().get(url), Client().post(url)):
        assert response.status_code == 400
        assert "This link has expired or is not valid; sign in to acknowledge the alert" in (
            response.content.decode()
        )
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_link_just_inside_its_lifetime_still_works(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    url = link(alert, world.nurse)
    clock.move_to(timezone.now() + timedelta(hours=settings.ITB_ALERT_ACK_LINK_HOURS - 1))
    assert Client().post(url).status_code == 200
    alert.refresh_from_db()
    assert alert.acknowledged_by == world.nurse


def test_tampered_ack_link_is_refused(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    token = ack_token(alert_id=alert.pk, user_id=world.nurse.pk)
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    for bad in (tampered, "not-a-token", token.replace(":", "x", 1)):
        url = reverse("alerts:ack_link", args=[bad])
        response = Client().post(url)
        assert response.status_code == 400, bad
        assert "expired or is not valid" in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_ack_link_of_someone_who_left_the_care_team_is_refused(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    url = link(alert, world.nurse)
    CareTeamMember.objects.filter(user=world.nurse, clinic=world.clinic_a).delete()
    for response in (Client().get(url), Client().post(url)):
        assert response.status_code == 400
        assert "Refill not booked" not in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_ack_link_of_an_inactive_user_or_a_caregiver_is_refused(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    # A caregiver's token (caregivers get emails too) cannot acknowledge: they do not handle
    # alerts.
    assert Client().post(link(alert, world.caregiver_a)).status_code == 400
    world.nurse.is_active = False
    world.nurse.save()
    assert Client().post(link(alert, world.nurse)).status_code == 400
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


# --- Menu and board ------------------------------------------------------------------------------


def test_menu_counts_open_unacknowledged_alerts(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    client = logged_in(world.nurse)
    nav = client.get(reverse("home")).content.decode().split('aria-label="Main"', 1)[1]
    assert f'href="{reverse("alerts:list")}">Alerts (1)</a>' in nav
    client.post(reverse("alerts:acknowledge", args=[alert.pk]))
    nav = client.get(reverse("home")).content.decode().split('aria-label="Main"', 1)[1]
    assert f'href="{reverse("alerts:list")}">Alerts</a>' in nav
    caregiver_nav = logged_in(world.caregiver_a).get(reverse("web:caregiver")).content.decode()
    assert "Alerts" not in caregiver_nav.split('aria-label="Main"', 1)[1].split("</nav>", 1)[0]


def test_board_shows_the_most_severe_open_alert(world, filled_pump, clock):
    alerts = raise_reservoir_alerts(clock)
    response = logged_in(world.nurse).get(reverse("home"))
    html = response.content.decode()
    row = html.split(f'data-pump="{filled_pump.pk}"', 1)[1].split("</tr>", 1)[0]
    critical = alerts[AlertKind.RESERVOIR_EMPTY_SOON]
    assert f'href="{detail_url(critical)}"' in row
    assert "Critical</span> Reservoir empty soon" in row
    assert "not acknowledged" in row and "3 more open alerts" in row
    assert "board__row--danger" in html.split(f'data-pump="{filled_pump.pk}"', 1)[0][-200:]


def test_board_without_alerts_says_none(world, filled_pump, clock):
    html = logged_in(world.nurse).get(reverse("home")).content.decode()
    row = html.split(f'data-pump="{filled_pump.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "board-alert" not in row and "On track" not in row  # not booked: a flag, no alert
    assert "No refill booked" in row


def _second_filled_pump(world) -> Pump:
    pump = pump_implant(
        actor=world.clinician,
        patient=world.patient_a2,
        pump_model=PumpModel.objects.get(model_number="8637-20"),
        serial_number="NGP100002",
        implanted_on=FILLED_AT.date() - timedelta(days=300),
        catheter_model=CatheterModel.objects.get(model_number="8709SC"),
        catheter_length_cm=Decimal("60"),
        catheter_volume_per_cm_ml=Decimal("0.0020"),
    )
    return program_and_fill(
        world, pump, filled_at=FILLED_AT, program_from=FILLED_AT - timedelta(hours=1)
    )


def test_board_queries_do_not_grow_with_pumps_or_alerts(world, filled_pump, clock):
    raise_not_booked(clock)  # moves the clock: sign in afterwards, or the session has expired
    client = logged_in(world.nurse)

    def board_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("home")).status_code == 200
        return len(ctx.captured_queries)

    client.get(reverse("home"))  # warm the session
    one = board_queries()
    _second_filled_pump(world)
    clock.move_to(EMPTY_AT - timedelta(hours=1))
    run_sweep()
    assert Alert.objects.filter(status=AlertStatus.OPEN).count() >= 5
    client.force_login(world.nurse)  # weeks later: a fresh session
    html = client.get(reverse("home")).content.decode()
    assert html.count('class="board-alert"') == 2
    assert board_queries() == one


def test_list_and_page_queries_do_not_grow_with_alerts(world, filled_pump, clock):
    alert = raise_not_booked(clock)
    client = logged_in(world.nurse)

    def queries(url: str) -> int:
        client.get(url)  # warm the session
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    list_url = reverse("alerts:list") + "?status=all"
    one, page_one = queries(list_url), queries(detail_url(alert))
    _second_filled_pump(world)
    clock.move_to(EMPTY_AT - timedelta(hours=1))
    run_sweep()
    client.force_login(world.nurse)
    assert Alert.objects.count() >= 5
    assert alert.deliveries.count() == 2  # escalated: the nurse, then the clinician on call
    assert queries(list_url) == one
    assert queries(detail_url(alert)) == page_one
