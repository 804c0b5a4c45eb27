"""The "who has looked at this record" page: a patient's access log for the clinic leads of
the patient's clinic and for system administrators. Opening it is itself a recorded read."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.access import note_patient_read
from audit.forms import AccessLogFilterForm
from audit.models import AccessLogEntry
from audit.selectors import (
    access_log_patient_or_404,
    day_bounds,
    patient_access_log,
    readers_of,
    roles_now,
)

PAGE_SIZE = 50


@require_GET
@login_required
def patient_access_log_view(request: HttpRequest, pk: int) -> HttpResponse:
    patient = access_log_patient_or_404(request.user, pk)
    note_patient_read(request, [patient.pk], "access log")
    zone = patient.clinic.time_zone
    form = AccessLogFilterForm(request.GET or None, readers=readers_of(patient))
    # Every name the template reads is set (a missing one would be logged with the context).
    context: dict[str, Any] = {
        "patient": patient,
        "zone": zone,
        "form": form,
        "invalid": False,
        "is_filtered": form.is_filtered,
        "page_obj": None,
        "rows": [],
    }
    if form.is_bound and not form.is_valid():
        # Nothing is listed under filters that could not be read: the list would not be what
        # the filters say.
        return render(request, "audit/access_log.html", {**context, "invalid": True})
    data = form.cleaned_data if form.is_bound else {}
    since, until = day_bounds(data.get("date_from"), data.get("date_to"), zone)
    reader = data.get("user")
    entries = patient_access_log(
        patient, actor_id=reader.pk if reader else None, since=since, until=until
    )
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    rows: list[AccessLogEntry] = list(page.object_list)
    roles = roles_now(patient, list({e.actor_id: e.actor for e in rows if e.actor}.values()))
    return render(
        request,
        "audit/access_log.html",
        {
            **context,
            "page_obj": page,
            "rows": [(entry, roles.get(entry.actor_id or 0, "")) for entry in rows],
        },
    )
