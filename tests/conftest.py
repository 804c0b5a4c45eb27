"""The small fixed world every test can use: two clinics; a clinician, a nurse and an integrator
in clinic A; a clinician in clinic B; a caregiver of patient A1 and a caregiver of patient A2;
patient B1 in clinic B. Plus helpers that refuse to run a PostgreSQL-only test anywhere else."""

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from dosing.models import DrugProduct
from pumps.models import CareRole, CatheterModel, Clinic, Patient, Pump, PumpModel
from pumps.services import (
    care_team_add,
    pump_implant,
    pump_program_create,
    reservoir_fill_record,
)
from tests.factories import ClinicFactory, PatientFactory, UserFactory


@dataclass
class World:
    clinic_a: Clinic
    clinic_b: Clinic
    admin: Any
    clinician: Any
    nurse: Any
    integrator: Any
    clinician_b: Any
    caregiver_a: Any
    caregiver_b: Any
    stranger: Any
    patient_a1: Patient
    patient_a2: Patient
    patient_b1: Patient

    def users(self) -> list[Any]:
        """Every user of this world and an anonymous visitor, for rules that must hold for
        each of them."""
        from django.contrib.auth.models import AnonymousUser

        return [
            self.clinician,
            self.nurse,
            self.integrator,
            self.clinician_b,
            self.caregiver_a,
            self.caregiver_b,
            self.stranger,
            self.admin,
            AnonymousUser(),
        ]


@pytest.fixture
def world(db: None) -> World:
    admin = UserFactory.create(username="root", is_superuser=True, is_staff=True)
    clinic_a = ClinicFactory.create(name="Clinic A")
    clinic_b = ClinicFactory.create(name="Clinic B", time_zone="America/Chicago")
    users = {
        name: UserFactory.create(username=name)
        for name in (
            "clinician",
            "nurse",
            "integrator",
            "clinician_b",
            "caregiver_a",
            "caregiver_b",
            "stranger",
        )
    }
    # Fixed, distinct names: tests check that one patient's name is absent from another's page.
    patient_a1 = PatientFactory.create(
        clinic=clinic_a, mrn="A1", given_name="Alma", family_name="Atwood"
    )
    patient_a2 = PatientFactory.create(
        clinic=clinic_a, mrn="A2", given_name="Bruno", family_name="Brightwater"
    )
    patient_b1 = PatientFactory.create(
        clinic=clinic_b, mrn="B1", given_name="Celine", family_name="Castellanos"
    )
    care_team_add(actor=admin, user=users["clinician"], role=CareRole.CLINICIAN, clinic=clinic_a)
    care_team_add(actor=admin, user=users["nurse"], role=CareRole.NURSE, clinic=clinic_a)
    care_team_add(actor=admin, user=users["integrator"], role=CareRole.INTEGRATOR, clinic=clinic_a)
    care_team_add(actor=admin, user=users["clinician_b"], role=CareRole.CLINICIAN, clinic=clinic_b)
    care_team_add(
        actor=admin, user=users["caregiver_a"], role=CareRole.CAREGIVER, patient=patient_a1
    )
    care_team_add(
        actor=admin, user=users["caregiver_b"], role=CareRole.CAREGIVER, patient=patient_a2
    )
    return World(
        clinic_a=clinic_a,
        clinic_b=clinic_b,
        admin=admin,
        patient_a1=patient_a1,
        patient_a2=patient_a2,
        patient_b1=patient_b1,
        **users,
    )


@pytest.fixture
def implanted_pump(world: World) -> Pump:
    """A SynchroMed II 20 mL in patient A1 with an 8709SC catheter of 60 cm."""
    return pump_implant(
        actor=world.clinician,
        patient=world.patient_a1,
        pump_model=PumpModel.objects.get(model_number="8637-20"),
        serial_number="NGP100001",
        implanted_on=date(2024, 1, 10),
        catheter_model=CatheterModel.objects.get(model_number="8709SC"),
        catheter_length_cm=Decimal("60"),
        catheter_volume_per_cm_ml=Decimal("0.0020"),
    )


@pytest.fixture
def implant(world: World) -> Callable[..., Pump]:
    """``implant(patient, serial, model_number="8637-20", **extra)`` records an active pump."""

    def make(patient: Patient, serial: str, model_number: str = "8637-20", **extra: object) -> Pump:
        return pump_implant(
            actor=world.admin,
            patient=patient,
            pump_model=PumpModel.objects.get(model_number=model_number),
            serial_number=serial,
            implanted_on=date(2024, 1, 10),
            catheter_model=CatheterModel.objects.get(model_number="8709SC"),
            catheter_length_cm=Decimal("60"),
            catheter_volume_per_cm_ml=Decimal("0.0020"),
            **extra,  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def postgres(db: None) -> None:
    """For tests of what only PostgreSQL enforces (triggers). They fail, never skip, elsewhere:
    ``make test`` always runs on PostgreSQL."""
    if connection.vendor != "postgresql":
        pytest.fail(
            "this test needs PostgreSQL: run it with `make test` (DATABASE_URL=postgres://...)"
        )


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pump_fill_product(concentration: str = "500") -> DrugProduct:
    """A labeled pump-fill product of the drug library (seeded by a migration)."""
    found = DrugProduct.objects.filter(
        concentration_mcg_per_ml=Decimal(concentration), use="pump_fill"
    ).first()
    assert found is not None, concentration
    return found


def program_and_fill(
    world: World,
    pump: Pump,
    *,
    filled_at: datetime,
    program_from: datetime,
    daily_dose_mcg: str = "300",
    concentration: str = "500",
    volume_ml: str = "20",
    reason: str = "Maintenance",
    lot_number: str = "",
) -> Pump:
    """Give ``pump`` a simple program and a fill through the services (TC-01 by default:
    300 mcg/day at 500 mcg/mL, 20 mL), and return it fresh from the database."""
    pump_program_create(
        actor=world.clinician,
        pump=pump,
        effective_from=program_from,
        concentration_mcg_per_ml=Decimal(concentration),
        mode="simple",
        daily_dose_mcg=Decimal(daily_dose_mcg),
        reason=reason,
    )
    reservoir_fill_record(
        actor=world.nurse,
        pump=pump,
        filled_at=filled_at,
        volume_ml=Decimal(volume_ml),
        concentration_mcg_per_ml=Decimal(concentration),
        product=pump_fill_product(concentration),
        lot_number=lot_number,
    )
    return Pump.objects.select_related("patient__clinic", "pump_model").get(pk=pump.pk)
