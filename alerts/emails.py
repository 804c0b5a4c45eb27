"""The alert emails: plain words for caregivers, the facts and a link for staff. Subjects
name the clinic and nothing clinical (a subject line shows on lock screens and in shared
inboxes)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from alerts.kinds import KINDS
from alerts.models import Alert, Audience, Delivery, Severity

ACK_SALT = "alerts.acknowledge"


def ack_token(*, alert_id: int, user_id: int) -> str:
    """A signed, timestamped token naming the alert and the person it was sent to."""
    return signing.TimestampSigner(salt=ACK_SALT).sign_object({"a": alert_id, "u": user_id})


def read_ack_token(token: str) -> tuple[int, int]:
    """(alert id, user id) of a valid token. Raises ``signing.BadSignature`` (or its subclass
    ``SignatureExpired``) otherwise."""
    max_age = int(settings.ITB_ALERT_ACK_LINK_HOURS) * 3600
    data = signing.TimestampSigner(salt=ACK_SALT).unsign_object(token, max_age=max_age)
    return int(data["a"]), int(data["u"])


def absolute(path: str) -> str:
    return str(settings.ITB_BASE_URL).rstrip("/") + path


def subject_for(delivery: Delivery) -> str:
    alert = delivery.alert
    clinic = alert.clinic.name
    if delivery.audience == Audience.CAREGIVER:
        if alert.severity == Severity.CRITICAL:
            return f"Urgent message from {clinic}: please read now"
        return f"A message from {clinic}"
    label = alert.get_severity_display().lower()
    repeat = " (reminder)" if delivery.stage > 0 else ""
    return f"{clinic}: {label} alert #{alert.pk} needs attention{repeat}"


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%A %-d %B %Y, %H:%M %Z")


def context_for(delivery: Delivery) -> dict[str, object]:
    alert: Alert = delivery.alert
    pump = alert.pump
    zone = ZoneInfo(alert.patient.effective_time_zone)
    spec = KINDS[alert.kind]
    visit = alert.visit
    dates = [
        ("Refill due by", _local(pump.refill_due_at, zone)),
        ("Low-reservoir alarm expected", _local(pump.projected_alarm_at, zone)),
        ("Reservoir empty (projected)", _local(pump.projected_empty_at, zone)),
        ("Booked refill", _local(visit.scheduled_at, zone) if visit is not None else ""),
        ("Drug stability limit", _local(pump.stability_limit_at, zone)),
        (
            "Pump must be replaced by",
            pump.replace_by_on.strftime("%A %-d %B %Y") if pump.replace_by_on else "",
        ),
    ]
    if visit is None and pump.next_visit_at is not None:
        dates[3] = ("Booked refill", _local(pump.next_visit_at, zone))
    return {
        "alert": alert,
        "spec": spec,
        "delivery": delivery,
        "user": delivery.user,
        "patient": alert.patient,
        "clinic": alert.clinic,
        "pump": pump,
        "alarm_kind": pump.alarm_kind,
        "dates": [(label, value) for label, value in dates if value],
        "raised": _local(alert.raised_at, zone),
        "detail_url": absolute(reverse("alerts:detail", args=[alert.pk])),
        "ack_url": absolute(
            reverse(
                "alerts:ack_link", args=[ack_token(alert_id=alert.pk, user_id=delivery.user_id)]
            )
        ),
        "ack_hours": settings.ITB_ALERT_ACK_LINK_HOURS,
        "is_critical": alert.severity == Severity.CRITICAL,
    }


def build_message(delivery: Delivery) -> EmailMultiAlternatives:
    """The email of one delivery, HTML with a plain-text alternative. Its Message-ID is fixed
    per delivery, so a mail client can drop a copy resent after a crash."""
    context = context_for(delivery)
    base = f"alerts/email/{delivery.audience}"
    message = EmailMultiAlternatives(
        subject=subject_for(delivery),
        body=render_to_string(f"{base}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.to_email],
        headers={"Message-ID": f"<alert-delivery-{delivery.pk}@itb.invalid>"},
    )
    message.attach_alternative(render_to_string(f"{base}.html", context), "text/html")
    return message
