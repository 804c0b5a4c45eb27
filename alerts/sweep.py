"""The alert sweep: set-based SQL over the stored pump projections.

One sweep, in one transaction:

1. escalate the open, unacknowledged alerts whose escalation time has come;
2. for every kind, raise an alert for each pump whose condition holds (``INSERT … SELECT …
   ON CONFLICT DO NOTHING``: the partial unique index on (pump, kind, cycle) makes a rerun or a
   concurrent sweep insert nothing twice);
3. for every kind, resolve the open alerts whose condition no longer holds;
4. queue one delivery per recipient of each alert raised or escalated by this sweep (the
   outbox), and cancel the queued deliveries of resolved alerts.

The number of queries does not depend on the number of pumps: there is no loop over pumps and
no task per pump. Each clinic's lead times are turned into absolute thresholds in Python and
sent as one ``CASE`` per condition, so the database compares indexed columns with constants.
"""

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    DateField,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from alerts.kinds import ALL_GROUPS, CAREGIVERS, KINDS, LEAD, NURSES, ON_CALL, masks_with
from alerts.models import (
    EVENT_KINDS,
    Alert,
    AlertKind,
    AlertStatus,
    Audience,
    Delivery,
    DeliveryStatus,
    Severity,
    SweepState,
)
from pumps.models import CareRole, Clinic, Pump, PumpStatus
from refills.models import RefillVisit, VisitStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Policy:
    not_booked_lead_days: int
    high_risk_not_booked_lead_days: int
    reminder_lead_days: int
    high_risk_reminder_lead_days: int
    missed_grace_hours: int
    high_risk_missed_grace_hours: int
    empty_soon_hours: int
    replacement_lead_days: int
    stability_lead_days: int
    escalation_minutes: int
    high_risk_escalation_minutes: int
    critical_repeat_minutes: int

    @classmethod
    def defaults(cls) -> "Policy":
        values = settings.ITB_ALERT_POLICY_DEFAULTS
        return cls(**{f.name: int(values[f.name]) for f in fields(cls)})


POLICY_FIELDS = [f.name for f in fields(Policy)]


def clinic_policies() -> dict[int, Policy]:
    """Every clinic's policy (the defaults for a clinic without one): one query."""
    default = Policy.defaults()
    rows = Clinic.objects.values_list("id", *[f"alert_policy__{name}" for name in POLICY_FIELDS])
    policies: dict[int, Policy] = {}
    for clinic_id, *values in rows:
        if values[0] is None:
            policies[clinic_id] = default
        else:
            policies[clinic_id] = Policy(**dict(zip(POLICY_FIELDS, values, strict=True)))
    return policies


@dataclass(frozen=True, slots=True)
class SweepResult:
    raised: int
    escalated: int
    resolved: int
    deliveries_queued: int
    cancelled: int
    duration_ms: int
    token: str


class Sweep:
    """The thresholds of one sweep at one instant."""

    def __init__(self, *, now: datetime, policies: dict[int, Policy], token: str) -> None:
        self.now = now
        self.today: date = now.date()
        self.policies = policies
        self.default = Policy.defaults()
        self.token = token

    # --- per-clinic thresholds as CASE expressions -------------------------------------------

    def threshold(
        self,
        normal: str,
        high_risk: str,
        to_value: Callable[[int], Any],
        *,
        clinic: str,
        risk: str,
        output_field: Any,
    ) -> tuple[Case, Any]:
        """A CASE giving each row the value ``to_value(policy.<field>)`` of its clinic and risk
        group, and the largest such value (an index-friendly bound for range filters)."""
        groups: dict[Any, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        for clinic_id, policy in self.policies.items():
            groups[to_value(getattr(policy, normal))][0].append(clinic_id)
            groups[to_value(getattr(policy, high_risk))][1].append(clinic_id)
        whens = []
        for value, (normal_ids, high_ids) in groups.items():
            condition = Q()
            if normal_ids:
                condition |= Q(**{f"{clinic}__in": normal_ids, risk: False})
            if high_ids:
                condition |= Q(**{f"{clinic}__in": high_ids, risk: True})
            whens.append(When(condition, then=Value(value, output_field=output_field)))
        # A clinic created after the policies were read: the defaults (high-risk ones for
        # high-risk patients).
        fallback = Case(
            When(Q(**{risk: True}), then=Value(to_value(getattr(self.default, high_risk)))),
            default=Value(to_value(getattr(self.default, normal))),
            output_field=output_field,
        )
        values = [*groups, to_value(getattr(self.default, normal))]
        values.append(to_value(getattr(self.default, high_risk)))
        return Case(*whens, default=fallback, output_field=output_field), max(values)

    def days_ahead(self, normal: str, high_risk: str, **refs: str) -> tuple[Case, datetime]:
        return self.threshold(
            normal,
            high_risk,
            lambda days: self.now + timedelta(days=days),
            output_field=DateTimeField(),
            **refs,
        )

    # --- the conditions --------------------------------------------------------------------

    def pumps(self) -> QuerySet[Pump]:
        return Pump.objects.filter(status=PumpStatus.ACTIVE).order_by()

    def booked_visits(self) -> QuerySet[RefillVisit]:
        return RefillVisit.objects.filter(
            status=VisitStatus.BOOKED, pump__status=PumpStatus.ACTIVE
        ).order_by()

    PUMP_REFS = {"clinic": "patient__clinic_id", "risk": "patient__high_withdrawal_risk"}
    VISIT_REFS = {
        "clinic": "pump__patient__clinic_id",
        "risk": "pump__patient__high_withdrawal_risk",
    }

    def condition(self, kind: str) -> QuerySet[Any]:
        """Rows (pumps, or booked visits) for which ``kind`` holds now, annotated with the
        alert columns: ``a_pump``, ``a_cycle``, ``a_subject``, ``a_visit``, ``a_fill`` and the
        patient's clinic and risk."""
        fill_cycle = Concat(
            Value("fill:"),
            Coalesce(Cast("projection_fill_id", CharField()), Value("none")),
            output_field=CharField(),
        )
        if kind == AlertKind.REFILL_NOT_BOOKED:
            due_by, bound = self.days_ahead(
                "not_booked_lead_days", "high_risk_not_booked_lead_days", **self.PUMP_REFS
            )
            booked = RefillVisit.objects.filter(pump=OuterRef("pk"), status=VisitStatus.BOOKED)
            return self._pump_columns(
                self.pumps()
                .filter(refill_due_at__lte=bound)
                .filter(refill_due_at__lte=due_by)
                .filter(~Exists(booked)),
                cycle=fill_cycle,
                subject=F("refill_due_at"),
            )
        if kind == AlertKind.REFILL_OVERDUE:
            booked = RefillVisit.objects.filter(pump=OuterRef("pk"), status=VisitStatus.BOOKED)
            return self._pump_columns(
                self.pumps().filter(refill_due_at__lte=self.now).filter(~Exists(booked)),
                cycle=fill_cycle,
                subject=F("refill_due_at"),
            )
        if kind == AlertKind.PROJECTION_FAILED:
            return self._pump_columns(
                self.pumps().exclude(projection_error=""),
                cycle=fill_cycle,
                subject=F("projection_updated_at"),
            )
        if kind == AlertKind.RESERVOIR_LOW:
            return self._pump_columns(
                self.pumps().filter(projected_alarm_at__lte=self.now),
                cycle=fill_cycle,
                subject=F("projected_alarm_at"),
            )
        if kind == AlertKind.RESERVOIR_EMPTY_SOON:
            empty_by, bound = self.threshold(
                "empty_soon_hours",
                "empty_soon_hours",
                lambda hours: self.now + timedelta(hours=hours),
                output_field=DateTimeField(),
                **self.PUMP_REFS,
            )
            return self._pump_columns(
                self.pumps()
                .filter(projected_empty_at__lte=bound)
                .filter(projected_empty_at__lte=empty_by),
                cycle=fill_cycle,
                subject=F("projected_empty_at"),
            )
        if kind == AlertKind.STABILITY_LIMIT:
            limit_by, bound = self.days_ahead(
                "stability_lead_days", "stability_lead_days", **self.PUMP_REFS
            )
            return self._pump_columns(
                self.pumps()
                .filter(stability_limit_at__lte=bound)
                .filter(stability_limit_at__lte=limit_by),
                cycle=fill_cycle,
                subject=F("stability_limit_at"),
            )
        if kind == AlertKind.DEVICE_REPLACEMENT:
            replace_by, bound = self.threshold(
                "replacement_lead_days",
                "replacement_lead_days",
                lambda days: self.today + timedelta(days=days),
                output_field=DateField(),
                **self.PUMP_REFS,
            )
            return self._pump_columns(
                self.pumps().filter(replace_by_on__lte=bound).filter(replace_by_on__lte=replace_by),
                cycle=Concat(
                    Value("replace-by:"),
                    Cast("replace_by_on", CharField()),
                    output_field=CharField(),
                ),
                subject=Value(None, output_field=DateTimeField()),
            )
        if kind == AlertKind.REFILL_DISCREPANCY:
            return self._pump_columns(
                self.pumps()
                .filter(projection_fill__isnull=False)
                .exclude(projection_fill__reconciliation_flags=""),
                cycle=fill_cycle,
                subject=F("projection_fill__filled_at"),
                fill=F("projection_fill_id"),
            )
        visits = self.booked_visits()
        if kind == AlertKind.REFILL_BOOKED_AFTER_ALARM:
            # The generated column (next visit after the alarm) finds the few pumps by index;
            # the visit's own time decides.
            visits = visits.filter(pump__booked_after_alarm=True).filter(
                scheduled_at__gt=F("pump__projected_alarm_at")
            )
        elif kind == AlertKind.REFILL_BOOKED_LATE:
            due_by, bound = self.days_ahead(
                "not_booked_lead_days", "high_risk_not_booked_lead_days", **self.VISIT_REFS
            )
            visits = (
                visits.filter(scheduled_at__gt=F("pump__refill_due_at"))
                .filter(pump__refill_due_at__lte=bound)
                .filter(pump__refill_due_at__lte=due_by)
                # After the alarm is the more serious kind; one alert per visit, not two.
                .exclude(scheduled_at__gt=F("pump__projected_alarm_at"))
            )
        elif kind == AlertKind.REFILL_REMINDER:
            remind_from, bound = self.days_ahead(
                "reminder_lead_days", "high_risk_reminder_lead_days", **self.VISIT_REFS
            )
            visits = (
                visits.filter(scheduled_at__gt=self.now)
                .filter(scheduled_at__lte=bound)
                .filter(scheduled_at__lte=remind_from)
                # The pump's next visit is this booked one (the services keep it so): a bound
                # the planner can use through the pump's index.
                .filter(pump__next_visit_at__lte=bound)
            )
        elif kind == AlertKind.MISSED_REFILL:
            missed_before, bound = self.threshold(
                "missed_grace_hours",
                "high_risk_missed_grace_hours",
                lambda hours: self.now - timedelta(hours=hours),
                output_field=DateTimeField(),
                **self.VISIT_REFS,
            )
            visits = (
                visits.filter(scheduled_at__lte=bound)
                .filter(scheduled_at__lte=missed_before)
                .filter(pump__next_visit_at__lte=bound)  # as above: an indexed bound
            )
        else:  # pragma: no cover - guarded by the KINDS assertion
            raise ValueError(f"no condition for alert kind {kind!r}")
        return visits.annotate(
            a_pump=F("pump_id"),
            a_patient=F("pump__patient_id"),
            a_clinic=F("pump__patient__clinic_id"),
            a_high_risk=F("pump__patient__high_withdrawal_risk"),
            a_cycle=Concat(
                Value("visit:"),
                Cast("id", CharField()),
                Value("@"),
                Cast("scheduled_at", CharField()),
                output_field=CharField(),
            ),
            a_subject=F("scheduled_at"),
            a_visit=F("id"),
            a_fill=Value(None, output_field=IntegerField()),
        )

    def _pump_columns(
        self, pumps: QuerySet[Pump], *, cycle: Any, subject: Any, fill: Any = None
    ) -> QuerySet[Pump]:
        return pumps.annotate(
            a_pump=F("id"),
            a_patient=F("patient_id"),
            a_clinic=F("patient__clinic_id"),
            a_high_risk=F("patient__high_withdrawal_risk"),
            a_cycle=cycle,
            a_subject=subject,
            a_visit=Value(None, output_field=IntegerField()),
            a_fill=fill if fill is not None else Value(None, output_field=IntegerField()),
        )

    # --- escalation delays -----------------------------------------------------------------

    def escalation_delay(self, severity: str) -> Case:
        """The next escalation time of an alert raised (or escalated) now: the clinic's delay,
        the high-risk one for high-risk patients; a critical alert at least every repeat
        interval."""

        def delay(policy: Policy, high_risk: bool) -> timedelta:
            minutes = (
                policy.high_risk_escalation_minutes if high_risk else policy.escalation_minutes
            )
            if severity == Severity.CRITICAL:
                minutes = min(minutes, policy.critical_repeat_minutes)
            return timedelta(minutes=minutes)

        return self._per_policy(delay, clinic="clinic_id", risk="high_risk")

    def repeat_delay(self) -> Case:
        return self._per_policy(
            lambda policy, _high: timedelta(minutes=policy.critical_repeat_minutes),
            clinic="clinic_id",
            risk="high_risk",
        )

    def _per_policy(
        self, delay: Callable[[Policy, bool], timedelta], *, clinic: str, risk: str
    ) -> Case:
        groups: dict[datetime, Q] = defaultdict(Q)
        for clinic_id, policy in self.policies.items():
            for high in (False, True):
                groups[self.now + delay(policy, high)] |= Q(**{clinic: clinic_id, risk: high})
        return Case(
            *(When(condition, then=Value(at)) for at, condition in groups.items()),
            default=Value(self.now + delay(self.default, True)),
            output_field=DateTimeField(),
        )

    def raise_row_columns(self, kind: str) -> QuerySet[Any]:
        spec = KINDS[kind]
        rows = self.condition(kind)
        next_escalation: Any = Value(None, output_field=DateTimeField())
        if spec.escalates:
            delays = self.escalation_delay(spec.severity)
            # The delay CASE refers to the alert's columns; on the condition rows they are the
            # patient's clinic and risk.
            next_escalation = _rebase(delays, clinic=rows_clinic(rows), risk=rows_risk(rows))
        return rows.annotate(
            a_kind=Value(kind),
            a_severity=Value(spec.severity),
            a_status=Value(AlertStatus.OPEN),
            a_raised_at=Value(self.now, output_field=DateTimeField()),
            a_stage=Value(0),
            a_groups=Value(spec.groups),
            a_initial_groups=Value(spec.groups),
            a_next_escalation=next_escalation,
            a_token=Value(self.token),
            a_ack_via=Value(""),
            a_ack_note=Value(""),
            a_resolution=Value(""),
        )


def rows_clinic(rows: QuerySet[Any]) -> str:
    return "pump__patient__clinic_id" if rows.model is RefillVisit else "patient__clinic_id"


def rows_risk(rows: QuerySet[Any]) -> str:
    return (
        "pump__patient__high_withdrawal_risk"
        if rows.model is RefillVisit
        else "patient__high_withdrawal_risk"
    )


def _rebase(case: Case, *, clinic: str, risk: str) -> Case:
    """The same CASE with its ``clinic_id`` / ``high_risk`` lookups renamed for another model."""
    renames = {"clinic_id": clinic, "high_risk": risk}

    def rename(node: Any) -> Any:
        if isinstance(node, Q):
            copy = Q(*[rename(child) for child in node.children])
            copy.connector, copy.negated = node.connector, node.negated
            return copy
        if isinstance(node, tuple):
            name, value = node
            return (renames.get(name, name), value)
        return node

    whens = [When(rename(when.condition), then=when.result) for when in case.cases]
    return Case(*whens, default=case.default, output_field=case.output_field)


ALERT_COLUMNS = [
    ("pump_id", "a_pump"),
    ("patient_id", "a_patient"),
    ("clinic_id", "a_clinic"),
    ("high_risk", "a_high_risk"),
    ("kind", "a_kind"),
    ("severity", "a_severity"),
    ("cycle_key", "a_cycle"),
    ("visit_id", "a_visit"),
    ("fill_id", "a_fill"),
    ("subject_at", "a_subject"),
    ("status", "a_status"),
    ("raised_at", "a_raised_at"),
    ("stage", "a_stage"),
    ("recipient_groups", "a_groups"),
    ("initial_groups", "a_initial_groups"),
    ("next_escalation_at", "a_next_escalation"),
    ("sweep_token", "a_token"),
    ("acknowledged_via", "a_ack_via"),
    ("acknowledge_note", "a_ack_note"),
    ("resolution", "a_resolution"),
]


def _insert_alerts(rows: QuerySet[Any]) -> int:
    """``INSERT INTO alert … SELECT <rows> ON CONFLICT DO NOTHING``; the number inserted."""
    select = rows.values(*[alias for _column, alias in ALERT_COLUMNS])
    sql, params = select.query.sql_with_params()
    table = Alert._meta.db_table
    columns = ", ".join(connection.ops.quote_name(column) for column, _alias in ALERT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) {sql} ON CONFLICT DO NOTHING", params)  # noqa: S608 - identifiers are ours; values are parameters
        return max(cursor.rowcount, 0)


RESOLUTIONS = {
    AlertKind.REFILL_NOT_BOOKED: "Cleared: a refill was booked, or the pump was refilled.",
    AlertKind.REFILL_OVERDUE: "Cleared: a refill was booked, or the pump was refilled.",
    AlertKind.REFILL_BOOKED_LATE: "Cleared: the visit was moved, completed or cancelled.",
    AlertKind.REFILL_BOOKED_AFTER_ALARM: "Cleared: the visit was moved, completed or cancelled.",
    AlertKind.REFILL_REMINDER: "Cleared: the visit took place, was moved or was cancelled.",
    AlertKind.MISSED_REFILL: "Cleared: the refill was recorded, or the visit was moved or "
    "cancelled.",
    AlertKind.RESERVOIR_LOW: "Cleared: the pump was refilled or its program changed.",
    AlertKind.RESERVOIR_EMPTY_SOON: "Cleared: the pump was refilled or its program changed.",
    AlertKind.DEVICE_REPLACEMENT: "Cleared: the pump was replaced or its dates changed.",
    AlertKind.STABILITY_LIMIT: "Cleared: the pump was refilled.",
    AlertKind.PROJECTION_FAILED: "Cleared: the pump can be projected again.",
}


def _resolve_cleared(sweep: Sweep, kind: str) -> int:
    """Resolve the open alerts of ``kind`` whose condition (in the same cycle) no longer
    holds."""
    rows = sweep.condition(kind)
    pump_ref = "pump_id" if rows.model is RefillVisit else "pk"
    still = rows.filter(**{pump_ref: OuterRef("pump_id")}).filter(a_cycle=OuterRef("cycle_key"))
    return (
        Alert.objects.filter(status=AlertStatus.OPEN, kind=kind)
        .filter(~Exists(still))
        .update(
            status=AlertStatus.RESOLVED,
            resolved_at=sweep.now,
            resolution=RESOLUTIONS[AlertKind(kind)],
            next_escalation_at=None,
        )
    )


def _escalate(sweep: Sweep) -> int:
    """Move every open, unacknowledged alert whose escalation time has come to its next stage:
    stage 1 the clinician on call, stage 2 the clinic lead, later stages (critical alerts only)
    everyone, again and again until someone acknowledges."""
    critical = Q(severity=Severity.CRITICAL)
    first_delay = {
        severity: sweep.escalation_delay(severity) for severity in (Severity.CRITICAL, "other")
    }
    return Alert.objects.filter(
        status=AlertStatus.OPEN,
        acknowledged_at__isnull=True,
        next_escalation_at__isnull=False,
        next_escalation_at__lte=sweep.now,
    ).update(
        stage=F("stage") + 1,
        sweep_token=sweep.token,
        recipient_groups=Case(
            When(stage=0, then=Value(ON_CALL)),
            When(stage=1, then=Value(LEAD)),
            default=Value(ALL_GROUPS),
            output_field=IntegerField(),
        ),
        next_escalation_at=Case(
            When(Q(stage=0) & critical, then=first_delay[Severity.CRITICAL]),
            When(stage=0, then=first_delay["other"]),
            When(critical, then=sweep.repeat_delay()),
            default=Value(None, output_field=DateTimeField()),
            output_field=DateTimeField(),
        ),
    )


_STAFF = (NURSES, ON_CALL, LEAD)


def _group_join(bit: int) -> tuple[str, list[Any]]:
    """SQL joining an alert ``a`` to the care-team rows ``m`` of one recipient group."""
    clinician = CareRole.CLINICIAN
    if bit == CAREGIVERS:
        return "m.patient_id = a.patient_id AND m.role = %s", [CareRole.CAREGIVER]
    if bit == NURSES:
        # A clinic with no nurse: its clinicians are the staff who must hear about it.
        return (
            "m.clinic_id = a.clinic_id AND (m.role = %s OR (m.role = %s AND NOT EXISTS ("
            "SELECT 1 FROM pumps_careteammember m2 WHERE m2.clinic_id = a.clinic_id "
            "AND m2.role = %s)))",
            [CareRole.NURSE, clinician, CareRole.NURSE],
        )
    flag = "is_on_call" if bit == ON_CALL else "is_clinic_lead"
    return (
        f"m.clinic_id = a.clinic_id AND m.role = %s AND (m.{flag} = %s OR NOT EXISTS ("  # noqa: S608 - the column name is one of two constants
        f"SELECT 1 FROM pumps_careteammember m2 WHERE m2.clinic_id = a.clinic_id "
        f"AND m2.role = %s AND m2.{flag} = %s))",
        [clinician, True, clinician, True],
    )


def _queue_deliveries(sweep: Sweep) -> int:
    """One queued delivery per recipient of each alert this sweep raised or escalated. Staff
    groups first, so someone who is both staff and a caregiver gets the staff email."""
    total = 0
    with connection.cursor() as cursor:
        for bit in (*_STAFF, CAREGIVERS):
            join, join_params = _group_join(bit)
            audience = Audience.CAREGIVER if bit == CAREGIVERS else Audience.STAFF
            masks = masks_with(bit)
            cursor.execute(
                "INSERT INTO alerts_delivery (alert_id, user_id, to_email, audience, stage, "  # noqa: S608 - fixed SQL; values are parameters
                "status, attempts, next_attempt_at, created_at, last_error) "
                "SELECT a.id, u.id, u.email, %s, a.stage, %s, 0, %s, %s, '' "
                "FROM alerts_alert a "
                f"JOIN pumps_careteammember m ON {join} "
                "JOIN accounts_user u ON u.id = m.user_id "
                "WHERE a.sweep_token = %s AND a.status = %s "
                f"AND a.recipient_groups IN ({', '.join(['%s'] * len(masks))}) "
                "AND u.is_active = %s AND u.email <> '' "
                "ON CONFLICT DO NOTHING",
                [
                    audience,
                    DeliveryStatus.QUEUED,
                    sweep.now,
                    sweep.now,
                    *join_params,
                    sweep.token,
                    AlertStatus.OPEN,
                    *masks,
                    True,
                ],
            )
            total += max(cursor.rowcount, 0)
    return total


def _cancel_unsent_of_resolved() -> int:
    """Queued deliveries of alerts resolved before they went out are not sent: the condition
    they were about has cleared."""
    resolved = Alert.objects.filter(pk=OuterRef("alert_id"), status=AlertStatus.RESOLVED)
    return (
        Delivery.objects.filter(status=DeliveryStatus.QUEUED)
        .filter(Exists(resolved))
        .update(status=DeliveryStatus.CANCELLED)
    )


def run_sweep(*, now: datetime | None = None) -> SweepResult:
    """Run one sweep in one transaction (see the module docstring)."""
    started = time.monotonic()
    now = now or timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        sweep = Sweep(now=now, policies=clinic_policies(), token=token)
        escalated = _escalate(sweep)
        raised = sum(_insert_alerts(sweep.raise_row_columns(kind)) for kind in KINDS)
        resolved = sum(_resolve_cleared(sweep, kind) for kind in KINDS if kind not in EVENT_KINDS)
        queued = _queue_deliveries(sweep)
        cancelled = _cancel_unsent_of_resolved()
        duration_ms = int((time.monotonic() - started) * 1000)
        state = SweepState(
            id=1,
            last_started_at=now,
            last_finished_at=timezone.now(),
            duration_ms=duration_ms,
            raised=raised,
            escalated=escalated,
            resolved=resolved,
            deliveries_queued=queued,
        )
        # One upsert statement, the same on the first sweep and every later one.
        SweepState.objects.bulk_create(
            [state],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=[f.name for f in SweepState._meta.concrete_fields if f.name != "id"],
        )
    result = SweepResult(
        raised=raised,
        escalated=escalated,
        resolved=resolved,
        deliveries_queued=queued,
        cancelled=cancelled,
        duration_ms=duration_ms,
        token=token,
    )
    logger.info(
        "alert sweep: %d raised, %d escalated, %d resolved, %d deliveries queued, %d cancelled "
        "in %d ms",
        raised,
        escalated,
        resolved,
        queued,
        cancelled,
        duration_ms,
    )
    return result


__all__ = ["Policy", "SweepResult", "clinic_policies", "run_sweep"]
