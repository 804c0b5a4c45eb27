"""The soak's data, through the app's own services: the demo clinic, soak patients whose refills
are due (or soon will be), fast escalation so deliveries keep flowing, API tokens; the intake of
new due patients during the run; and, at the end, the database's word on every acknowledged
write and every alert email.

Runs in the soak script's own Django (the production settings the stack runs with).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from typing import Any

# Soak pumps: SynchroMed II 20 mL at 500 mcg/mL and 300 mcg/day (0.6 mL/day): from a full
# reservoir the low-reservoir alarm (2 mL) is 30 days after the fill, the reservoir empty at
# 33⅓ days, the refill due 7 days before the alarm (10 at high withdrawal risk).
PUMP_MODEL = "8637-20"
CONCENTRATION = D("500")
DOSE = D("300")
SOAK_MRN_PREFIX = "S-"
# Days since the last fill, by the pump's number modulo 4: overdue with the reservoir low and
# empty within 72 h; in the 14-day "not booked" window; quiet (twice), until a writer's part
# fill or program change brings them due.
FILL_AGES = ((27.0, 31.5), (10.0, 20.0), (0.5, 8.0), (0.5, 8.0))


@dataclass
class World:
    web_users: list[str]
    password: str
    patient_ids: list[int]
    pump_ids: list[int]
    soak_pump_ids: list[int]
    read_tokens: list[str]
    write_tokens: list[str]
    two_factor_field: bool
    intake: list[int] = field(default_factory=list)  # pumps added during the run


def _users() -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    return {u.username: u for u in get_user_model().objects.all()}


def seed_world(
    *, pumps: int, readers: int, writers: int, escalation_minutes: int, now: datetime
) -> World:
    """The demo clinic (``seed_demo``), then ``pumps`` soak patients in it, every clinic with
    two-factor sign-in off (when the model has the setting) and fast escalation, and one API
    token per API client."""
    from accounts.services import api_token_issue
    from alerts.models import AlertPolicy
    from pumps.demo import DEMO_CLINIC, DEMO_PASSWORD, seed_demo
    from pumps.models import Clinic, Patient, Pump, PumpStatus

    seed_demo(now=now)
    # Two-factor sign-in is for people; the soak's browser clients sign in with a password. The
    # setting may not exist in every version, so only where the model has it.
    two_factor = any(f.name == "require_two_factor" for f in Clinic._meta.get_fields())
    if two_factor:
        Clinic.objects.update(require_two_factor=False)
    # Escalation in minutes, not hours: escalated and repeated emails flow during the run.
    for clinic in Clinic.objects.all():
        AlertPolicy.objects.update_or_create(
            clinic=clinic,
            defaults={
                "escalation_minutes": escalation_minutes,
                "high_risk_escalation_minutes": max(1, escalation_minutes // 2),
                "critical_repeat_minutes": escalation_minutes,
            },
        )
    clinic = Clinic.objects.get(name=DEMO_CLINIC)
    soak_pumps = [add_pump(number=n, now=now).pk for n in range(1, pumps + 1)]
    users = _users()
    integrator = users["integrator"]

    def token(scope: str, n: int) -> str:
        _row, clear = api_token_issue(
            actor=None,
            user=integrator,
            scope=scope,
            name=f"soak {scope} client {n}",
            expires_in_days=1,
        )
        return clear

    return World(
        web_users=["nurse", "clinician"],
        password=DEMO_PASSWORD,
        patient_ids=list(
            Patient.objects.filter(clinic=clinic).order_by("pk").values_list("pk", flat=True)
        ),
        pump_ids=list(
            Pump.objects.filter(patient__clinic=clinic, status=PumpStatus.ACTIVE)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
        soak_pump_ids=soak_pumps,
        read_tokens=[token("read", n) for n in range(1, readers + 1)],
        write_tokens=[token("write", n) for n in range(1, writers + 1)],
        two_factor_field=two_factor,
    )


def add_pump(*, number: int, now: datetime, fill_age_days: float | None = None) -> Any:
    """One soak patient with a pump, its program and its last fill, through the services; every
    other one with a caregiver (who gets the caregiver emails), every fifth at high withdrawal
    risk (SCI at T4)."""
    from dosing.models import DrugProduct, ProductUse
    from pumps.demo import CATHETER_FOR, DEMO_CLINIC, DEMO_MEDTRONIC_VOLUME_PER_CM_ML
    from pumps.models import CareRole, CatheterModel, Clinic, PumpModel
    from pumps.services import (
        care_team_add,
        patient_create,
        pump_implant,
        pump_program_create,
        reservoir_fill_record,
    )

    users = _users()
    clinician, nurse, admin = users["clinician"], users["nurse"], users["admin"]
    clinic = Clinic.objects.get(name=DEMO_CLINIC)
    model = PumpModel.objects.get(model_number=PUMP_MODEL)
    catheter = CatheterModel.objects.get(model_number=CATHETER_FOR[PUMP_MODEL])
    product = (
        DrugProduct.objects.filter(
            use=ProductUse.PUMP_FILL, is_active=True, concentration_mcg_per_ml=CONCENTRATION
        )
        .order_by("-container_volume_ml")
        .first()
    )
    mrn = f"{SOAK_MRN_PREFIX}{number:05d}"
    patient = patient_create(
        actor=clinician,
        clinic=clinic,
        mrn=mrn,
        given_name=f"Soak{number}",
        family_name=f"Patient{number:05d}",
        date_of_birth=date(1950 + number % 50, 1 + number % 12, 1 + number % 28),
        spasticity_origin="spinal",
        sci_level="T4" if number % 5 == 0 else "L1",
    )
    if number % 2 == 0:
        from django.contrib.auth import get_user_model

        family, _created = get_user_model().objects.get_or_create(
            username=f"soak-family-{number}",
            defaults={"email": f"family-{number}@soak.itb.invalid", "first_name": "Family"},
        )
        care_team_add(
            actor=admin,
            user=family,
            role=CareRole.CAREGIVER,
            patient=patient,
            relationship="Family",
        )
    implanted_on = (now - timedelta(days=730)).date()
    pump = pump_implant(
        actor=clinician,
        patient=patient,
        pump_model=model,
        serial_number=f"SOAK-{number:05d}",
        implanted_on=implanted_on,
        catheter_model=catheter,
        catheter_length_cm=D("66"),
        catheter_volume_per_cm_ml=catheter.volume_per_cm_ml or DEMO_MEDTRONIC_VOLUME_PER_CM_ML,
        catheter_lot_number=f"L{number:05d}",
    )
    pump_program_create(
        actor=clinician,
        pump=pump,
        effective_from=datetime.combine(
            implanted_on + timedelta(days=1), datetime.min.time(), tzinfo=UTC
        )
        + timedelta(hours=12),
        concentration_mcg_per_ml=CONCENTRATION,
        mode="simple",
        daily_dose_mcg=DOSE,
        reason="Maintenance program after titration.",
        verified_by=nurse,
    )
    if fill_age_days is None:
        low, high = FILL_AGES[number % len(FILL_AGES)]
        fill_age_days = low + (high - low) * ((number * 7919) % 97) / 96
    filled_at = now - timedelta(days=fill_age_days)
    reservoir_fill_record(
        actor=nurse,
        pump=pump,
        filled_at=filled_at,
        volume_ml=model.reservoir_capacity_ml,
        concentration_mcg_per_ml=CONCENTRATION,
        product=product,
        lot_number=f"LOT-{number:05d}",
        expiry_date=(filled_at + timedelta(days=400)).date(),
    )
    pump.refresh_from_db()
    return pump


class Intake(threading.Thread):
    """New patients whose refill is already due, one every ``every`` seconds (a clinic taking
    over patients from another): their alerts are raised at the next sweep, whatever the
    writers do. Their pumps join ``pool`` (the writers' shared pumps)."""

    def __init__(
        self, *, every: float, first_number: int, pool: list[int], stop: threading.Event
    ) -> None:
        super().__init__(name="intake", daemon=True)
        self.every = every
        self.number = first_number
        self.pool = pool
        self.stop_event = stop
        self.added: list[int] = []
        self.failure = ""

    def run(self) -> None:
        from django.db import connection
        from django.utils import timezone

        try:
            while not self.stop_event.wait(self.every):
                self.number += 1
                pump = add_pump(number=self.number, now=timezone.now(), fill_age_days=29.0)
                self.added.append(pump.pk)
                self.pool.append(pump.pk)
        except Exception as exc:  # shown in the report
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()


# --- the database's word at the end ------------------------------------------------------------


def check_writes(writes: list[Any]) -> dict[str, Any]:
    """Each acknowledged write looked up in the database: the row it named, with what it said
    it wrote. A write the server acknowledged and the database does not hold is lost."""
    from alerts.models import Alert
    from pumps.models import PumpProgram, ReservoirFill
    from refills.models import RefillVisit, VisitStatus

    def ids(kind: str, key: str) -> set[int]:
        return {int(w.ids[key]) for w in writes if w.kind == kind}

    visit_ids = ids("book refill", "visit") | ids("complete refill", "visit")
    visit_ids |= ids("cancel refill", "visit")
    visits = {
        v["pk"]: v
        for v in RefillVisit.objects.filter(pk__in=visit_ids).values(
            "pk", "pump_id", "status", "fill_id"
        )
    }
    fills = {
        f["pk"]: f
        for f in ReservoirFill.objects.filter(pk__in=ids("complete refill", "fill")).values(
            "pk", "pump_id", "volume_ml"
        )
    }
    programs = {
        p["pk"]: p
        for p in PumpProgram.objects.filter(pk__in=ids("change program", "program")).values(
            "pk", "pump_id", "daily_dose_mcg"
        )
    }
    acknowledged_alerts = set(
        Alert.objects.filter(
            pk__in=ids("acknowledge alert", "alert"), acknowledged_at__isnull=False
        ).values_list("pk", flat=True)
    )

    def found(write: Any) -> bool:
        i = write.ids
        if write.kind == "book refill":
            visit = visits.get(i["visit"])
            return visit is not None and visit["pump_id"] == i["pump"]
        if write.kind == "complete refill":
            visit, fill = visits.get(i["visit"]), fills.get(i["fill"])
            return (
                visit is not None
                and visit["status"] == VisitStatus.COMPLETED
                and visit["fill_id"] == i["fill"]
                and fill is not None
                and fill["pump_id"] == i["pump"]
                and fill["volume_ml"] == D(i["volume_added_ml"])
            )
        if write.kind == "cancel refill":
            visit = visits.get(i["visit"])
            return visit is not None and visit["status"] == VisitStatus.CANCELLED
        if write.kind == "change program":
            program = programs.get(i["program"])
            return (
                program is not None
                and program["pump_id"] == i["pump"]
                and program["daily_dose_mcg"] == D(i["daily_dose_mcg"])
            )
        if write.kind == "acknowledge alert":
            return i["alert"] in acknowledged_alerts
        raise ValueError(f"no check for a {write.kind!r} write")

    by_kind: dict[str, dict[str, int]] = {}
    lost: list[dict[str, Any]] = []
    for write in writes:
        counts = by_kind.setdefault(write.kind, {"acknowledged": 0, "found": 0, "replayed": 0})
        counts["acknowledged"] += 1
        counts["replayed"] += int(write.replayed)
        if found(write):
            counts["found"] += 1
        else:
            lost.append({"kind": write.kind, "at_seconds": round(write.at, 1), **write.ids})
    acknowledged = sum(c["acknowledged"] for c in by_kind.values())
    return {
        "acknowledged": acknowledged,
        "found": acknowledged - len(lost),
        "lost": len(lost),
        "by_kind": by_kind,
        "lost_writes": lost[:50],
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def check_alerts(received: list[tuple[int, float]], *, run_started: float) -> dict[str, Any]:
    """Every delivery that should have been sent (every outbox row but those cancelled because
    their alert was resolved first) against the emails the SMTP sink accepted, each naming its
    delivery in its Message-ID. ``received`` holds (delivery id, wall-clock time accepted)."""
    from alerts.models import Alert, Delivery, DeliveryStatus

    rows = list(Delivery.objects.values_list("pk", "status", "created_at", "stage"))
    due = {pk for pk, status, _at, _stage in rows if status != DeliveryStatus.CANCELLED}
    created = {pk: at for pk, _status, at, _stage in rows}
    copies = Counter(delivery for delivery, _at in received)
    first: dict[int, float] = {}
    for delivery, at in received:
        first[delivery] = min(at, first.get(delivery, at))
    lost = sorted(due - set(copies))
    duplicates = {pk: n for pk, n in copies.items() if n > 1}
    unexpected = sorted(set(copies) - due)
    latency = [first[pk] - created[pk].timestamp() for pk in due & set(first)]
    alerts = Counter(Alert.objects.values_list("kind", flat=True))
    statuses = Counter(status for _pk, status, _at, _stage in rows)
    lost_detail = list(
        Delivery.objects.filter(pk__in=lost[:50]).values(
            "pk", "status", "attempts", "last_error", "alert__kind", "stage", "created_at"
        )
    )
    return {
        "alerts_raised": sum(alerts.values()),
        "alerts_by_kind": dict(sorted(alerts.items())),
        "alerts_escalated": Alert.objects.filter(stage__gt=0).count(),
        "deliveries": len(rows),
        "deliveries_by_status": dict(sorted(statuses.items())),
        "deliveries_escalated": sum(1 for *_rest, stage in rows if stage > 0),
        "due": len(due),
        "emails_received": len(received),
        "delivered": len(due & set(copies)),
        "lost": len(lost),
        "lost_deliveries": [
            {**row, "created_at": row["created_at"].isoformat()} for row in lost_detail
        ],
        "duplicates": len(duplicates),
        "duplicate_copies": sum(n - 1 for n in duplicates.values()),
        "duplicate_deliveries": dict(sorted(duplicates.items())[:50]),
        "unexpected": len(unexpected),
        "unexpected_deliveries": unexpected[:50],
        "latency_p50_s": round(percentile(latency, 50), 1),
        "latency_p99_s": round(percentile(latency, 99), 1),
        "latency_max_s": round(max(latency, default=0.0), 1),
        "first_email_at_s": round(min(first.values(), default=run_started) - run_started, 1),
    }
