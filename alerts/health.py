"""``/healthz/alerts``: is the alert pipeline alive? The last sweep time and the outbox
backlog; 503 when the sweep is late or due deliveries are stuck."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from alerts.models import Delivery, DeliveryStatus, SweepState


def alerts_health(request: HttpRequest) -> JsonResponse:
    now = timezone.now()
    state = SweepState.objects.filter(id=1).first()
    lease = timedelta(seconds=int(settings.ITB_ALERT_DELIVERY["lease_seconds"]))
    backlog = Delivery.objects.filter(
        status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
    ).aggregate(
        queued=Count("id", filter=Q(status=DeliveryStatus.QUEUED)),
        due=Count("id", filter=Q(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now)),
        oldest_due=Min("next_attempt_at", filter=Q(status=DeliveryStatus.QUEUED)),
        sending=Count("id", filter=Q(status=DeliveryStatus.SENDING)),
        stuck=Count("id", filter=Q(status=DeliveryStatus.SENDING, claimed_at__lt=now - lease)),
    )
    failed_24h = Delivery.objects.filter(
        status=DeliveryStatus.FAILED, created_at__gte=now - timedelta(days=1)
    ).count()
    problems: list[str] = []
    sweep_age = (now - state.last_finished_at).total_seconds() if state else None
    if sweep_age is None:
        problems.append("no sweep has finished yet")
    elif sweep_age > settings.ITB_ALERT_SWEEP_STALE_SECONDS:
        problems.append(f"the last sweep finished {int(sweep_age)} s ago")
    oldest = backlog["oldest_due"]
    oldest_age = (now - oldest).total_seconds() if oldest and oldest <= now else 0.0
    if oldest_age > settings.ITB_ALERT_BACKLOG_STALE_SECONDS:
        problems.append(f"a due delivery has waited {int(oldest_age)} s")
    if backlog["stuck"]:
        problems.append(f"{backlog['stuck']} deliveries are stuck in sending")
    body = {
        "status": "ok" if not problems else "unhealthy",
        "problems": problems,
        "last_sweep_at": state.last_finished_at.isoformat() if state else None,
        "last_sweep_age_seconds": None if sweep_age is None else round(sweep_age, 1),
        "last_sweep_duration_ms": state.duration_ms if state else None,
        "outbox": {
            "queued": backlog["queued"],
            "due": backlog["due"],
            "oldest_due_age_seconds": round(oldest_age, 1),
            "sending": backlog["sending"],
            "stuck_sending": backlog["stuck"],
            "failed_last_24h": failed_24h,
        },
    }
    return JsonResponse(body, status=200 if not problems else 503)
