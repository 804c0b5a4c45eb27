"""A patient's timeline: programs, fills, refill visits and audit entries, newest first.

Four bounded queries (each source takes at most ``limit + 1`` rows); the rows are merged and
cut to ``limit``. Numbers shown for a program come from the dosing engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps

from audit.models import AuditEntry
from dosing.engine.programs import ProgramError, program_rates
from dosing.engine.units import format_quantity
from pumps.models import Patient, ProgramMode, PumpProgram, ReservoirFill
from pumps.projection import engine_program
from refills.models import RefillVisit, VisitStatus

TIMELINE_LIMIT = 50


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: str  # "program", "fill", "visit" or "audit"
    kind_label: str
    title: str
    details: tuple[str, ...] = ()
    who: str = ""
    reason: str = ""
    badge: str = "muted"  # badge colour class; the words carry the meaning


@dataclass(frozen=True, slots=True)
class Timeline:
    entries: tuple[TimelineEntry, ...]
    truncated: bool
    limit: int


def person(user: Any) -> str:
    if user is None:
        return "System"
    return str(user.get_full_name() or user.get_username())


def _program_entry(program: PumpProgram) -> TimelineEntry:
    try:
        dose = format_quantity(
            program_rates(program=engine_program(program)).daily_dose_mcg, unit="mcg/day"
        )
    except ProgramError:
        dose = "dose cannot be computed"
    concentration = format_quantity(float(program.concentration_mcg_per_ml), unit="mcg/mL")
    details = [f"Entered by {person(program.entered_by)}"]
    if program.verified_by is not None:
        details.append(f"verified by {person(program.verified_by)}")
    else:
        details.append("not verified by a second person")
    mode = "Flex program" if program.mode == ProgramMode.FLEX else "Simple continuous program"
    return TimelineEntry(
        at=program.effective_from,
        kind="program",
        kind_label="Program",
        title=f"{mode} from this time: {dose} at {concentration}",
        details=tuple(details),
        who=person(program.entered_by),
        reason=program.reason,
    )


def _fill_entry(fill: ReservoirFill) -> TimelineEntry:
    details = []
    if fill.product is not None:
        details.append(str(fill.product))
    if fill.lot_number:
        details.append(f"lot {fill.lot_number}")
    if fill.volume_removed_ml is not None:
        details.append(
            f"{format_quantity(float(fill.volume_removed_ml), unit='mL')} removed before the fill"
        )
    return TimelineEntry(
        at=fill.filled_at,
        kind="fill",
        kind_label="Fill",
        title=(
            f"Reservoir filled: {format_quantity(float(fill.volume_ml), unit='mL')} at "
            f"{format_quantity(float(fill.concentration_mcg_per_ml), unit='mcg/mL')}"
        ),
        details=tuple(details),
        who=person(fill.recorded_by),
        reason=fill.notes,
        badge="ok",
    )


def _visit_entry(visit: RefillVisit) -> TimelineEntry:
    if visit.status == VisitStatus.CANCELLED:
        return TimelineEntry(
            at=visit.scheduled_at,
            kind="visit",
            kind_label="Refill visit",
            title="Refill visit cancelled",
            details=(f"Booked by {person(visit.booked_by)}",),
            who=person(visit.cancelled_by),
            reason=visit.cancel_reason,
            badge="muted",
        )
    if visit.status == VisitStatus.COMPLETED:
        return TimelineEntry(
            at=visit.scheduled_at,
            kind="visit",
            kind_label="Refill visit",
            title="Refill visit completed",
            details=(f"Booked by {person(visit.booked_by)}",),
            who=person(visit.completed_by),
            reason=visit.late_reason,
            badge="ok",
        )
    return TimelineEntry(
        at=visit.scheduled_at,
        kind="visit",
        kind_label="Refill visit",
        title="Refill visit booked",
        details=(f"{visit.duration_minutes} minutes",),
        who=person(visit.booked_by),
        reason=visit.late_reason,
        badge="warning" if visit.late_reason else "ok",
    )


def _record_label(record_type: str) -> str:
    try:
        return str(apps.get_model(record_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return record_type


def _audit_entry(entry: AuditEntry) -> TimelineEntry:
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    details = []
    if entry.action == "update":
        for field, values in list(changes.items())[:6]:
            old, new = (values + [None, None])[:2] if isinstance(values, list) else (None, values)
            details.append(
                f"{field.replace('_', ' ')}: {old if old not in (None, '') else '—'} → "
                f"{new if new not in (None, '') else '—'}"
            )
        if len(changes) > 6:
            details.append(f"and {len(changes) - 6} more changes")
    return TimelineEntry(
        at=entry.occurred_at,
        kind="audit",
        kind_label="Audit",
        title=f"{entry.get_action_display()} {_record_label(entry.record_type)}: "
        f"{entry.record_repr}",
        details=tuple(details),
        who=person(entry.actor),
        reason=entry.reason,
    )


def patient_timeline(patient: Patient, *, limit: int = TIMELINE_LIMIT) -> Timeline:
    """The latest ``limit`` events of the patient, newest first (all their pumps)."""
    take = limit + 1
    programs = (
        PumpProgram.objects.filter(pump__patient=patient)
        .select_related("entered_by", "verified_by")
        .prefetch_related("steps")
        .order_by("-effective_from")[:take]
    )
    fills = (
        ReservoirFill.objects.filter(pump__patient=patient)
        .select_related("recorded_by", "product")
        .order_by("-filled_at")[:take]
    )
    visits = (
        RefillVisit.objects.filter(pump__patient=patient)
        .select_related("booked_by", "cancelled_by", "completed_by")
        .order_by("-scheduled_at")[:take]
    )
    audits = (
        AuditEntry.objects.filter(patient=patient)
        .select_related("actor")
        .order_by("-occurred_at", "-id")[:take]
    )
    entries = [
        *(_program_entry(p) for p in programs),
        *(_fill_entry(f) for f in fills),
        *(_visit_entry(v) for v in visits),
        *(_audit_entry(a) for a in audits),
    ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return Timeline(entries=tuple(entries[:limit]), truncated=len(entries) > limit, limit=limit)
