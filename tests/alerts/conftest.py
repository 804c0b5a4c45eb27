"""Shared set-up of the alert tests: a pump of patient A1 filled on 1 November 2026.

TC-01 (300 mcg/day at 500 mcg/mL, 20 mL, alarm at 2 mL): 0.6 mL/day, so the low-reservoir alarm
is 30 days after the fill (1 December 12:00 UTC), empty at 33⅓ days (4 December 20:00 UTC) and
the refill due 7 days before the alarm (the clinic's buffer): 24 November 12:00 UTC.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from pumps.models import Pump
from tests.conftest import World, program_and_fill

FILLED_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DUE_AT = FILLED_AT + timedelta(days=23)
ALARM_AT = FILLED_AT + timedelta(days=30)
EMPTY_AT = FILLED_AT + timedelta(days=100 / 3)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """A pinned clock that tests move with ``clock.move_to(...)``."""
    with time_machine.travel(FILLED_AT + timedelta(hours=1), tick=False) as traveller:
        yield traveller


@pytest.fixture
def filled_pump(world: World, implanted_pump: Pump, clock: time_machine.Traveller) -> Pump:
    return program_and_fill(
        world, implanted_pump, filled_at=FILLED_AT, program_from=FILLED_AT - timedelta(hours=1)
    )
