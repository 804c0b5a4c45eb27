"""Fixtures of the audit tests: the API tests' seeded world (tests/api/conftest.py) with a
clinic lead and calendar feeds, for the access-log and audited-route tables."""

from dataclasses import dataclass
from typing import Any

import pytest

from pumps.models import CareTeamMember, Patient, ReservoirFill
from refills.models import CalendarFeed, FeedKind
from tests.api.conftest import (  # noqa: F401 (fixtures, found by pytest through this module)
    Seeded,
    api_as,
    api_clock,
    make_pumps,
    seeded,
)


@dataclass
class Scene:
    """The seeded world (patients A1, A2 of clinic A and B1 of clinic B, each with a filled
    pump, a program, a booked visit and an open alert; the clock pinned at ``SEED_NOW``), the
    clinician of clinic A made its clinic lead, and a calendar feed for the nurse and for
    caregiver A."""

    seeded: Seeded
    fills: dict[str, ReservoirFill]
    nurse_feed: CalendarFeed
    caregiver_feed: CalendarFeed

    @property
    def world(self) -> Any:
        return self.seeded.world

    def patient(self, key: str) -> Patient:
        return {
            "a1": self.world.patient_a1,
            "a2": self.world.patient_a2,
            "b1": self.world.patient_b1,
        }[key]


@pytest.fixture
def scene(seeded: Seeded) -> Scene:  # noqa: F811 (the fixture imported above)
    world = seeded.world
    CareTeamMember.objects.filter(user=world.clinician, clinic=world.clinic_a).update(
        is_clinic_lead=True
    )
    return Scene(
        seeded=seeded,
        fills={key: pump.fills.latest("filled_at") for key, pump in seeded.pumps.items()},
        nurse_feed=CalendarFeed.objects.create(
            user=world.nurse, kind=FeedKind.CLINIC, clinic=world.clinic_a
        ),
        caregiver_feed=CalendarFeed.objects.create(user=world.caregiver_a, kind=FeedKind.CAREGIVER),
    )
