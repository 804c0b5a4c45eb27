"""Sending the outbox: claim a delivery by compare-and-set, send it outside any transaction,
record the result. Retry times live in the rows, not in the broker, so a lost task, a crashed
worker or a flushed broker only delays an email.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.emails import build_message
from alerts.models import Delivery, DeliveryStatus

logger = logging.getLogger(__name__)


def _config(name: str) -> int:
    return int(settings.ITB_ALERT_DELIVERY[name])


def retry_delay(attempts: int) -> timedelta:
    """Doubling delays from the base up to the maximum."""
    seconds = _config("retry_base_seconds") * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, _config("retry_max_seconds")))


@dataclass(frozen=True, slots=True)
class DispatchResult:
    requeued: int
    enqueued: list[int]


def requeue_stuck(*, now: datetime | None = None) -> int:
    """Put back deliveries claimed by a worker that never finished (killed mid-send): their
    lease has run out. They are sent again, which is the at-least-once half of the bargain.
    One that has used all its attempts (it kills its worker every time) is marked failed
    instead, so it cannot take the workers down for ever; its alert still escalates."""
    now = now or timezone.now()
    lease = timedelta(seconds=_config("lease_seconds"))
    stuck = Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=now - lease)
    stuck.filter(attempts__gte=_config("max_attempts")).update(
        status=DeliveryStatus.FAILED,
        last_error="The worker sending it stopped before finishing, on every attempt.",
    )
    return stuck.update(status=DeliveryStatus.QUEUED, next_attempt_at=now, enqueued_at=None)


def due_for_enqueue(*, now: datetime | None = None) -> list[int]:
    """Queued deliveries that are due and have no send task on the broker that could still be
    waiting (never enqueued, or enqueued long enough ago that the task must be lost). Marks
    them enqueued now and returns their ids; the caller puts one task each on the broker."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=_config("requeue_after_seconds"))
    with transaction.atomic():
        # Locked and skipped: two dispatchers at once (beat's and the one after a sweep) take
        # different rows instead of putting the same send on the broker twice.
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[: _config("batch")]
        )
        if ids:
            Delivery.objects.filter(pk__in=ids).update(enqueued_at=now)
    return ids


def claim(delivery_id: int, *, now: datetime) -> bool:
    """Compare-and-set queued → sending: exactly one worker wins a delivery."""
    return (
        Delivery.objects.filter(
            pk=delivery_id, status=DeliveryStatus.QUEUED, next_attempt_at__lte=now
        ).update(status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
        == 1
    )


def is_permanent(exc: Exception) -> bool:
    """A 5xx answer (no such mailbox, address refused): retrying cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def send_delivery(delivery_id: int) -> str:
    """Send one delivery if it can be claimed. Returns what happened (for logs and tests):
    ``"sent"``, ``"retry"``, ``"failed"`` or ``"skipped"`` (someone else has it, it is not due,
    or it was cancelled)."""
    now = timezone.now()
    if not claim(delivery_id, now=now):
        return "skipped"
    delivery = Delivery.objects.select_related(
        "alert",
        "alert__pump",
        "alert__pump__pump_model",
        "alert__patient",
        "alert__clinic",
        "alert__visit",
        "user",
    ).get(pk=delivery_id)
    mine = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.SENDING, claimed_at=now)
    try:
        message = build_message(delivery)
        message.send(fail_silently=False)  # network I/O: outside any transaction
    except Exception as exc:  # every failure is recorded on the row (and retried unless final)
        error = f"{type(exc).__name__}: {exc}"[:1000]
        if delivery.attempts >= _config("max_attempts") or is_permanent(exc):
            mine.update(status=DeliveryStatus.FAILED, last_error=error)
            logger.error("alert delivery %s failed for good: %s", delivery_id, error)
            return "failed"
        mine.update(
            status=DeliveryStatus.QUEUED,
            next_attempt_at=timezone.now() + retry_delay(delivery.attempts),
            enqueued_at=None,
            last_error=error,
        )
        logger.warning("alert delivery %s will be retried: %s", delivery_id, error)
        return "retry"
    mine.update(status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="")
    return "sent"
