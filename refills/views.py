"""Refill pages. The board is the clinic's home page (``web.views.home`` renders it for staff)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit.access import note_patient_read
from pumps.selectors import clinics_staffed_by
from refills.board import FLAGS, board_rows, with_open_alerts


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def board(request: HttpRequest) -> HttpResponse:
    """The refill runway board for a clinician or nurse (the caller checks the role)."""
    now = timezone.now()
    clinics = list(clinics_staffed_by(request.user).distinct().order_by("name"))
    clinic_id = _int_or_none(request.GET.get("clinic"))
    if clinic_id is not None and clinic_id not in {c.pk for c in clinics}:
        clinic_id = None
    flag = request.GET.get("flag", "")
    if flag not in FLAGS:
        flag = ""
    filters = {
        "q": request.GET.get("q", "").strip()[:100],
        "clinic": clinic_id,
        "flag": flag,
        "high_risk": request.GET.get("high_risk") == "1",
    }
    filters["active"] = bool(filters["q"] or clinic_id or flag or filters["high_risk"])
    rows = board_rows(
        request.user,
        now=now,
        today=timezone.localdate(),
        search=str(filters["q"]),
        clinic_id=clinic_id,
        flag=flag,
        high_risk_only=bool(filters["high_risk"]),
    )
    # Each pump's open alerts: one more query for the whole page.
    rows = with_open_alerts(request.user, rows)
    note_patient_read(request, [row.pump.patient_id for row in rows], "board")
    return render(
        request,
        "refills/board.html",
        {
            "rows": rows,
            "filters": filters,
            "clinics": clinics,
            "show_clinic": len(clinics) > 1,
            "flag_choices": list(FLAGS.values()),
        },
    )
