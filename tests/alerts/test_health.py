"""/healthz/alerts: the last sweep and the outbox backlog; 503 when either is stale."""

from datetime import timedelta

import pytest

from alerts import outbox
from alerts.models import Delivery
from alerts.sweep import run_sweep
from tests.alerts.conftest import ALARM_AT

pytestmark = pytest.mark.django_db


def health(client):
    response = client.get("/healthz/alerts")
    return response.status_code, response.json()


def test_unhealthy_before_any_sweep(client):
    status, body = health(client)
    assert status == 503
    assert body["problems"] == ["no sweep has finished yet"]


def test_healthy_after_a_sweep_and_unhealthy_when_the_sweep_is_late(client, filled_pump, clock):
    run_sweep()
    status, body = health(client)
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["last_sweep_age_seconds"] == 0
    clock.shift(timedelta(seconds=181))
    status, body = health(client)
    assert status == 503
    assert body["problems"] == ["the last sweep finished 181 s ago"]


def test_reports_the_backlog_and_fails_on_old_or_stuck_deliveries(client, filled_pump, clock):
    clock.move_to(ALARM_AT)
    run_sweep()
    queued = Delivery.objects.count()
    status, body = health(client)
    assert status == 200
    assert body["outbox"]["queued"] == queued
    assert body["outbox"]["due"] == queued

    clock.shift(timedelta(seconds=601))
    run_sweep()  # the sweep is fresh; the deliveries are not
    status, body = health(client)
    assert status == 503
    assert body["problems"] == ["a due delivery has waited 601 s"]

    for delivery in Delivery.objects.all():
        outbox.claim(delivery.pk, now=ALARM_AT + timedelta(seconds=601))
    clock.shift(timedelta(seconds=121))
    run_sweep()
    status, body = health(client)
    assert status == 503
    assert body["outbox"]["stuck_sending"] == queued
    assert body["problems"] == [f"{queued} deliveries are stuck in sending"]
