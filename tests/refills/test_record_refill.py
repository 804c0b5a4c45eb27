"""Recording a refill: reconciliation with the engine, the new fill and projection, the
booked visit completed, safety confirmations, double submit."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pumps.models import Pump, ReservoirFill
from refills.models import VisitStatus
from refills.services import refill_record, refill_schedule
from tests.conftest import program_and_fill, pump_fill_product


@pytest.fixture
def pump(world, implanted_pump) -> Pump:
    """300 mcg/day at 500 mcg/mL (0.6 mL/day), 20 mL filled exactly 25 days ago: 5 mL expected."""
    return program_and_fill(
        world,
        implanted_pump,
        program_from=timezone.now() - timedelta(days=60),
        filled_at=timezone.now() - timedelta(days=25),
    )


def record(world, pump, removed: str, **kwargs):
    args = {
        "actor": world.nurse,
        "pump": pump,
        "refilled_at": pump.fills.latest().filled_at + timedelta(days=25),
        "volume_removed_ml": D(removed),
        "volume_added_ml": D("20"),
        "product": pump_fill_product(),
        "concentration_mcg_per_ml": D("500"),
        "lot_number": "L42",
        "expiry_date": (timezone.now() + timedelta(days=300)).date(),
        "septum_confirmed": True,
    }
    args.update(kwargs)
    return refill_record(**args)


@pytest.mark.parametrize(
    ("removed", "flags"),
    [
        ("5.1", ""),
        # 8 mL removed: delivered 12 of the expected 15 mL (−20 %), residual +3 mL.
        ("8", "under_delivery,residual_discrepancy"),
        # 2 mL removed: delivered 18 of 15 mL (+20 %), residual −3 mL.
        ("2", "over_delivery,residual_discrepancy"),
    ],
)
def test_reconciliation_is_stored_with_the_fill(world, pump, removed, flags):
    outcome = record(world, pump, removed)
    fill = outcome.fill
    assert fill.expected_residual_ml == D("5.0000")
    assert fill.residual_discrepancy_ml == D(removed) - D("5")
    assert fill.reconciliation_flags == flags
    pump.refresh_from_db()
    assert pump.projected_alarm_at == fill.filled_at + timedelta(days=30)


def test_a_percentage_too_large_to_mean_anything_is_stored_empty(world, pump):
    """Regression (soak test): a refill seconds after the last fill expects almost nothing
    delivered (0.6 mL/day for 10 s), so 2 mL delivered is millions of percent, more than the
    stored field holds: the refill was refused with a message about a field nobody entered.
    It is recorded; the percentage is empty and the flags say what matters."""
    refilled_at = pump.fills.latest().filled_at + timedelta(seconds=10)
    outcome = record(world, pump, "18", refilled_at=refilled_at)
    fill = ReservoirFill.objects.get(pk=outcome.fill.pk)
    assert fill.delivered_discrepancy_percent is None
    assert fill.reconciliation_flags == "over_delivery,residual_discrepancy"
    assert fill.residual_discrepancy_ml == D("18") - fill.expected_residual_ml
    client = Client()
    client.force_login(world.nurse)
    html = client.get(reverse("refills:record-done", args=[fill.pk])).content.decode()
    assert "not meaningful: almost nothing was due to be delivered" in html


def test_the_booked_visit_is_completed(world, pump):
    visit = refill_schedule(
        actor=world.nurse,
        pump=pump,
        scheduled_at=timezone.now() + timedelta(hours=2),
        late_reason="Seen today",  # 25 days after a 20 mL fill the refill is past due
    )
    outcome = record(world, pump, "5")
    visit.refresh_from_db()
    assert visit.status == VisitStatus.COMPLETED and visit.fill == outcome.fill
    pump.refresh_from_db()
    assert pump.next_visit_at is None


def test_septum_confirmation_is_required(world, pump):
    with pytest.raises(ValidationError) as exc:
        record(world, pump, "5", septum_confirmed=False)
    assert "catheter access port" in " ".join(exc.value.message_dict["septum_confirmed"])
    assert ReservoirFill.objects.count() == 1


def test_a_new_concentration_needs_the_program_changed_first(world, pump):
    with pytest.raises(ValidationError) as exc:
        record(
            world, pump, "5", product=pump_fill_product("2000"), concentration_mcg_per_ml=D("2000")
        )
    assert "change the program" in " ".join(exc.value.message_dict["concentration_mcg_per_ml"])
    assert ReservoirFill.objects.count() == 1


def test_the_page_records_shows_flags_and_suggests_the_next_booking(world, pump):
    client = Client()
    client.force_login(world.nurse)
    url = reverse("refills:record", args=[pump.pk])
    assert client.get(url).status_code == 200
    when = timezone.localtime(pump.fills.latest().filled_at + timedelta(days=25))
    data = {
        "refilled_at": when.strftime("%Y-%m-%dT%H:%M:%S"),
        "volume_removed_ml": "8",
        "product": pump_fill_product().pk,
        "lot_number": "L42",
        "expiry_date": (timezone.localdate() + timedelta(days=300)).isoformat(),
        "volume_added_ml": "20",
        "observation_note": "Comfortable, no symptoms",
    }
    missing_septum = client.post(url, data)
    assert "catheter access port" in missing_septum.content.decode()
    data["septum_confirmed"] = "on"
    done = client.post(url, data, follow=True)
    html = done.content.decode()
    assert "Less drug was delivered than expected" in html
    assert "residual differs" in html
    assert "Book the next refill" in html
    # Sent again: recorded once.
    again = client.post(url, data, follow=True)
    assert "already recorded" in again.content.decode()
    assert ReservoirFill.objects.filter(pump=pump).count() == 2


@pytest.mark.parametrize("username", ["clinician_b", "caregiver_a", "integrator", "stranger"])
def test_only_the_clinics_staff_may_record(world, pump, username):
    client = Client()
    client.force_login(getattr(world, username))
    assert client.get(reverse("refills:record", args=[pump.pk])).status_code == 404
