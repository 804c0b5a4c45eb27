"""API clients for every kind of caller of the resource API."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_issue, api_token_revoke
from tests.conftest import World


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def api_as(world: World) -> Callable[[str], APIClient]:
    """``api_as(caller)``: a client for one caller of the matrix.

    Callers: ``clinician``, ``nurse``, ``caregiver_a``, ``caregiver_b``, ``clinician_b`` (signed
    in with a session), ``read_token`` / ``write_token`` (the integrator's API tokens),
    ``caregiver_token`` (a write-scope token of caregiver A), ``expired_token``,
    ``revoked_token`` and ``anonymous``."""

    def make(caller: str) -> APIClient:
        if caller == "anonymous":
            return APIClient()
        if caller in {"clinician", "nurse", "caregiver_a", "caregiver_b", "clinician_b"}:
            client = APIClient()
            client.force_login(getattr(world, caller))
            return client
        if caller in {"read_token", "write_token"}:
            scope = "read" if caller == "read_token" else "write"
            _token, raw = api_token_issue(
                actor=world.admin, user=world.integrator, scope=scope, name=caller
            )
            return bearer(raw)
        if caller == "caregiver_token":
            _token, raw = api_token_issue(
                actor=world.admin, user=world.caregiver_a, scope="write", name=caller
            )
            return bearer(raw)
        if caller == "expired_token":
            token, raw = api_token_issue(
                actor=world.admin, user=world.integrator, scope="write", name=caller
            )
            ApiToken.objects.filter(pk=token.pk).update(
                expires_at=timezone.now() - timedelta(seconds=1)
            )
            return bearer(raw)
        if caller == "revoked_token":
            token, raw = api_token_issue(
                actor=world.admin, user=world.integrator, scope="write", name=caller
            )
            api_token_revoke(actor=world.admin, token=token)
            return bearer(raw)
        raise ValueError(caller)

    return make


# --- A pinned clock, a filled pump and many pumps (tests/api/test_resources.py and
# test_concurrency.py) --------------------------------------------------------------------------
#
# TC-01 (300 mcg/day at 500 mcg/mL, 20 mL, alarm at 2 mL) filled on 1 November 2026 12:00 UTC:
# 0.6 mL/day, so the alarm is 30 days later (1 December 12:00), the pump is empty at 33⅓ days
# (4 December 20:00) and the refill is due 7 days before the alarm (24 November 12:00). The
# program started a week before the fill, so a titration now is not "too soon after a change".

# Imported here so the fixtures above stay untouched.
from collections.abc import Iterator  # noqa: E402
from datetime import UTC, date, datetime  # noqa: E402
from decimal import Decimal  # noqa: E402

import time_machine  # noqa: E402

from pumps.models import CatheterModel, Pump, PumpModel  # noqa: E402
from pumps.services import pump_implant  # noqa: E402
from tests.conftest import program_and_fill  # noqa: E402
from tests.factories import PatientFactory  # noqa: E402

API_FILLED_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
API_NOW = API_FILLED_AT + timedelta(hours=1)
API_DUE_AT = API_FILLED_AT + timedelta(days=23)
API_ALARM_AT = API_FILLED_AT + timedelta(days=30)
API_EMPTY_AT = API_FILLED_AT + timedelta(days=100 / 3)
API_PROGRAM_FROM = API_FILLED_AT - timedelta(days=7)


@pytest.fixture
def api_clock() -> Iterator[time_machine.Traveller]:
    """The clock pinned one hour after the fill; tests move it with ``api_clock.move_to``."""
    with time_machine.travel(API_NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def api_pump(world: World, implanted_pump: Pump, api_clock: time_machine.Traveller) -> Pump:
    """Patient A1's pump, TC-01 filled at ``API_FILLED_AT`` (see above)."""
    return program_and_fill(
        world, implanted_pump, filled_at=API_FILLED_AT, program_from=API_PROGRAM_FROM
    )


@pytest.fixture
def make_pumps(world: World, api_clock: time_machine.Traveller) -> Callable[..., list[Pump]]:
    """``make_pumps(n, filled=True)``: ``n`` new patients of clinic A, each with an implanted
    SynchroMed II 20 mL (TC-01 programmed and filled, the fill one hour later per pump so the
    refill-due times differ), made through the services."""
    made = 0

    def make(count: int, *, filled: bool = True) -> list[Pump]:
        nonlocal made
        pumps = []
        for _ in range(count):
            made += 1
            patient = PatientFactory.create(clinic=world.clinic_a, mrn=f"APIP{made:05d}")
            pump = pump_implant(
                actor=world.clinician,
                patient=patient,
                pump_model=PumpModel.objects.get(model_number="8637-20"),
                serial_number=f"APISN{made:05d}",
                implanted_on=date(2024, 1, 10),
                catheter_model=CatheterModel.objects.get(model_number="8709SC"),
                catheter_length_cm=Decimal("60"),
                catheter_volume_per_cm_ml=Decimal("0.0020"),
            )
            if filled:
                pump = program_and_fill(
                    world,
                    pump,
                    filled_at=API_FILLED_AT - timedelta(hours=made),
                    program_from=API_PROGRAM_FROM,
                )
            pumps.append(pump)
        return pumps

    return make


# --- Seeded records for the permission matrix and schemathesis (tests/api/test_matrix.py,
# tests/api/test_schemathesis.py) -------------------------------------------------------------

# Imported here, not at the top: this block was appended to the file (the names imported by the
# block above are used as they are).
from dataclasses import dataclass  # noqa: E402

from alerts.models import Alert, AlertStatus  # noqa: E402
from alerts.sweep import run_sweep  # noqa: E402
from pumps.models import CareTeamMember, PumpProgram  # noqa: E402
from refills.models import RefillVisit  # noqa: E402
from refills.services import refill_schedule  # noqa: E402

# A pinned clock: TC-01 fills on 1 November 2026 12:00 UTC (0.6 mL/day from 20 mL, alarm at
# 2 mL; programmed a week before): refill due on 24 November 12:00, so on 10 November 12:00 (the
# default 14-day lead) the sweep raises "refill not booked" for every pump. The visits are
# booked after that sweep, so the alerts stay open.
SEED_FILLED_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SEED_DUE_AT = SEED_FILLED_AT + timedelta(days=23)
SEED_NOW = SEED_DUE_AT - timedelta(days=14)
SEED_VISIT_AT = SEED_DUE_AT - timedelta(days=2)


@dataclass
class Seeded:
    """One filled pump per patient (A1, A2, B1), each with its current program, a booked
    refill visit and an open alert; ``clock`` is pinned at ``SEED_NOW``."""

    world: World
    clock: time_machine.Traveller
    pumps: dict[str, Pump]
    programs: dict[str, PumpProgram]
    visits: dict[str, RefillVisit]
    alerts: dict[str, Alert]
    caregiver_a_membership: CareTeamMember


@pytest.fixture
def seeded(world: World) -> Iterator[Seeded]:
    with time_machine.travel(SEED_NOW, tick=False) as clock:
        patients = {"a1": world.patient_a1, "a2": world.patient_a2, "b1": world.patient_b1}
        pumps: dict[str, Pump] = {}
        for n, (key, patient) in enumerate(patients.items()):
            pump = pump_implant(
                actor=world.clinician_b if key == "b1" else world.clinician,
                patient=patient,
                pump_model=PumpModel.objects.get(model_number="8637-20"),
                serial_number=f"NGP20000{n}",
                implanted_on=date(2024, 1, 10),
                catheter_model=CatheterModel.objects.get(model_number="8709SC"),
                catheter_length_cm=Decimal("60"),
                catheter_volume_per_cm_ml=Decimal("0.0020"),
            )
            pumps[key] = program_and_fill(
                world,
                pump,
                filled_at=SEED_FILLED_AT,
                program_from=SEED_FILLED_AT - timedelta(days=7),
            )
        run_sweep()
        visits = {
            key: refill_schedule(
                actor=world.clinician_b if key == "b1" else world.nurse,
                pump=pump,
                scheduled_at=SEED_VISIT_AT,
            )
            for key, pump in pumps.items()
        }
        alerts = {
            key: Alert.objects.get(pump=pump, status=AlertStatus.OPEN)
            for key, pump in pumps.items()
        }
        programs = {
            key: PumpProgram.objects.filter(pump=pump).order_by("-effective_from")[0]
            for key, pump in pumps.items()
        }
        yield Seeded(
            world=world,
            clock=clock,
            pumps={key: Pump.objects.get(pk=pump.pk) for key, pump in pumps.items()},
            programs=programs,
            visits=visits,
            alerts=alerts,
            caregiver_a_membership=CareTeamMember.objects.get(
                user=world.caregiver_a, patient=world.patient_a1
            ),
        )
