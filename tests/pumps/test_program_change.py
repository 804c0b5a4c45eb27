"""Changing a program: engine verdicts, overrides, the bridge bolus, stale forms, co-signing."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from pumps.models import Pump, PumpBolus, PumpProgram
from pumps.program_change import ProposedProgram, pump_program_change, review_program_change
from pumps.services import StepInput
from tests.conftest import program_and_fill

FILL = datetime(2025, 3, 3, tzinfo=UTC)
CHANGE_AT = datetime(2025, 3, 13, tzinfo=UTC)


@pytest.fixture
def pump(world, implanted_pump) -> Pump:
    """TC-01 pump: 300 mcg/day at 500 mcg/mL since January, 20 mL filled 2025-03-03."""
    return program_and_fill(
        world, implanted_pump, program_from=datetime(2025, 1, 1, tzinfo=UTC), filled_at=FILL
    )


def simple(dose: str, concentration: str = "500") -> ProposedProgram:
    return ProposedProgram(
        concentration_mcg_per_ml=D(concentration), mode="simple", daily_dose_mcg=D(dose)
    )


def change(world, pump, proposed, **kwargs):
    args = {
        "actor": world.nurse,
        "pump": pump,
        "proposed": proposed,
        "context": "refill",
        "reason": "Review at refill",
        "effective_from": CHANGE_AT,
        "expected_current_program_id": pump.programs.latest().pk,
        "pump_running_confirmed": True,
    }
    args.update(kwargs)
    return pump_program_change(**args)


def test_review_shows_rates_verdict_and_new_dates(pump):
    review = review_program_change(
        pump=pump, proposed=simple("360"), context="refill", effective_from=CHANGE_AT
    )
    assert review.current_rates.daily_volume_ml == pytest.approx(0.6)
    assert review.proposed_rates.daily_volume_ml == pytest.approx(0.72)
    assert review.proposed_rates.rate_mcg_per_hour == pytest.approx(15.0)
    assert review.verdict == "ok"  # +20 % at refill, spinal limit 40 %
    # 10 days at 0.6 mL/day = 6 mL; then 12 mL to the alarm at 0.72 mL/day = 16.667 days.
    assert review.projection.low_reservoir_alarm_at == CHANGE_AT + timedelta(days=12 / 0.72)
    assert review.concentration_change is None


def test_ok_change_is_recorded_with_its_verdict(world, pump):
    program = change(world, pump, simple("360"))
    assert program.dose_change_verdict == "ok" and program.override_reason == ""
    pump.refresh_from_db()
    assert pump.projected_alarm_at == CHANGE_AT + timedelta(days=12 / 0.72)


def test_soft_stop_needs_an_override_reason(world, pump):
    # +50 % at refill: above the spinal 40 % limit, below the ×2 hard stop.
    with pytest.raises(ValidationError) as exc:
        change(world, pump, simple("450"))
    assert "document why" in " ".join(exc.value.message_dict["override_reason"])
    assert PumpProgram.objects.count() == 1
    program = change(world, pump, simple("450"), override_reason="Severe spasms; clinician call")
    assert program.dose_change_verdict == "soft_stop"
    assert program.override_reason == "Severe spasms; clinician call"


def test_hard_stop_is_never_saved(world, pump):
    flex_60_per_hour = ProposedProgram(
        concentration_mcg_per_ml=D("500"), mode="flex", steps=(StepInput(time(0), D("60")),)
    )  # the ISMP error: 1440 mcg/day
    with pytest.raises(ValidationError) as exc:
        change(world, pump, flex_60_per_hour, override_reason="I am sure")
    assert "never allowed" in " ".join(exc.value.message_dict["daily_dose_mcg"])
    assert PumpProgram.objects.count() == 1


def test_concentration_change_needs_the_bridge_confirmed_and_records_it(world, pump):
    # 300 mcg/day from 500 to 2000 mcg/mL; dead volume 0.140 mL tubing + 60 cm × 0.002 = 0.26 mL.
    proposed = simple("300", "2000")
    review = review_program_change(
        pump=pump, proposed=proposed, context="refill", effective_from=CHANGE_AT
    )
    assert review.needs_bridge
    assert review.concentration_change.dead_volume_ml == pytest.approx(0.26)
    assert review.concentration_change.without_bridge.percent_of_prescribed == pytest.approx(25.0)
    bridge = review.concentration_change.bridge_bolus
    assert bridge.volume_ml == pytest.approx(0.26)
    assert bridge.duration_hours == pytest.approx(0.26 / 0.6 * 24)  # at the old 0.6 mL/day
    with pytest.raises(ValidationError) as exc:
        change(world, pump, proposed)
    assert "bridge bolus" in " ".join(exc.value.message_dict["bridge_confirmed"])
    program = change(world, pump, proposed, bridge_confirmed=True)
    bolus = PumpBolus.objects.get(program=program)
    assert bolus.kind == "bridge" and bolus.volume_ml == D("0.2600") and bolus.replaces_basal
    assert AuditEntry.objects.filter(record_type="pumps.PumpBolus").count() == 1


def test_the_bridge_bolus_counts_in_the_stored_projection(world, pump):
    change(world, pump, simple("300", "2000"), bridge_confirmed=True)
    pump.refresh_from_db()
    # At the change 14 mL remain. The bridge takes 0.26 mL over 10.4 h (replacing the basal);
    # then 0.15 mL/day: (14 − 0.26 − 2) / 0.15 = 78.267 days after the bridge ends.
    bridge_end = CHANGE_AT + timedelta(hours=0.26 / 0.6 * 24)
    expected = bridge_end + timedelta(days=(14 - 0.26 - 2) / 0.15)
    assert abs((pump.projected_alarm_at - expected).total_seconds()) < 60


def test_a_form_on_a_superseded_program_is_refused(world, pump):
    stale_id = pump.programs.latest().pk
    change(world, pump, simple("330"))
    with pytest.raises(ValidationError) as exc:
        change(
            world,
            pump,
            simple("360"),
            expected_current_program_id=stale_id,
            effective_from=CHANGE_AT + timedelta(hours=1),
        )
    assert "changed while this form was open" in " ".join(exc.value.message_dict["__all__"])
    assert PumpProgram.objects.count() == 2


def test_pump_running_must_be_confirmed(world, pump):
    with pytest.raises(ValidationError) as exc:
        change(world, pump, simple("330"), pump_running_confirmed=False)
    assert "interrogated" in " ".join(exc.value.message_dict["pump_running_confirmed"])


def test_clinic_may_require_a_second_verifier_for_high_risk_changes(world, pump):
    clinic = pump.patient.clinic
    clinic.require_second_verification = True
    clinic.save()
    pump = Pump.objects.select_related("patient__clinic", "pump_model").get(pk=pump.pk)
    # An ordinary change needs no co-signature.
    change(world, pump, simple("330"))
    proposed = simple("300", "2000")
    later = CHANGE_AT + timedelta(hours=2)
    for verifier, text in (
        (None, "requires a second"),
        (world.nurse, "someone else"),
        (world.clinician_b, "of this clinic"),
    ):
        with pytest.raises(ValidationError) as exc:
            change(
                world,
                pump,
                proposed,
                bridge_confirmed=True,
                verified_by=verifier,
                effective_from=later,
            )
        assert text in " ".join(exc.value.message_dict["verified_by"])
    program = change(
        world,
        pump,
        proposed,
        bridge_confirmed=True,
        verified_by=world.clinician,
        effective_from=later,
    )
    assert program.verified_by == world.clinician
