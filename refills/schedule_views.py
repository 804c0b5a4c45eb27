"""Scheduling pages: book, move and cancel a refill, the clinic calendar and its iCal feeds.

Access: every pump and visit comes from ``pumps.selectors`` narrowed to the clinics where the
user is a clinician or nurse; anything else is a 404. Every write goes through
``refills.services``, which validates, locks, audits and updates the pump's next visit.
"""

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit.access import note_patient_read
from audit.models import AccessChannel, AuditAction
from audit.services import audit_record
from pumps.models import CareRole, CareTeamMember, Clinic, Patient, Pump
from pumps.selectors import clinics_staffed_by, patients_visible_to, pumps_visible_to
from refills import calendar as cal
from refills.forms import CancelForm, FeedCreateForm, RescheduleForm, VisitTimeForm
from refills.ical import Event, render_calendar
from refills.models import CalendarFeed, FeedKind, RefillVisit, VisitStatus
from refills.services import refill_cancel, refill_reschedule, refill_schedule
from refills.slots import earliest_slots, suggest_slots
from web.navigation import WORKING_STAFF_ROLES

SUGGESTIONS = 8


# --- Access ----------------------------------------------------------------------------------


def working_clinics(user: Any) -> QuerySet[Clinic]:
    """Clinics where ``user`` is a clinician or nurse (integrators work through the API)."""
    memberships = CareTeamMember.objects.filter(
        user=user, role__in=WORKING_STAFF_ROLES, clinic__isnull=False
    ).values("clinic_id")
    return clinics_staffed_by(user).filter(pk__in=memberships).distinct().order_by("name")


def _pumps_for(user: Any) -> QuerySet[Pump]:
    return pumps_visible_to(user, active_only=True).filter(
        patient__clinic__in=working_clinics(user)
    )


def _visits_for(user: Any) -> QuerySet[RefillVisit]:
    pumps = pumps_visible_to(user).filter(patient__clinic__in=working_clinics(user))
    return RefillVisit.objects.filter(pump__in=pumps).select_related(
        "pump__patient__clinic", "pump__pump_model"
    )


# --- Slot suggestions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    at: datetime  # UTC
    local: datetime  # clinic time
    query: str  # ?date=…&time=… to fill the form

    @property
    def iso(self) -> str:
        return self.at.isoformat()

    @property
    def label(self) -> str:
        """Clinic-local "HH:MM" (formatted here: template date filters convert to the site's
        zone)."""
        return f"{self.local:%H:%M}"


def _slot_groups(slots: list[datetime], zone: ZoneInfo) -> list[tuple[date, list[Slot]]]:
    groups: OrderedDict[date, list[Slot]] = OrderedDict()
    for at in slots:
        local = at.astimezone(zone)
        query = urlencode({"date": f"{local:%Y-%m-%d}", "time": f"{local:%H:%M}"})
        groups.setdefault(local.date(), []).append(Slot(at=at, local=local, query=query))
    return list(groups.items())


def _suggestions(pump: Pump, *, now: datetime, exclude: RefillVisit | None = None) -> dict:
    clinic = pump.patient.clinic
    zone = ZoneInfo(clinic.time_zone)
    booked_qs = RefillVisit.objects.filter(status=VisitStatus.BOOKED, pump__patient__clinic=clinic)
    if exclude is not None:
        booked_qs = booked_qs.exclude(pk=exclude.pk)
    booked = list(booked_qs.values_list("scheduled_at", flat=True))
    safe = suggest_slots(
        time_zone=clinic.time_zone,
        due_at=pump.refill_due_at,
        empty_at=pump.projected_empty_at,
        now=now,
        booked=booked,
        count=SUGGESTIONS,
    )
    soonest: list[datetime] = []
    if not safe:
        soonest = earliest_slots(
            time_zone=clinic.time_zone,
            empty_at=pump.projected_empty_at,
            now=now,
            booked=booked,
            count=SUGGESTIONS,
        )
    return {
        "safe_slots": _slot_groups(safe, zone),
        "soonest_slots": _slot_groups(soonest, zone),
        "latest_safe_day": safe[0].astimezone(zone).date() if safe else None,
        "clinic_zone": clinic.time_zone,
        "patient_zone": pump.patient.effective_time_zone,
        "overdue": pump.refill_due_at is not None and pump.refill_due_at <= now,
    }


def _initial_from_query(request: HttpRequest) -> dict[str, Any]:
    """A suggested slot's link fills the form: ``?date=YYYY-MM-DD&time=HH:MM``."""
    initial: dict[str, Any] = {}
    try:
        initial["date"] = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        pass
    try:
        initial["time"] = time.fromisoformat(request.GET.get("time", ""))
    except ValueError:
        pass
    return initial


def _local(moment: datetime, zone: str) -> str:
    return f"{moment.astimezone(ZoneInfo(zone)):%a %d %b %Y, %H:%M %Z}"


# --- Book, move, cancel ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def schedule(request: HttpRequest, pump_pk: int) -> HttpResponse:
    pump = get_object_or_404(_pumps_for(request.user), pk=pump_pk)
    note_patient_read(request, [pump.patient_id], "refill booking form")
    clinic = pump.patient.clinic
    now = timezone.now()
    if request.method == "POST":
        form = VisitTimeForm(request.POST, time_zone=clinic.time_zone, due_at=pump.refill_due_at)
        if form.is_valid():
            try:
                visit = refill_schedule(
                    actor=request.user,
                    pump=pump,
                    scheduled_at=form.cleaned_data["scheduled_at"],
                    late_reason=form.cleaned_data["late_reason"],
                    now=now,
                )
            except ValidationError as exc:
                form.apply_service_errors(exc)
            else:
                messages.success(
                    request,
                    f"Refill booked for {pump.patient.full_name} on "
                    f"{_local(visit.scheduled_at, clinic.time_zone)}.",
                )
                return redirect("home")
    else:
        form = VisitTimeForm(
            initial=_initial_from_query(request),
            time_zone=clinic.time_zone,
            due_at=pump.refill_due_at,
        )
    existing = pump.refill_visits.filter(status=VisitStatus.BOOKED).first()
    return render(
        request,
        "refills/schedule.html",
        {
            "pump": pump,
            "patient": pump.patient,
            "clinic": clinic,
            "form": form,
            "existing": existing,
            "base_url": request.path,
            **_suggestions(pump, now=now),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def reschedule(request: HttpRequest, visit_pk: int) -> HttpResponse:
    visit = get_object_or_404(_visits_for(request.user), pk=visit_pk)
    note_patient_read(request, [visit.pump.patient_id], "refill reschedule form")
    pump, clinic = visit.pump, visit.pump.patient.clinic
    now = timezone.now()
    if request.method == "POST":
        form = RescheduleForm(request.POST, time_zone=clinic.time_zone, due_at=pump.refill_due_at)
        if form.is_valid():
            try:
                refill_reschedule(
                    actor=request.user,
                    visit=visit,
                    scheduled_at=form.cleaned_data["scheduled_at"],
                    reason=form.cleaned_data["reason"],
                    late_reason=form.cleaned_data["late_reason"],
                    now=now,
                )
            except ValidationError as exc:
                form.apply_service_errors(exc)
            else:
                visit.refresh_from_db()
                messages.success(
                    request,
                    f"Refill of {pump.patient.full_name} moved to "
                    f"{_local(visit.scheduled_at, clinic.time_zone)}.",
                )
                return redirect("home")
    else:
        current = visit.scheduled_at.astimezone(ZoneInfo(clinic.time_zone))
        initial: dict[str, Any] = {
            "date": current.date(),
            "time": current.time().replace(tzinfo=None),
            "late_reason": visit.late_reason,
        }
        initial.update(_initial_from_query(request))
        form = RescheduleForm(
            initial=initial, time_zone=clinic.time_zone, due_at=pump.refill_due_at
        )
    return render(
        request,
        "refills/reschedule.html",
        {
            "visit": visit,
            "pump": pump,
            "patient": pump.patient,
            "clinic": clinic,
            "form": form,
            "is_booked": visit.status == VisitStatus.BOOKED,
            "base_url": request.path,
            **_suggestions(pump, now=now, exclude=visit),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, visit_pk: int) -> HttpResponse:
    visit = get_object_or_404(_visits_for(request.user), pk=visit_pk)
    note_patient_read(request, [visit.pump.patient_id], "refill cancel form")
    clinic = visit.pump.patient.clinic
    if request.method == "POST":
        form = CancelForm(request.POST)
        if form.is_valid():
            try:
                refill_cancel(actor=request.user, visit=visit, reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                form.apply_service_errors(exc)
            else:
                messages.success(
                    request,
                    f"Refill of {visit.pump.patient.full_name} on "
                    f"{_local(visit.scheduled_at, clinic.time_zone)} cancelled. The pump has no "
                    "booked refill now: book a new one before the due date.",
                )
                return redirect("home")
    else:
        form = CancelForm()
    return render(
        request,
        "refills/cancel.html",
        {
            "visit": visit,
            "patient": visit.pump.patient,
            "clinic": clinic,
            "local_start": visit.scheduled_at.astimezone(ZoneInfo(clinic.time_zone)),
            "form": form,
            "is_booked": visit.status == VisitStatus.BOOKED,
        },
    )


# --- Calendar --------------------------------------------------------------------------------


def _entry(visit: RefillVisit) -> cal.Entry:
    pump = visit.pump
    booked = visit.status == VisitStatus.BOOKED
    return cal.Entry(
        local_start=visit.scheduled_at.astimezone(ZoneInfo(pump.patient.clinic.time_zone)),
        visit=visit,
        after_due=bool(
            booked and pump.refill_due_at is not None and visit.scheduled_at > pump.refill_due_at
        ),
        after_alarm=bool(
            booked
            and pump.projected_alarm_at is not None
            and visit.scheduled_at > pump.projected_alarm_at
        ),
    )


@login_required
@require_GET
def calendar_view(request: HttpRequest) -> HttpResponse:
    clinics = list(working_clinics(request.user))
    if not clinics:
        raise Http404("No clinic calendar for this account.")
    zone = ZoneInfo(clinics[0].time_zone)
    today = timezone.now().astimezone(zone).date()
    view = request.GET.get("view", "week")
    if view not in cal.VIEWS:
        view = "week"
    context: dict[str, Any] = {"view": view, "clinics": clinics, "today": today}
    if view == "month":
        first = cal.parse_month(request.GET.get("month"), today)
        weeks = cal.month_weeks(first)
        days = [d for week in weeks for d in week]
        prev_q = {"view": "month", "month": f"{cal.shift_month(first, -1):%Y-%m}"}
        next_q = {"view": "month", "month": f"{cal.shift_month(first, 1):%Y-%m}"}
        today_q = {"view": "month", "month": f"{today:%Y-%m}"}
        other_q = {"view": "week", "week": f"{cal.week_start(first):%Y-%m-%d}"}
        context.update(title=f"{first:%B %Y}", month=first)
    else:
        monday = cal.parse_week(request.GET.get("week"), today)
        days = cal.week_days(monday)
        prev_q = {"week": f"{monday - timedelta(days=7):%Y-%m-%d}"}
        next_q = {"week": f"{monday + timedelta(days=7):%Y-%m-%d}"}
        today_q = {"week": f"{cal.week_start(today):%Y-%m-%d}"}
        other_q = {"view": "month", "month": f"{monday:%Y-%m}"}
        context.update(title=f"Week of {monday:%-d %B %Y}", monday=monday)
    # A day's wide UTC margin either side; each visit is then placed by its clinic's local date.
    start = datetime.combine(days[0], time(0), tzinfo=UTC) - timedelta(days=1)
    end = datetime.combine(days[-1], time(0), tzinfo=UTC) + timedelta(days=2)
    visits = _visits_for(request.user).filter(scheduled_at__gte=start, scheduled_at__lt=end)
    entries = [_entry(v) for v in visits]
    grid = cal.place(
        days, entries, today=today, month=context["month"].month if view == "month" else None
    )
    note_patient_read(
        request, [e.visit.pump.patient_id for d in grid for e in d.entries], "calendar"
    )
    base = reverse("refills:calendar")
    context.update(
        days=grid,
        weeks=cal.chunk(grid),
        visit_count=sum(len(d.entries) for d in grid if d.in_month),
        prev_url=f"{base}?{urlencode(prev_q)}",
        next_url=f"{base}?{urlencode(next_q)}",
        today_url=f"{base}?{urlencode(today_q)}",
        other_url=f"{base}?{urlencode(other_q)}",
        zones=sorted({c.time_zone for c in clinics}),
        show_clinic=len(clinics) > 1,
    )
    return render(request, "refills/calendar.html", context)


# --- iCal feeds ------------------------------------------------------------------------------


def _caregiver_patients(user: Any) -> QuerySet[Patient]:
    return patients_visible_to(user).filter(
        care_team__user=user, care_team__role=CareRole.CAREGIVER
    )


def _feed_owner_scope(user: Any) -> tuple[list[Clinic], bool]:
    clinics = list(working_clinics(user))
    return clinics, _caregiver_patients(user).exists()


@login_required
@require_http_methods(["GET", "POST"])
def feeds(request: HttpRequest) -> HttpResponse:
    owner: Any = request.user  # signed in (login_required)
    clinics, caregiver = _feed_owner_scope(owner)
    if not clinics and not caregiver:
        raise Http404("No calendar for this account.")
    if request.method == "POST":
        form = FeedCreateForm(request.POST, clinics=clinics, caregiver=caregiver)
        if form.is_valid():
            kind, clinic = form.feed_scope()
            with transaction.atomic():
                feed = CalendarFeed.objects.create(user=owner, kind=kind, clinic=clinic)
                # Audited without its token: the secret address never enters the trail.
                audit_record(
                    actor=owner,
                    instance=feed,
                    action=AuditAction.CREATE,
                    changes={
                        "user": [None, owner.pk],
                        "kind": [None, kind],
                        "clinic": [None, feed.clinic_id],
                    },
                )
            messages.success(
                request,
                "Calendar feed created. Copy its address into your calendar app; anyone with "
                "the address can read it, so keep it private.",
            )
            return redirect("refills:feeds")
    else:
        form = FeedCreateForm(clinics=clinics, caregiver=caregiver)
    mine = list(CalendarFeed.objects.filter(user=owner).select_related("clinic"))
    rows = [
        (
            feed,
            request.build_absolute_uri(reverse("refills:ical", args=[feed.token]))
            if feed.revoked_at is None
            else "",
        )
        for feed in mine
    ]
    return render(request, "refills/feeds.html", {"form": form, "rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def feed_revoke(request: HttpRequest, feed_pk: int) -> HttpResponse:
    owner: Any = request.user  # signed in (login_required)
    feed = get_object_or_404(
        CalendarFeed.objects.select_related("clinic"),
        pk=feed_pk,
        user=owner,
        revoked_at__isnull=True,
    )
    if request.method == "POST":
        now = timezone.now()
        with transaction.atomic():
            if CalendarFeed.objects.filter(pk=feed.pk, revoked_at__isnull=True).update(
                revoked_at=now
            ):
                audit_record(
                    actor=owner,
                    instance=feed,
                    action=AuditAction.UPDATE,
                    changes={"revoked_at": [None, now.isoformat()]},
                    reason="Revoked by its owner",
                )
        messages.success(request, "Calendar feed revoked: its address no longer works.")
        return redirect("refills:feeds")
    return render(request, "refills/feed_revoke.html", {"feed": feed})


def _feed_visits(feed: CalendarFeed) -> QuerySet[RefillVisit]:
    """Booked visits the feed's owner may see now (care-team roles read at request time)."""
    owner = feed.user
    if feed.kind == FeedKind.CLINIC:
        if feed.clinic_id not in set(working_clinics(owner).values_list("pk", flat=True)):
            return RefillVisit.objects.none()
        pumps = pumps_visible_to(owner).filter(patient__clinic_id=feed.clinic_id)
    else:
        pumps = pumps_visible_to(owner).filter(patient__in=_caregiver_patients(owner))
    return (
        RefillVisit.objects.filter(status=VisitStatus.BOOKED, pump__in=pumps)
        .select_related("pump__patient__clinic")
        .order_by("scheduled_at", "pk")
    )


def _event(visit: RefillVisit, kind: str) -> Event:
    patient = visit.pump.patient
    clinic = patient.clinic
    if kind == FeedKind.CLINIC:
        summary = f"ITB refill: {patient.family_name}, {patient.given_name} (MRN {patient.mrn})"
        description = ""
    else:
        summary = f"Baclofen pump refill — {patient.given_name}"
        description = (
            f"If you cannot keep this appointment, call {clinic.name}"
            + (f" on {clinic.phone}" if clinic.phone else "")
            + " to book another before the pump runs low."
        )
    return Event(
        uid=f"refill-visit-{visit.pk}@itb-clinic",
        start=visit.scheduled_at,
        end=visit.scheduled_at + timedelta(minutes=visit.duration_minutes),
        summary=summary,
        description=description,
        location=clinic.name,
    )


@require_GET
def ical(request: HttpRequest, token: str) -> HttpResponse:
    """The feed itself: no sign-in, the secret address is the credential."""
    feed = (
        CalendarFeed.objects.filter(token=token, revoked_at__isnull=True)
        .select_related("user", "clinic")
        .first()
    )
    if feed is None:
        raise Http404("No such calendar.")
    name = (
        f"ITB refills — {feed.clinic.name}"
        if feed.kind == FeedKind.CLINIC and feed.clinic is not None
        else "Baclofen pump refills"
    )
    visits = list(_feed_visits(feed))
    # A feed read is a read by the feed's owner, whoever's calendar app fetched it.
    note_patient_read(
        request,
        [v.pump.patient_id for v in visits],
        "calendar feed",
        actor=feed.user,
        channel=AccessChannel.FEED,
    )
    body = render_calendar(
        name=name,
        events=[_event(v, feed.kind) for v in visits],
        now=timezone.now(),
    )
    response = HttpResponse(body.encode("utf-8"), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="refills.ics"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response
