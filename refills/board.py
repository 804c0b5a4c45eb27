"""The refill runway board: every active pump a user may see, most urgent first, with the
flags a clinic acts on, in words (colour is only a second channel).

One indexed query over the stored projections; the flags are worked out from the row, so the
board never projects a pump itself. The page adds each pump's open alerts with one more query
(``with_open_alerts``), whatever the number of pumps.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import F, Q

from alerts.models import Alert, Severity
from alerts.selectors import open_alerts_by_pump
from pumps.models import CareRole, CareTeamMember, Pump
from pumps.selectors import pumps_visible_to

# domain.md §4: schedule pump replacement at least 3 months ahead; §3.1: a SynchroMed II stops
# 90 days after its elective replacement indicator.
REPLACEMENT_LEAD_DAYS = 90
# Warn this long before a refill is forced by the drug stability limit (domain.md §2.6).
STABILITY_LEAD_DAYS = 14


@dataclass(frozen=True, slots=True)
class Flag:
    code: str
    label: str
    level: str  # "danger", "warning" or "info": the colour; the label carries the meaning


FLAGS = {
    "projection_failed": Flag(
        "projection_failed", "Cannot project: check fill and program", "danger"
    ),
    "no_fill": Flag("no_fill", "No fill recorded yet", "warning"),
    "overdue": Flag("overdue", "Refill overdue", "danger"),
    "not_booked": Flag("not_booked", "No refill booked", "warning"),
    "after_alarm": Flag("after_alarm", "Booked after the alarm date", "danger"),
    "after_due": Flag("after_due", "Booked after the due date", "warning"),
    "high_risk": Flag("high_risk", "High withdrawal risk", "info"),
    "replacement": Flag("replacement", "Elective replacement approaching", "warning"),
    "stability": Flag("stability", "Drug stability limit approaching", "warning"),
}


@dataclass(frozen=True, slots=True)
class BoardRow:
    pump: Pump
    time_left: timedelta | None  # until refill due; negative when overdue
    flags: tuple[Flag, ...]
    # The pump's open alerts, most severe first (filled in by ``with_open_alerts``).
    alerts: tuple[Alert, ...] = ()

    @property
    def top_alert(self) -> Alert | None:
        return self.alerts[0] if self.alerts else None

    @property
    def more_alerts(self) -> int:
        return max(len(self.alerts) - 1, 0)

    @property
    def worst_level(self) -> str:
        levels = {f.level for f in self.flags}
        levels |= {ALERT_LEVELS.get(a.severity, "ok") for a in self.alerts}
        return next((lvl for lvl in ("danger", "warning") if lvl in levels), "ok")


# The row colour an open alert asks for (the words are on the row too).
ALERT_LEVELS: dict[str, str] = {
    Severity.CRITICAL: "danger",
    Severity.HIGH: "danger",
    Severity.WARNING: "warning",
    Severity.INFO: "ok",
}


def flags_for(pump: Pump, *, now: datetime, today: date) -> tuple[Flag, ...]:
    """The board flags of one pump (stored projection and next visit already on the row)."""
    codes: list[str] = []
    if pump.refill_due_at is None:
        codes.append("projection_failed" if pump.projection_error else "no_fill")
    else:
        if pump.next_visit_at is None:
            codes.append("overdue" if pump.refill_due_at <= now else "not_booked")
        elif pump.projected_alarm_at is not None and pump.next_visit_at > pump.projected_alarm_at:
            codes.append("after_alarm")
        elif pump.next_visit_at > pump.refill_due_at:
            codes.append("after_due")
        if pump.refill_due_reason == "drug_stability" and pump.refill_due_at <= now + timedelta(
            days=STABILITY_LEAD_DAYS
        ):
            codes.append("stability")
    if pump.patient.high_withdrawal_risk:
        codes.append("high_risk")
    if (
        pump.elective_replacement_on is not None
        and pump.elective_replacement_on <= today + timedelta(days=REPLACEMENT_LEAD_DAYS)
    ):
        codes.append("replacement")
    return tuple(FLAGS[c] for c in codes)


def board_rows(
    user: Any,
    *,
    now: datetime,
    today: date,
    search: str = "",
    clinic_id: int | None = None,
    flag: str = "",
    high_risk_only: bool = False,
) -> list[BoardRow]:
    """The board for ``user``: pumps whose projection failed first, then by refill-due time.

    One query (pump, patient, clinic, model joined); ``flag`` filters on the computed flags.
    """
    # The board is the clinic's working list: only clinics where the user is a clinician or
    # nurse (someone who is also a caregiver sees that person on the caregiver page instead).
    working_clinics = CareTeamMember.objects.filter(
        user=user, role__in=(CareRole.CLINICIAN, CareRole.NURSE), clinic__isnull=False
    ).values("clinic_id")
    pumps = pumps_visible_to(user, active_only=True).filter(patient__clinic_id__in=working_clinics)
    if search.strip():
        term = search.strip()
        pumps = pumps.filter(
            Q(patient__family_name__icontains=term)
            | Q(patient__given_name__icontains=term)
            | Q(patient__mrn__icontains=term)
            | Q(serial_number__icontains=term)
        )
    if clinic_id is not None:
        pumps = pumps.filter(patient__clinic_id=clinic_id)
    if high_risk_only:
        pumps = pumps.filter(patient__high_withdrawal_risk=True)
    pumps = pumps.order_by(F("refill_due_at").asc(nulls_first=True), "patient__family_name")
    rows = []
    for pump in pumps:
        flags = flags_for(pump, now=now, today=today)
        if flag and flag not in {f.code for f in flags}:
            continue
        time_left = pump.refill_due_at - now if pump.refill_due_at is not None else None
        rows.append(BoardRow(pump=pump, time_left=time_left, flags=flags))
    return rows


def with_open_alerts(user: Any, rows: list[BoardRow]) -> list[BoardRow]:
    """``rows`` with each pump's open alerts that ``user`` may see: one query for the page."""
    if not rows:
        return rows
    by_pump = open_alerts_by_pump(user, [row.pump.pk for row in rows])
    return [
        replace(row, alerts=tuple(by_pump[row.pump.pk])) if row.pump.pk in by_pump else row
        for row in rows
    ]
