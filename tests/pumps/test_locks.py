"""Writers lock the pump row alone, FOR NO KEY UPDATE (regression, soak test).

The alert sweep inserts rows that reference a pump (and its patient and model) while a nurse's
write holds the pump. A foreign-key check takes FOR KEY SHARE on the referenced row. Plain
FOR UPDATE conflicts with it, and with select_related it also locked the joined patient, clinic
and pump-model rows: under load the sweep and the writers deadlocked. Here a second connection
holds FOR KEY SHARE on the pump, its patient and its model, as an insert referencing them
would, and each writer must still go through within the lock timeout.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction

from pumps.models import Pump
from pumps.services import patient_update, pump_update, reservoir_fill_record
from refills.models import RefillVisit
from refills.services import refill_reschedule, refill_schedule
from tests.alerts.realstack import reseed_reference_rows
from tests.conftest import World, program_and_fill, pump_fill_product

pytestmark = pytest.mark.django_db(transaction=True)

FILLED_AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NOW = FILLED_AT + timedelta(days=1)


@pytest.fixture(autouse=True)
def _catalogs_after_a_flush(transactional_db: None) -> None:
    """An earlier transactional test may have flushed the catalogs the migrations seeded."""
    reseed_reference_rows()


@pytest.fixture
def key_share_held(postgres: None) -> Iterator[Callable[[Pump], None]]:
    """Hold FOR KEY SHARE on a pump's row and the rows it references, from another connection."""
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
    )

    def hold(pump: Pump) -> None:
        other.execute("SELECT 1 FROM pumps_pump WHERE id = %s FOR KEY SHARE", [pump.pk])
        other.execute("SELECT 1 FROM pumps_patient WHERE id = %s FOR KEY SHARE", [pump.patient_id])
        other.execute(
            "SELECT 1 FROM pumps_pumpmodel WHERE id = %s FOR KEY SHARE", [pump.pump_model_id]
        )

    try:
        yield hold
    finally:
        other.rollback()
        other.close()


def under_lock_timeout(write: Callable[[], Any]) -> Any:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '3s'")
        return write()


def test_writers_do_not_wait_for_a_key_share_lock(
    world: World, implanted_pump: Pump, key_share_held: Callable[[Pump], None]
) -> None:
    pump = program_and_fill(world, implanted_pump, filled_at=FILLED_AT, program_from=FILLED_AT)
    visit = refill_schedule(
        actor=world.nurse, pump=pump, scheduled_at=FILLED_AT + timedelta(days=20), now=NOW
    )
    assert (
        Pump._meta.db_table == "pumps_pump" and RefillVisit._meta.db_table == "refills_refillvisit"
    )
    key_share_held(pump)

    writes: dict[str, Callable[[], Any]] = {
        "pump_update": lambda: pump_update(
            actor=world.nurse, pump=pump, reason="Alarm", low_reservoir_alarm_ml=Decimal("3.0")
        ),
        "patient_update": lambda: patient_update(
            actor=world.clinician, patient=pump.patient, reason="Typo", notes="Seen"
        ),
        "reservoir_fill_record": lambda: reservoir_fill_record(
            actor=world.nurse,
            pump=pump,
            filled_at=FILLED_AT + timedelta(hours=1),
            volume_ml=Decimal("20"),
            concentration_mcg_per_ml=Decimal("500"),
            product=pump_fill_product("500"),
        ),
        "refill_reschedule": lambda: refill_reschedule(
            actor=world.nurse,
            visit=visit,
            scheduled_at=FILLED_AT + timedelta(days=21),
            reason="Patient asked",
            now=NOW,
        ),
    }
    for name, write in writes.items():
        # Fails with LockNotAvailable (lock timeout) if the write takes FOR UPDATE on the pump
        # or on any row it joins.
        assert under_lock_timeout(write) is not None, name
