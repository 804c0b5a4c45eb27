"""Celery tasks of the alert pipeline. All are ``acks_late`` (settings): a task whose worker
dies is delivered again, and every task is safe to run twice."""

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from alerts import outbox
from alerts.sweep import run_sweep

logger = logging.getLogger(__name__)


@shared_task(name="alerts.sweep", acks_late=True)
def sweep() -> dict[str, int]:
    """Run one alert sweep (beat: every minute), then dispatch what it queued."""
    result = run_sweep()  # commits its own transaction
    _enqueue(dispatch, "dispatch")
    return {
        "raised": result.raised,
        "escalated": result.escalated,
        "resolved": result.resolved,
        "deliveries_queued": result.deliveries_queued,
    }


@shared_task(name="alerts.dispatch", acks_late=True)
def dispatch() -> dict[str, int]:
    """Requeue deliveries stuck in sending, and put one send task on the broker for each due
    delivery that has none (beat: every 30 s). Tasks lost with a flushed or restarted broker
    are put back here."""
    requeued = outbox.requeue_stuck()
    ids = outbox.due_for_enqueue()
    for delivery_id in ids:
        send.delay(delivery_id)
    return {"requeued": requeued, "enqueued": len(ids)}


@shared_task(name="alerts.send", acks_late=True)
def send(delivery_id: int) -> str:
    """Send one delivery (claimed by compare-and-set; a duplicate task does nothing)."""
    return outbox.send_delivery(delivery_id)


def _enqueue(task: Any, what: str) -> None:
    """Put a task on the broker; a broker that is down only delays it (beat runs the sweep and
    the dispatcher every minute), so the caller's committed work is never turned into an
    error."""
    try:
        task.delay()
    except Exception:  # the broker is down: beat's next run catches up
        logger.warning("could not enqueue the alert %s; beat will run it", what, exc_info=True)


def request_sweep() -> None:
    """Ask for a sweep now (after a write whose alert must not wait for the next minute)."""
    _enqueue(sweep, "sweep")


@worker_ready.connect
def _sweep_at_start(sender: object = None, **_kwargs: object) -> None:
    """A worker that starts sweeps at once, so nothing waits for beat's first minute."""
    request_sweep()
