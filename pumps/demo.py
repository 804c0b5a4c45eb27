"""The demo clinic: two clinics, one user per role and about twenty patients with varied pumps,
programs, fills and risk factors, so the app looks like a real clinic on a fresh clone.

Everything is written through the services (so the audit trail is real) and keyed by username
or MRN, so running it again changes nothing.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from dosing.engine.dilution import solve_dilution
from dosing.models import DrugProduct, ProductUse
from dosing.services import dilution_record
from pumps.models import CareRole, CareTeamMember, CatheterModel, Clinic, Patient, PumpModel
from pumps.services import (
    StepInput,
    care_team_add,
    clinic_create,
    patient_create,
    pump_implant,
    pump_program_create,
    reservoir_fill_record,
)
from refills.services import refill_schedule

DEMO_PASSWORD = "itb-demo-2026"  # noqa: S105 - documented demo login, local use only
DEMO_CLINIC = "Riverside ITB Clinic"
SECOND_CLINIC = "Northgate Neurology"


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    is_superuser: bool = False


USERS = [
    DemoUser("admin", "Ada", "Admin", is_superuser=True),
    DemoUser("clinician", "Claire", "Okafor"),
    DemoUser("nurse", "Nadia", "Brennan"),
    DemoUser("caregiver", "Carlos", "Mendes"),
    DemoUser("caregiver2", "Grace", "Lindqvist"),
    DemoUser("integrator", "EHR", "Interface"),
    DemoUser("clinician2", "Henry", "Adeyemi"),
]


@dataclass(frozen=True)
class DemoPatient:
    clinic: str
    mrn: str
    given: str
    family: str
    born: date
    origin: str
    pump: str  # pump model number
    dose: D | None  # mcg/day for simple programs
    concentration: D
    days_since_fill: float
    sci: str = ""
    communication: bool = False
    withdrawal: bool = False
    steps: tuple[tuple[str, D], ...] = ()
    fill_ml: D | None = None  # default: full reservoir
    earlier_dose: D | None = None  # a program change at the last refill
    fixed_rate_ml_per_day: D | None = None
    implant_years_ago: float = 3
    eri_in_days: int | None = None  # elective replacement indicator expected in N days
    alarm_ml: D | None = None  # default: the pump model's
    booking: str = ""  # "on_time", "late" (after the due date, with a reason) or "" (none)
    notes: str = ""
    caregivers: tuple[str, ...] = field(default_factory=tuple)


R, N = DEMO_CLINIC, SECOND_CLINIC
SM20, SM40, PR20, PR40, CODMAN = "8637-20", "8637-40", "13827", "16827", "CODMAN-3000"
TC06_STEPS = (("06:00", D("12.5")), ("22:00", D("25")))
SIX_STEPS = (
    ("00:00", D("20")),
    ("05:00", D("15")),
    ("08:00", D("25")),
    ("12:00", D("18")),
    ("17:00", D("22")),
    ("21:00", D("30")),
)

# One row per patient: clinic, MRN, name, birth date, origin, pump, dose (mcg/day), concentration
# (mcg/mL), days since the last fill, then risk factors and variations.
# fmt: off
PATIENTS = [
    DemoPatient(R, "R-1001", "Marcus", "Hale", date(1979, 4, 12), "spinal", SM20, D("300"), D("500"), 26, sci="T4", caregivers=("caregiver",)),  # noqa: E501
    DemoPatient(R, "R-1002", "Elena", "Varga", date(1988, 9, 3), "cerebral", SM20, None, D("500"), 12, steps=TC06_STEPS, communication=True, caregivers=("caregiver2",)),  # noqa: E501
    DemoPatient(R, "R-1003", "Tobias", "Reed", date(1965, 1, 22), "spinal", SM40, D("600"), D("2000"), 95, sci="C6", withdrawal=True, earlier_dose=D("520")),  # noqa: E501
    DemoPatient(R, "R-1004", "Amara", "Singh", date(1992, 7, 30), "spinal", SM40, D("450"), D("1000"), 40, sci="L1"),  # noqa: E501
    DemoPatient(R, "R-1005", "Jonah", "Price", date(2013, 2, 14), "cerebral", SM20, D("150"), D("500"), 35, communication=True, implant_years_ago=2),  # noqa: E501
    DemoPatient(R, "R-1006", "Beatrice", "Lowell", date(1958, 11, 5), "spinal", PR20, D("350"), D("500"), 18, sci="T10"),  # noqa: E501
    DemoPatient(R, "R-1007", "Samuel", "Ortiz", date(1975, 6, 18), "spinal", SM20, D("800"), D("2000"), 38, sci="T2", fill_ml=D("18")),  # noqa: E501
    DemoPatient(R, "R-1008", "Priya", "Nair", date(2001, 3, 9), "cerebral", SM40, None, D("1000"), 60, steps=SIX_STEPS),  # noqa: E501
    DemoPatient(R, "R-1009", "Walter", "Kim", date(1949, 12, 1), "spinal", SM20, D("250"), D("500"), 5, withdrawal=True, implant_years_ago=6.6, eri_in_days=45, notes="Battery approaching elective replacement."),  # noqa: E501
    DemoPatient(R, "R-1010", "Lucia", "Ferreira", date(1983, 8, 27), "spinal", PR40, D("500"), D("1000"), 70, sci="T8", earlier_dose=D("450")),  # noqa: E501
    DemoPatient(R, "R-1011", "Omar", "Haddad", date(1970, 5, 16), "cerebral", SM20, D("200"), D("500"), 44),  # noqa: E501
    DemoPatient(R, "R-1012", "Hannah", "Brooks", date(2010, 10, 10), "cerebral", SM20, D("120"), D("500"), 20, communication=True, implant_years_ago=1.2),  # noqa: E501
    DemoPatient(R, "R-1013", "Dmitri", "Volkov", date(1968, 4, 2), "spinal", CODMAN, None, D("400"), 10, sci="T12", fixed_rate_ml_per_day=D("1.0"), fill_ml=D("30"), alarm_ml=D("3")),  # noqa: E501
    DemoPatient(R, "R-1014", "Ines", "Castillo", date(1995, 1, 19), "spinal", SM40, D("700"), D("2000"), 101, sci="T5", notes="Refill overdue and not booked: the alert sweep emails the nurses."),  # noqa: E501
    DemoPatient(N, "N-2001", "George", "Whitfield", date(1961, 9, 14), "spinal", SM20, D("400"), D("500"), 22, sci="T3"),  # noqa: E501
    DemoPatient(N, "N-2002", "Fatima", "Rahman", date(1986, 2, 28), "cerebral", SM40, D("300"), D("1000"), 50),  # noqa: E501
    DemoPatient(N, "N-2003", "Peter", "Novak", date(1977, 7, 7), "spinal", PR20, D("550"), D("2000"), 60, sci="L2"),  # noqa: E501
    DemoPatient(N, "N-2004", "Aiko", "Tanaka", date(2012, 6, 1), "cerebral", SM20, D("90"), D("500"), 15, withdrawal=True, implant_years_ago=1.5),  # noqa: E501
    DemoPatient(N, "N-2005", "Robert", "Ellison", date(1955, 3, 3), "spinal", SM40, None, D("2000"), 30, steps=TC06_STEPS, sci="C7"),  # noqa: E501
    DemoPatient(N, "N-2006", "Sofia", "Marin", date(1990, 12, 12), "spinal", SM20, D("320"), D("500"), 8),  # noqa: E501
]
# fmt: on

# Booked refills in the demo: most on time, one booked after the due date with its reason,
# the rest not booked yet (the board flags them).
BOOKINGS = {
    "R-1001": "on_time", "R-1002": "on_time", "R-1004": "on_time", "R-1006": "late",
    "R-1008": "on_time", "R-1010": "on_time", "R-1011": "on_time", "R-1013": "on_time",
    "N-2002": "on_time", "N-2003": "on_time",
}  # fmt: skip

CATHETER_FOR = {
    SM20: "8709SC",
    SM40: "8709SC",
    PR20: "PROMETRA-CATH-110",
    PR40: "PROMETRA-CATH-110",
    CODMAN: "8709SC",
}
# Demo value only: the catalog has no Medtronic volume per cm (domain.md §3.1 ❓), so each demo
# implant records one as a clinic would from the catheter manual.
DEMO_MEDTRONIC_VOLUME_PER_CM_ML = D("0.0022")


def _user(spec: DemoUser):  # type: ignore[no-untyped-def]
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=spec.username,
        defaults={
            "first_name": spec.first_name,
            "last_name": spec.last_name,
            "email": f"{spec.username}@demo.itb.invalid",
            "is_superuser": spec.is_superuser,
            "is_staff": spec.is_superuser,
        },
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def _ensure_member(
    actor, user, role, *, clinic=None, patient=None, lead=False, on_call=False, relationship=""
):  # type: ignore[no-untyped-def]  # noqa: E501
    exists = CareTeamMember.objects.filter(user=user, clinic=clinic, patient=patient).exists()
    if on_call:
        # The alert escalation's second stage (added after the first demo release).
        CareTeamMember.objects.filter(user=user, clinic=clinic).update(is_on_call=True)
    if not exists:
        care_team_add(
            actor=actor,
            user=user,
            role=role,
            clinic=clinic,
            patient=patient,
            is_clinic_lead=lead,
            is_on_call=on_call,
            relationship=relationship,
        )


def _at(day: date, hour: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=tz)


@transaction.atomic
def seed_demo(*, now: datetime | None = None) -> dict[str, int]:
    """Create the demo world if it is not there. Returns counts of what was created."""
    now = now or timezone.now()
    users = {u.username: _user(u) for u in USERS}
    admin = users["admin"]
    created = {"clinics": 0, "patients": 0}

    clinics: dict[str, Clinic] = {}
    for name, tz, phone in (
        (DEMO_CLINIC, settings.CLINIC_TIME_ZONE, "+1 555 0100"),
        (SECOND_CLINIC, "America/Chicago", "+1 555 0200"),
    ):
        clinic = Clinic.objects.filter(name=name).first()
        if clinic is None:
            clinic = clinic_create(
                actor=admin,
                name=name,
                time_zone=tz,
                phone=phone,
                after_hours_phone=phone.replace("01", "19", 1),
                email=f"refills@{name.split()[0].lower()}.itb.invalid",
                # Two-factor authentication stays optional in the demo: its users have no
                # authenticator app, and the published demo logins must work with the password
                # alone. A real clinic keeps the default (required).
                require_two_factor=False,
            )
            created["clinics"] += 1
        elif clinic.require_two_factor:
            # A demo database seeded before clinics had the setting took the new default at
            # migrate; the demo logins need the password alone.
            Clinic.objects.filter(pk=clinic.pk).update(require_two_factor=False)
            audit_record(
                actor=admin,
                instance=clinic,
                action=AuditAction.UPDATE,
                changes={"require_two_factor": [True, False]},
                reason="Demo clinic: two-factor authentication optional (demo users have no "
                "authenticator)",
            )
        clinics[name] = clinic

    demo, second = clinics[DEMO_CLINIC], clinics[SECOND_CLINIC]
    _ensure_member(
        admin, users["clinician"], CareRole.CLINICIAN, clinic=demo, lead=True, on_call=True
    )
    _ensure_member(admin, users["nurse"], CareRole.NURSE, clinic=demo)
    _ensure_member(admin, users["integrator"], CareRole.INTEGRATOR, clinic=demo)
    _ensure_member(
        admin, users["clinician2"], CareRole.CLINICIAN, clinic=second, lead=True, on_call=True
    )

    pump_models = {m.model_number: m for m in PumpModel.objects.all()}
    catheter_models = {m.model_number: m for m in CatheterModel.objects.all()}
    stock = {
        p.concentration_mcg_per_ml: p
        for p in DrugProduct.objects.filter(use=ProductUse.PUMP_FILL, is_active=True).order_by(
            "-container_volume_ml"
        )
    }
    clinician, nurse = users["clinician"], users["nurse"]

    for spec in PATIENTS:
        clinic = clinics[spec.clinic]
        patient = Patient.objects.filter(clinic=clinic, mrn=spec.mrn).first()
        if patient is None:
            patient = _create_patient(
                spec, clinic, clinician, nurse, pump_models, catheter_models, stock, now
            )
            created["patients"] += 1
        for username in spec.caregivers:
            _ensure_member(
                admin, users[username], CareRole.CAREGIVER, patient=patient, relationship="Family"
            )
    return created


def _create_patient(spec, clinic, clinician, nurse, pump_models, catheter_models, stock, now):  # type: ignore[no-untyped-def]
    tz = ZoneInfo(clinic.time_zone)
    patient = patient_create(
        actor=clinician,
        clinic=clinic,
        mrn=spec.mrn,
        given_name=spec.given,
        family_name=spec.family,
        date_of_birth=spec.born,
        spasticity_origin=spec.origin,
        sci_level=spec.sci,
        communication_difficulty=spec.communication,
        history_of_withdrawal=spec.withdrawal,
        notes=spec.notes,
    )
    model = pump_models[spec.pump]
    catheter_model = catheter_models[CATHETER_FOR[spec.pump]]
    last_fill_at = now - timedelta(days=spec.days_since_fill)
    implanted_on = (now - timedelta(days=365 * spec.implant_years_ago)).astimezone(tz).date()
    eri = None
    if spec.eri_in_days is not None:
        eri = now.astimezone(tz).date() + timedelta(days=spec.eri_in_days)
    pump = pump_implant(
        actor=clinician,
        patient=patient,
        pump_model=model,
        serial_number=f"{spec.pump.replace('-', '')}-{spec.mrn}",
        implanted_on=implanted_on,
        catheter_model=catheter_model,
        catheter_length_cm=D("66") if catheter_model.max_length_cm != D("110") else D("98"),
        catheter_volume_per_cm_ml=catheter_model.volume_per_cm_ml
        or DEMO_MEDTRONIC_VOLUME_PER_CM_ML,
        catheter_lot_number=f"L{spec.mrn[-4:]}",
        fixed_flow_rate_ml_per_day=spec.fixed_rate_ml_per_day,
        low_reservoir_alarm_ml=spec.alarm_ml,
        elective_replacement_on=eri,
    )
    capacity = model.reservoir_capacity_ml
    fill_ml = spec.fill_ml or capacity
    product = stock.get(spec.concentration)
    dilution = None
    if product is None:
        # A diluted concentration (the fixed-rate pump): prepared from 500 mcg/mL stock.
        stock_product = stock[D("500")]
        recipe = solve_dilution(
            stock_concentration_mcg_per_ml=float(stock_product.concentration_mcg_per_ml),
            stock_volume_ml=None,
            final_concentration_mcg_per_ml=float(spec.concentration),
            final_volume_ml=float(fill_ml),
        )
        dilution = dilution_record(
            actor=nurse,
            stock_product=stock_product,
            stock_volume_ml=D(repr(recipe.stock_volume_ml)),
            diluent_volume_ml=D(repr(recipe.diluent_volume_ml)),
            prepared_at=last_fill_at - timedelta(hours=2),
            lot_number=f"DIL-{spec.mrn}",
        )
    if not model.is_fixed_rate:
        first_program_at = _at(implanted_on, 12, tz)
        steps = [StepInput(time.fromisoformat(s), r) for s, r in spec.steps]
        mode = "flex" if steps else "simple"
        first_dose = spec.earlier_dose or spec.dose
        pump_program_create(
            actor=clinician,
            pump=pump,
            effective_from=first_program_at,
            concentration_mcg_per_ml=spec.concentration,
            mode=mode,
            daily_dose_mcg=first_dose if mode == "simple" else None,
            steps=steps,
            reason="Maintenance program after titration.",
            verified_by=nurse,
        )
    # The previous refill, one interval before the last, then the last refill.
    previous_fill_at = last_fill_at - timedelta(days=max(spec.days_since_fill, 30))
    for filled_at, removed in ((previous_fill_at, None), (last_fill_at, D("2.4"))):
        if filled_at.date() <= implanted_on:
            continue
        reservoir_fill_record(
            actor=nurse,
            pump=pump,
            filled_at=filled_at,
            volume_ml=fill_ml,
            concentration_mcg_per_ml=spec.concentration,
            product=product if dilution is None else dilution.stock_product,
            dilution=dilution,
            lot_number=f"LOT-{filled_at:%y%m}-{spec.mrn[-2:]}",
            expiry_date=(filled_at + timedelta(days=400)).date(),
            volume_removed_ml=removed,
        )
    if spec.earlier_dose is not None:
        pump_program_create(
            actor=clinician,
            pump=pump,
            effective_from=last_fill_at + timedelta(minutes=20),
            concentration_mcg_per_ml=spec.concentration,
            mode="simple",
            daily_dose_mcg=spec.dose,
            reason="Dose raised at refill for breakthrough spasticity (within the refill limit).",
            verified_by=nurse,
        )
    _book(spec.mrn, pump, nurse, tz, now)
    return patient


def _book(mrn, pump, nurse, tz, now):  # type: ignore[no-untyped-def]
    """Book the demo refill a few days before the due date (or after it, with a reason),
    at 10:00 clinic time, when that is still ahead of us and before the reservoir runs dry."""
    kind = BOOKINGS.get(mrn, "")
    pump.refresh_from_db()
    if not kind or pump.refill_due_at is None or pump.projected_empty_at is None:
        return
    due_day = pump.refill_due_at.astimezone(tz).date()
    day = due_day - timedelta(days=3) if kind == "on_time" else due_day + timedelta(days=1)
    at = datetime.combine(day, time(10, 0), tzinfo=tz)
    earliest = datetime.combine(
        now.astimezone(tz).date() + timedelta(days=1), time(10, 0), tzinfo=tz
    )
    at = max(at, earliest)
    if at >= pump.projected_empty_at:
        return
    refill_schedule(
        actor=nurse,
        pump=pump,
        scheduled_at=at,
        late_reason="Patient travelling; first date transport is available."
        if at > pump.refill_due_at
        else "",
        now=now,
    )
