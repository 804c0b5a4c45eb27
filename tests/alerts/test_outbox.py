"""The outbox in one process: claiming, sending, retrying, requeueing, and the emails' words.
(The same with a real worker and a real SMTP server is in test_faults.py.)"""

import smtplib
import socket
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.test import override_settings
from django.utils import timezone

from alerts import outbox
from alerts.emails import build_message, read_ack_token
from alerts.models import Alert, AlertKind, Audience, Delivery, DeliveryStatus
from alerts.sweep import run_sweep
from tests.alerts.conftest import ALARM_AT, EMPTY_AT

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SMTP_DOWN = {
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "127.0.0.1",
    "EMAIL_TIMEOUT": 2,
}


@pytest.fixture
def low_alert(filled_pump, clock, world) -> Alert:
    clock.move_to(ALARM_AT)
    run_sweep()
    return Alert.objects.get(kind=AlertKind.RESERVOIR_LOW)


def test_a_delivery_is_sent_once_and_marked_sent(low_alert, clock):
    delivery = Delivery.objects.get(alert=low_alert, audience=Audience.STAFF)
    assert outbox.send_delivery(delivery.pk) == "sent"
    assert outbox.send_delivery(delivery.pk) == "skipped"  # already sent: the CAS fails
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)
    assert delivery.sent_at is not None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [delivery.to_email]


def test_only_one_claim_wins(low_alert, clock):
    delivery = Delivery.objects.filter(alert=low_alert).first()
    assert delivery is not None
    now = delivery.next_attempt_at
    assert outbox.claim(delivery.pk, now=now)
    assert not outbox.claim(delivery.pk, now=now)


def test_a_refused_connection_is_retried_later_with_the_error_kept(low_alert, clock):
    delivery = Delivery.objects.get(alert=low_alert, audience=Audience.STAFF)
    with override_settings(**SMTP_DOWN, EMAIL_PORT=closed_port()):
        assert outbox.send_delivery(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.QUEUED
    assert delivery.attempts == 1
    assert "Connection refused" in delivery.last_error or "Errno" in delivery.last_error
    base = timedelta(seconds=60)
    assert delivery.next_attempt_at == ALARM_AT + base
    # Not due yet: nothing happens.
    assert outbox.send_delivery(delivery.pk) == "skipped"
    clock.move_to(ALARM_AT + base)
    with override_settings(**SMTP_DOWN, EMAIL_PORT=closed_port()):
        assert outbox.send_delivery(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == ALARM_AT + base + 2 * base  # the delay doubles
    clock.move_to(delivery.next_attempt_at)
    assert outbox.send_delivery(delivery.pk) == "sent"  # the server is back (locmem)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        DeliveryStatus.SENT,
        3,
        "",
    )


def test_after_the_last_attempt_a_delivery_is_failed(low_alert, clock, settings):
    settings.ITB_ALERT_DELIVERY = {**settings.ITB_ALERT_DELIVERY, "max_attempts": 2}
    delivery = Delivery.objects.get(alert=low_alert, audience=Audience.STAFF)
    with override_settings(**SMTP_DOWN, EMAIL_PORT=closed_port()):
        assert outbox.send_delivery(delivery.pk) == "retry"
        delivery.refresh_from_db()
        clock.move_to(delivery.next_attempt_at)
        assert outbox.send_delivery(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error


def test_retry_delays_double_up_to_the_maximum():
    assert [outbox.retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 5, 6, 7, 10)] == [
        60,
        120,
        240,
        480,
        960,
        1800,
        1800,
        1800,
    ]


def test_a_delivery_stuck_in_sending_is_requeued_after_its_lease(low_alert, clock):
    delivery = Delivery.objects.filter(alert=low_alert).first()
    assert delivery is not None
    assert outbox.claim(delivery.pk, now=ALARM_AT)  # a worker claims it, then dies
    clock.move_to(ALARM_AT + timedelta(seconds=119))
    assert outbox.requeue_stuck() == 0
    clock.move_to(ALARM_AT + timedelta(seconds=121))
    assert outbox.requeue_stuck() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.QUEUED
    assert outbox.send_delivery(delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert delivery.attempts == 2


def test_dispatch_enqueues_each_due_delivery_once_until_the_task_is_presumed_lost(low_alert, clock):
    queued = set(Delivery.objects.values_list("pk", flat=True))
    assert set(outbox.due_for_enqueue()) == queued
    assert outbox.due_for_enqueue() == []  # their tasks are on the broker
    clock.move_to(ALARM_AT + timedelta(seconds=61))
    # No worker took them (the broker lost the tasks): put them on the broker again.
    assert set(outbox.due_for_enqueue()) == queued


def test_queued_deliveries_of_a_resolved_alert_are_not_sent(filled_pump, clock, world):
    from refills.services import refill_schedule
    from tests.alerts.conftest import DUE_AT

    clock.move_to(DUE_AT - timedelta(days=10))
    run_sweep()
    delivery = Delivery.objects.get()
    refill_schedule(actor=world.nurse, pump=filled_pump, scheduled_at=DUE_AT - timedelta(days=1))
    run_sweep()
    assert outbox.send_delivery(delivery.pk) == "skipped"
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.CANCELLED
    assert mail.outbox == []


# --- the emails ------------------------------------------------------------------------------


def test_caregiver_email_in_plain_words_with_no_clinical_subject(filled_pump, clock, world):
    world.clinic_a.phone = "+1 555 0100"
    world.clinic_a.after_hours_phone = "+1 555 0199"
    world.clinic_a.save()
    clock.move_to(EMPTY_AT - timedelta(hours=2))
    run_sweep()
    delivery = Delivery.objects.get(
        alert__kind=AlertKind.RESERVOIR_EMPTY_SOON, audience=Audience.CAREGIVER
    )
    message = build_message(delivery)
    patient = filled_pump.patient
    assert message.subject == "Urgent message from Clinic A: please read now"
    for word in (patient.given_name, patient.family_name, "baclofen", "pump", "empty"):
        assert word.lower() not in message.subject.lower()
    body = message.body
    assert patient.given_name in body
    assert "Call the clinic now" in body
    assert "+1 555 0100" in body and "+1 555 0199" in body
    assert "two-tone alarm" in body
    assert "itching" in body  # an early withdrawal sign
    assert "slow or shallow breathing" in body  # an overdose sign
    # Dates in the clinic's zone (New York): empty at 20:00 UTC = 15:00 EST.
    assert "Friday 4 December 2026, 15:00 EST" in body
    html = message.alternatives[0][0]
    assert "<h2" in html and "Call the clinic now" in html


def test_staff_email_has_the_facts_and_a_working_acknowledge_link(low_alert, clock, world):
    delivery = Delivery.objects.get(alert=low_alert, audience=Audience.STAFF)
    message = build_message(delivery)
    assert message.subject == f"Clinic A: high alert #{low_alert.pk} needs attention"
    assert "Atwood" not in message.subject
    assert "Atwood, Alma (MRN A1)" in message.body
    assert f"/alerts/{low_alert.pk}/" in message.body
    link = next(line for line in message.body.splitlines() if "/alerts/ack/" in line)
    token = link.rsplit("/alerts/ack/", 1)[1].strip("/")
    assert read_ack_token(token) == (low_alert.pk, world.nurse.pk)
    assert message.extra_headers["Message-ID"] == f"<alert-delivery-{delivery.pk}@itb.invalid>"


def test_acknowledge_tokens_expire_and_cannot_be_forged(low_alert, clock, world, settings):
    from alerts.emails import ack_token

    token = ack_token(alert_id=low_alert.pk, user_id=world.nurse.pk)
    with pytest.raises(signing.BadSignature):
        read_ack_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    clock.move_to(ALARM_AT + timedelta(hours=settings.ITB_ALERT_ACK_LINK_HOURS, seconds=1))
    with pytest.raises(signing.SignatureExpired):
        read_ack_token(token)


def test_staff_email_times_are_in_the_clinic_zone(low_alert, clock):
    delivery = Delivery.objects.get(alert=low_alert, audience=Audience.STAFF)
    body = build_message(delivery).body
    # Raised at the alarm, 1 Dec 12:00 UTC = 07:00 in New York.
    assert "Raised: Tuesday 1 December 2026, 07:00 EST" in body
    assert "Low-reservoir alarm expected: Tuesday 1 December 2026, 07:00 EST" in body


def test_a_delivery_that_kills_its_worker_every_time_ends_failed(low_alert, clock, settings):
    settings.ITB_ALERT_DELIVERY = {**settings.ITB_ALERT_DELIVERY, "max_attempts": 2}
    delivery = Delivery.objects.filter(alert=low_alert).first()
    assert delivery is not None
    for attempt in (1, 2):
        assert outbox.claim(delivery.pk, now=timezone.now())  # the worker dies mid-send
        clock.shift(timedelta(seconds=121))
        outbox.requeue_stuck()
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
    assert delivery.status == DeliveryStatus.FAILED
    assert "stopped before finishing" in delivery.last_error


def test_a_permanent_refusal_is_not_retried():
    assert outbox.is_permanent(
        smtplib.SMTPRecipientsRefused({"a@example.invalid": (550, b"No such user")})
    )
    assert not outbox.is_permanent(
        smtplib.SMTPRecipientsRefused({"a@example.invalid": (451, b"Try again later")})
    )
    assert outbox.is_permanent(smtplib.SMTPDataError(554, b"Rejected"))
    assert not outbox.is_permanent(smtplib.SMTPServerDisconnected("gone"))
    assert not outbox.is_permanent(ConnectionRefusedError(111, "Connection refused"))
