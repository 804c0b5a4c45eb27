"""Alert pages: the list, an alert's page with its acknowledge and resolve forms, and the signed
acknowledge link from the emails.

Access: every alert comes from ``alerts.selectors.alerts_visible_to``. The list is for the
clinicians and nurses who handle alerts (``can_handle_alerts``); anyone else signed in gets a
403 page that says so (the same page whoever they are, so it reveals nothing). An alert's page
and its forms answer 404 for any alert the user may not see, so they never confirm that it
exists. Every change goes through ``alerts.services``, which checks access again, locks and
audits.

The acknowledge link needs no sign-in (it comes from an email): GET only shows what will be
acknowledged (kind, severity and clinic, never the patient, because links get forwarded), and
only a POST acknowledges (mail scanners prefetch links).
"""

from datetime import datetime
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alerts.emails import read_ack_token
from alerts.forms import AcknowledgeForm, AlertFilterForm, ResolveForm
from alerts.kinds import KINDS, group_names
from alerts.models import SEVERITY_RANK, Alert, AlertKind, AlertStatus
from alerts.selectors import alert_clinic_ids, alerts_visible_to, can_handle_alerts
from alerts.services import alert_acknowledge, alert_resolve
from audit.access import note_patient_read
from pumps.models import Clinic

PAGE_SIZE = 50
VIA_APP = "app"
VIA_EMAIL_LINK = "email link"

SEVERITY_ORDER = Case(
    *[When(severity=severity, then=Value(rank)) for severity, rank in SEVERITY_RANK.items()],
    default=Value(-1),
    output_field=IntegerField(),
)


# What ``Alert.subject_at`` is, by kind (the time when the alert was raised).
SUBJECT_LABELS: dict[str, str] = {
    AlertKind.REFILL_NOT_BOOKED: "Refill due",
    AlertKind.REFILL_OVERDUE: "Refill was due",
    AlertKind.REFILL_BOOKED_LATE: "Booked refill",
    AlertKind.REFILL_BOOKED_AFTER_ALARM: "Booked refill",
    AlertKind.REFILL_REMINDER: "Booked refill",
    AlertKind.MISSED_REFILL: "Booked refill that was missed",
    AlertKind.RESERVOIR_LOW: "Low-reservoir alarm (projected)",
    AlertKind.RESERVOIR_EMPTY_SOON: "Reservoir empty (projected)",
    AlertKind.DEVICE_REPLACEMENT: "Pump must be replaced by",
    AlertKind.STABILITY_LIMIT: "Drug stability limit",
    AlertKind.REFILL_DISCREPANCY: "Refill with the discrepancy",
    AlertKind.PROJECTION_FAILED: "Projection last tried",
}


def local_text(moment: datetime | None, zone: str) -> str:
    """An instant as clinic-local text for messages (templates use the ``in_zone`` filter)."""
    if moment is None:
        return ""
    return f"{moment.astimezone(ZoneInfo(zone)):%a %-d %b %Y, %H:%M %Z}"


def staff_only(view: Any) -> Any:
    """Signed-in clinicians and nurses only; everyone else signed in gets the 403 page."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_handle_alerts(request.user):
            return render(request, "alerts/staff_only.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped


# --- List ----------------------------------------------------------------------------------------


@require_GET
@staff_only
def alert_list(request: HttpRequest) -> HttpResponse:
    clinics: QuerySet[Clinic] = Clinic.objects.filter(
        pk__in=alert_clinic_ids(request.user)
    ).order_by("name")
    form = AlertFilterForm(request.GET or None, clinics=clinics)
    alerts = (
        form.apply(alerts_visible_to(request.user))
        .annotate(severity_rank=SEVERITY_ORDER)
        .order_by("-severity_rank", "-raised_at", "-pk")
    )
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    note_patient_read(request, [alert.patient_id for alert in page.object_list], "alert list")
    clinic_list = list(clinics)
    return render(
        request,
        "alerts/list.html",
        {
            "form": form,
            "filters": form.values(),
            "is_filtered": form.is_filtered,
            "page_obj": page,
            "alerts": page.object_list,
            "show_clinic_filter": len(clinic_list) > 1,
            "show_clinic": len(clinic_list) > 1,
        },
    )


# --- Detail, acknowledge, resolve --------------------------------------------------------------


def _visible_alert(request: HttpRequest, pk: int) -> Alert:
    return get_object_or_404(
        alerts_visible_to(request.user).select_related("resolved_by", "visit"), pk=pk
    )


def _detail_response(
    request: HttpRequest,
    alert: Alert,
    *,
    acknowledge_form: AcknowledgeForm | None = None,
    resolve_form: ResolveForm | None = None,
    status: int = 200,
) -> HttpResponse:
    note_patient_read(request, [alert.patient_id], "alert detail")
    is_open = alert.status == AlertStatus.OPEN
    deliveries = list(alert.deliveries.select_related("user").order_by("stage", "created_at", "pk"))
    return render(
        request,
        "alerts/detail.html",
        {
            "alert": alert,
            "spec": KINDS[alert.kind],
            "subject_label": SUBJECT_LABELS.get(alert.kind, "Time it is about"),
            "patient": alert.patient,
            "pump": alert.pump,
            "clinic": alert.clinic,
            "zone": alert.clinic.time_zone,
            "recipients": group_names(alert.recipient_groups),
            "first_recipients": group_names(alert.initial_groups),
            "deliveries": deliveries,
            "can_acknowledge": is_open and not alert.is_acknowledged,
            "can_resolve": is_open and alert.is_event,
            "acknowledge_form": acknowledge_form or AcknowledgeForm(),
            "resolve_form": resolve_form or ResolveForm(),
        },
        status=status,
    )


@require_GET
@login_required
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_response(request, _visible_alert(request, pk))


@require_POST
@login_required
def alert_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _visible_alert(request, pk)
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        return _detail_response(request, alert, acknowledge_form=form)
    already = alert.is_acknowledged
    try:
        alert = alert_acknowledge(
            actor=request.user, alert=alert, via=VIA_APP, note=form.cleaned_data["note"]
        )
    except PermissionDenied as exc:
        raise Http404("No such alert.") from exc
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("alerts:detail", pk=alert.pk)
    zone = alert.clinic.time_zone
    by = alert.acknowledged_by.get_username() if alert.acknowledged_by else "someone"
    when = local_text(alert.acknowledged_at, zone)
    if already or alert.acknowledged_by_id != request.user.pk:
        messages.info(request, f"This alert was already acknowledged by {by} on {when}.")
    else:
        messages.success(request, f"Alert acknowledged by {by} on {when}: escalation stopped.")
    return redirect("alerts:detail", pk=alert.pk)


@require_POST
@login_required
def alert_resolve_view(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _visible_alert(request, pk)
    form = ResolveForm(request.POST)
    if alert.is_event and alert.status == AlertStatus.OPEN and not form.is_valid():
        return _detail_response(request, alert, resolve_form=form)
    try:
        alert = alert_resolve(
            actor=request.user,
            alert=alert,
            reason=str(form.cleaned_data.get("reason", "")) if form.is_valid() else "",
        )
    except PermissionDenied as exc:
        raise Http404("No such alert.") from exc
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and "reason" in exc.error_dict:
            for error in exc.error_dict["reason"]:
                form.add_error("reason", error)
            return _detail_response(request, alert, resolve_form=form)
        messages.error(request, " ".join(exc.messages))
        return redirect("alerts:detail", pk=alert.pk)
    messages.success(
        request,
        f"Alert resolved by {request.user.get_username()} on "
        f"{local_text(alert.resolved_at, alert.clinic.time_zone)}.",
    )
    return redirect("alerts:detail", pk=alert.pk)


# --- Signed acknowledge link -------------------------------------------------------------------


def _ack_target(token: str) -> tuple[Alert, Any] | None:
    """The alert and the person a valid link was sent to, while that person is active and may
    still see the alert; ``None`` otherwise (whatever the reason: the page says the same)."""
    try:
        alert_id, user_id = read_ack_token(token)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    except (KeyError, TypeError, ValueError):  # a validly signed but malformed payload
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    alert = alerts_visible_to(user).filter(pk=alert_id).first()
    if alert is None:
        return None
    return alert, user


def _ack_invalid(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "alerts/ack_invalid.html",
        {"ack_hours": settings.ITB_ALERT_ACK_LINK_HOURS},
        status=400,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def ack_link(request: HttpRequest, token: str) -> HttpResponse:
    target = _ack_target(token)
    if target is None:
        return _ack_invalid(request)
    alert, user = target
    context: dict[str, Any] = {
        "alert": alert,
        "clinic": alert.clinic,
        "zone": alert.clinic.time_zone,
        "recipient": user,
    }
    if request.method == "POST":
        already = alert.is_acknowledged
        try:
            alert = alert_acknowledge(actor=user, alert=alert, via=VIA_EMAIL_LINK)
        except PermissionDenied:
            return _ack_invalid(request)
        except ValidationError:
            # Resolved since the page was shown: nothing left to acknowledge.
            alert.refresh_from_db()
            return render(request, "alerts/ack_confirm.html", {**context, "alert": alert})
        return render(
            request,
            "alerts/ack_done.html",
            {**context, "alert": alert, "already": already or alert.acknowledged_by_id != user.pk},
        )
    return render(request, "alerts/ack_confirm.html", context)
