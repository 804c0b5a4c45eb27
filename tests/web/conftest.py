"""Helpers for the web page tests: pumps implanted through the service, in any patient."""

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from pumps.models import CatheterModel, Patient, Pump, PumpModel
from pumps.services import pump_implant
from tests.conftest import World


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
