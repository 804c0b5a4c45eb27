"""Alerts in the admin: the clinic's alert policy is edited there with a reason and audited;
alerts, their emails and the sweep's state are read-only."""

from datetime import timedelta

import pytest
from django.test import Client

from alerts.models import Alert, AlertPolicy, Delivery, SweepState
from alerts.sweep import run_sweep
from audit.models import AuditAction, AuditEntry
from tests.alerts.conftest import DUE_AT


@pytest.fixture
def admin_client_(world) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


@pytest.fixture
def raised(filled_pump, clock) -> Alert:
    clock.move_to(DUE_AT - timedelta(days=13))
    run_sweep()
    return Alert.objects.get()


def policy_form(clinic, **changes):
    data = {
        "clinic": clinic.pk,
        "not_booked_lead_days": "14",
        "high_risk_not_booked_lead_days": "21",
        "reminder_lead_days": "3",
        "high_risk_reminder_lead_days": "5",
        "missed_grace_hours": "4",
        "high_risk_missed_grace_hours": "2",
        "empty_soon_hours": "72",
        "replacement_lead_days": "120",
        "stability_lead_days": "14",
        "escalation_minutes": "240",
        "high_risk_escalation_minutes": "60",
        "critical_repeat_minutes": "60",
        "change_reason": "",
    }
    data.update(changes)
    return data


def test_changelists_and_alert_page_open(admin_client_, raised, world):
    AlertPolicy.objects.create(clinic=world.clinic_a)
    assert SweepState.objects.exists() and Delivery.objects.exists()
    pages = {
        "/admin/alerts/alert/": "Refill not booked",
        "/admin/alerts/delivery/": "nurse@example.invalid",
        "/admin/alerts/alertpolicy/": "Clinic A",
        "/admin/alerts/sweepstate/": "Deliveries queued",
    }
    for url, expected in pages.items():
        response = admin_client_.get(url)
        assert response.status_code == 200, url
        assert expected in response.content.decode(), url
    # The alert's own page is a read-only view with its emails.
    page = admin_client_.get(f"/admin/alerts/alert/{raised.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "nurse@example.invalid" in html and 'name="_save"' not in html


@pytest.mark.parametrize(
    "url",
    ["/admin/alerts/alert/add/", "/admin/alerts/delivery/add/", "/admin/alerts/sweepstate/add/"],
)
def test_alerts_and_emails_cannot_be_added(admin_client_, url):
    assert admin_client_.get(url).status_code == 403


def test_alerts_cannot_be_changed_or_deleted(admin_client_, raised):
    change = f"/admin/alerts/alert/{raised.pk}/change/"
    response = admin_client_.post(change, {"status": "resolved", "resolution": "admin"})
    assert response.status_code == 403
    assert admin_client_.get(f"/admin/alerts/alert/{raised.pk}/delete/").status_code == 403
    delivery = raised.deliveries.get()
    assert admin_client_.get(f"/admin/alerts/delivery/{delivery.pk}/delete/").status_code == 403
    raised.refresh_from_db()
    assert raised.status == "open" and raised.resolution == ""


def test_policy_is_created_and_changed_with_an_audited_reason(admin_client_, world):
    response = admin_client_.post(
        "/admin/alerts/alertpolicy/add/",
        policy_form(world.clinic_a, change_reason="Clinic policy of 2026"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    policy = AlertPolicy.objects.get(clinic=world.clinic_a)
    created = AuditEntry.objects.get(record_type="alerts.AlertPolicy", action=AuditAction.CREATE)
    assert created.actor == world.admin and created.reason == "Clinic policy of 2026"

    url = f"/admin/alerts/alertpolicy/{policy.pk}/change/"
    refused = admin_client_.post(url, policy_form(world.clinic_a, escalation_minutes="120"))
    assert refused.status_code == 200
    assert "Say why this record is changed." in refused.content.decode()
    policy.refresh_from_db()
    assert policy.escalation_minutes == 240

    done = admin_client_.post(
        url,
        policy_form(world.clinic_a, escalation_minutes="120", change_reason="Faster escalation"),
    )
    assert done.status_code == 302
    policy.refresh_from_db()
    assert policy.escalation_minutes == 120
    entry = AuditEntry.objects.get(record_type="alerts.AlertPolicy", action=AuditAction.UPDATE)
    assert entry.changes == {"escalation_minutes": [240, 120]}
    assert entry.reason == "Faster escalation"
    # Policies are never deleted from the admin.
    assert admin_client_.get(f"/admin/alerts/alertpolicy/{policy.pk}/delete/").status_code == 403


def test_policy_rules_are_checked(admin_client_, world):
    response = admin_client_.post(
        "/admin/alerts/alertpolicy/add/",
        policy_form(world.clinic_a, high_risk_not_booked_lead_days="7", change_reason="x"),
    )
    assert response.status_code == 200
    assert "The high-risk lead (days) must be at least the normal one." in (
        response.content.decode()
    )
    assert not AlertPolicy.objects.exists()
