"""Model and service validation: bad input is refused with a message that names the field and
its unit, and nothing is half-saved."""

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit.models import AuditEntry
from dosing.models import DrugProduct
from pumps.models import (
    Catheter,
    CatheterModel,
    FlexStep,
    Patient,
    Pump,
    PumpModel,
    PumpProgram,
    ReservoirFill,
)
from pumps.services import (
    StepInput,
    patient_create,
    pump_implant,
    pump_program_create,
    reservoir_fill_record,
)
from tests.factories import PatientFactory

D = Decimal
FILL_AT = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)


def implant(world, **overrides):
    args = {
        "actor": world.clinician,
        "patient": world.patient_a2,
        "pump_model": PumpModel.objects.get(model_number="8637-20"),
        "serial_number": "NGP2",
        "implanted_on": date(2024, 5, 1),
        "catheter_model": CatheterModel.objects.get(model_number="8709SC"),
        "catheter_length_cm": D("50"),
        "catheter_volume_per_cm_ml": D("0.002"),
    }
    args.update(overrides)
    return pump_implant(**args)


def program(pump, actor, **overrides):
    args = {
        "actor": actor,
        "pump": pump,
        "effective_from": datetime(2025, 3, 3, 15, 30, tzinfo=UTC),
        "concentration_mcg_per_ml": D("500"),
        "mode": "simple",
        "daily_dose_mcg": D("300"),
        "reason": "Maintenance",
    }
    args.update(overrides)
    return pump_program_create(**args)


def messages(exc: pytest.ExceptionInfo[ValidationError], field: str) -> str:
    return " ".join(exc.value.message_dict[field])


# --- Patients ------------------------------------------------------------------------------------


def test_mrn_reused_in_same_clinic_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        patient_create(
            actor=world.clinician,
            clinic=world.clinic_a,
            mrn="A1",
            given_name="Dup",
            family_name="Licate",
            date_of_birth=date(1990, 1, 1),
            spasticity_origin="spinal",
        )
    assert "MRN already exists in this clinic" in str(exc.value)
    assert Patient.objects.filter(clinic=world.clinic_a, mrn="A1").count() == 1


def test_same_mrn_in_another_clinic_is_allowed(world):
    patient = patient_create(
        actor=world.clinician_b,
        clinic=world.clinic_b,
        mrn="A1",
        given_name="Other",
        family_name="Person",
        date_of_birth=date(1990, 1, 1),
        spasticity_origin="cerebral",
    )
    assert patient.pk is not None


def test_mrn_uniqueness_is_enforced_by_the_database(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(clinic=world.clinic_a, mrn="A1")


def test_date_of_birth_in_the_future_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        patient_create(
            actor=world.clinician,
            clinic=world.clinic_a,
            mrn="NEW",
            given_name="Future",
            family_name="Child",
            date_of_birth=date(2999, 1, 1),
            spasticity_origin="spinal",
        )
    assert "future" in messages(exc, "date_of_birth")


def test_unknown_spasticity_origin_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        patient_create(
            actor=world.clinician,
            clinic=world.clinic_a,
            mrn="NEW",
            given_name="A",
            family_name="B",
            date_of_birth=date(1990, 1, 1),
            spasticity_origin="muscular",
        )
    assert "spasticity_origin" in exc.value.message_dict


# --- Pumps and catheters -------------------------------------------------------------------------


def test_low_reservoir_alarm_above_capacity_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        implant(world, low_reservoir_alarm_ml=D("25"))
    text = messages(exc, "low_reservoir_alarm_ml")
    assert "25 mL" in text and "20" in text and "capacity" in text
    assert not Pump.objects.exists()


def test_low_reservoir_alarm_defaults_to_the_model(world):
    pump = implant(world)
    assert pump.low_reservoir_alarm_ml == D("2.0")


def test_catheter_longer_than_its_model_is_refused_and_no_pump_is_saved(world):
    with pytest.raises(ValidationError) as exc:
        implant(world, catheter_length_cm=D("95"))
    text = messages(exc, "catheter_implanted_length_cm")
    assert "95" in text and "89" in text and "cm" in text
    assert not Pump.objects.exists()
    assert not Catheter.objects.exists()
    assert not AuditEntry.objects.filter(record_type="pumps.Pump").exists()


def test_catheter_without_volume_per_cm_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        implant(world, catheter_volume_per_cm_ml=None)
    assert "catheter_volume_per_cm_ml" in exc.value.message_dict
    assert not Pump.objects.exists()


def test_prometra_catheter_volume_comes_from_the_catalog(world):
    pump = implant(
        world,
        pump_model=PumpModel.objects.get(model_number="13827"),
        catheter_model=CatheterModel.objects.get(model_number="PROMETRA-CATH-110"),
        catheter_length_cm=D("100"),
        catheter_volume_per_cm_ml=None,
    )
    catheter = pump.catheters.get()
    # domain.md §3.8: (110 cm − 10 cm trimmed) × 0.0026 mL/cm = 0.26 mL
    assert catheter.volume_per_cm_ml == D("0.0026")
    assert catheter.catheter_volume_ml == pytest.approx(0.26, abs=1e-12)


def test_fixed_rate_pump_needs_its_label_flow_rate(world):
    with pytest.raises(ValidationError) as exc:
        implant(
            world,
            pump_model=PumpModel.objects.get(model_number="CODMAN-3000"),
            low_reservoir_alarm_ml=D("3"),
        )
    assert "mL/day" in messages(exc, "fixed_flow_rate_ml_per_day")


def test_programmable_pump_refuses_a_fixed_flow_rate(world):
    with pytest.raises(ValidationError) as exc:
        implant(world, fixed_flow_rate_ml_per_day=D("1.0"))
    assert "programmable" in messages(exc, "fixed_flow_rate_ml_per_day")


def test_second_active_pump_for_a_patient_is_refused(world, implanted_pump):
    with pytest.raises(ValidationError) as exc:
        implant(world, patient=world.patient_a1, serial_number="OTHER")
    assert "already has an active pump" in str(exc.value)


def test_implant_date_in_the_future_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        implant(world, implanted_on=date(2999, 1, 1))
    assert "future" in messages(exc, "implanted_on")


def test_database_refuses_a_non_positive_alarm_volume(world, implanted_pump):
    with pytest.raises(IntegrityError), transaction.atomic():
        Pump.objects.filter(pk=implanted_pump.pk).update(low_reservoir_alarm_ml=D("-1"))


# --- Programs ------------------------------------------------------------------------------------


def test_simple_program_is_recorded_with_its_audit_entry(world, implanted_pump):
    p = program(implanted_pump, world.clinician, verified_by=world.nurse)
    assert p.daily_dose_mcg == D("300")
    assert p.verified_by == world.nurse and p.verified_at is not None
    entry = AuditEntry.objects.get(record_type="pumps.PumpProgram", record_id=str(p.pk))
    assert entry.actor == world.clinician
    assert entry.patient == world.patient_a1
    assert entry.changes["daily_dose_mcg"] == [None, "300"]
    assert entry.reason == "Maintenance"


@pytest.mark.parametrize(
    ("concentration", "expected"),
    [
        (D("750"), "not a pump-fill concentration"),
        (D("50"), "screening only"),
        (D("0.5"), "not a pump-fill concentration"),
    ],
)
def test_unknown_concentration_is_refused(world, implanted_pump, concentration, expected):
    with pytest.raises(ValidationError) as exc:
        program(implanted_pump, world.clinician, concentration_mcg_per_ml=concentration)
    text = messages(exc, "concentration_mcg_per_ml")
    assert expected in text and "mcg/mL" in text and "500, 1000, 2000" in text
    assert not PumpProgram.objects.exists()


@pytest.mark.parametrize("concentration", [D("500"), D("1000"), D("2000")])
def test_stock_concentrations_are_accepted(world, implanted_pump, concentration):
    assert program(implanted_pump, world.clinician, concentration_mcg_per_ml=concentration).pk


def test_inactive_product_concentration_is_no_longer_accepted(world, implanted_pump):
    DrugProduct.objects.filter(concentration_mcg_per_ml=D("1000")).update(is_active=False)
    with pytest.raises(ValidationError):
        program(implanted_pump, world.clinician, concentration_mcg_per_ml=D("1000"))


def test_simple_program_needs_a_positive_daily_dose(world, implanted_pump):
    for dose in (None, D("0"), D("-300")):
        with pytest.raises(ValidationError) as exc:
            program(implanted_pump, world.clinician, daily_dose_mcg=dose)
        assert "mcg/day" in messages(exc, "daily_dose_mcg")
    assert not PumpProgram.objects.exists()


def test_flex_program_with_duplicate_starts_saves_nothing(world, implanted_pump):
    steps = [StepInput(time(6), D("12.5")), StepInput(time(6), D("25"))]
    with pytest.raises(ValidationError) as exc:
        program(implanted_pump, world.clinician, mode="flex", daily_dose_mcg=None, steps=steps)
    assert "same time" in messages(exc, "steps")
    assert not PumpProgram.objects.exists()
    assert not FlexStep.objects.exists()


def test_flex_program_refuses_a_non_positive_rate(world, implanted_pump):
    steps = [StepInput(time(6), D("12.5")), StepInput(time(22), D("0"))]
    with pytest.raises(ValidationError) as exc:
        program(implanted_pump, world.clinician, mode="flex", daily_dose_mcg=None, steps=steps)
    assert "mcg/h" in messages(exc, "steps")


def test_flex_program_is_stored_with_sorted_steps(world, implanted_pump):
    steps = [StepInput(time(22), D("25")), StepInput(time(6), D("12.5"))]
    p = program(implanted_pump, world.clinician, mode="flex", daily_dose_mcg=None, steps=steps)
    assert [(s.start_time, s.rate_mcg_per_hour) for s in p.steps.all()] == [
        (time(6), D("12.5")),
        (time(22), D("25")),
    ]
    assert p.daily_dose_mcg is None


def test_program_cannot_be_backdated_before_the_current_one(world, implanted_pump):
    program(implanted_pump, world.clinician)
    with pytest.raises(ValidationError) as exc:
        program(
            implanted_pump,
            world.clinician,
            effective_from=datetime(2025, 3, 1, tzinfo=UTC),
            daily_dose_mcg=D("330"),
        )
    assert "supersede" in messages(exc, "effective_from")


def test_program_needs_an_aware_time(world, implanted_pump):
    with pytest.raises(ValidationError) as exc:
        program(implanted_pump, world.clinician, effective_from=datetime(2025, 3, 3, 15, 30))  # noqa: DTZ001
    assert "time zone" in messages(exc, "effective_from")


def test_program_cannot_be_verified_by_its_author(world, implanted_pump):
    with pytest.raises(ValidationError) as exc:
        program(implanted_pump, world.clinician, verified_by=world.clinician)
    assert "second person" in messages(exc, "verified_by")


def test_fixed_rate_pump_cannot_be_programmed(world):
    pump = implant(
        world,
        pump_model=PumpModel.objects.get(model_number="CODMAN-3000"),
        low_reservoir_alarm_ml=D("3"),
        fixed_flow_rate_ml_per_day=D("1.0"),
    )
    with pytest.raises(ValidationError) as exc:
        program(pump, world.clinician)
    assert "fixed-rate" in messages(exc, "pump")


def test_past_program_is_never_edited(world, implanted_pump):
    p = program(implanted_pump, world.clinician)
    p.daily_dose_mcg = D("900")
    with pytest.raises(Exception, match="never edited"):
        p.save()
    with pytest.raises(Exception, match="never deleted"):
        p.delete()
    p.refresh_from_db()
    assert p.daily_dose_mcg == D("300")


def test_verification_may_be_added_to_a_program(world, implanted_pump):
    p = program(implanted_pump, world.clinician)
    p.verified_by = world.nurse
    p.verified_at = datetime(2025, 3, 3, 16, tzinfo=UTC)
    p.save(update_fields=["verified_by", "verified_at"])
    p.refresh_from_db()
    assert p.verified_by == world.nurse


def test_database_refuses_self_verification(world, implanted_pump):
    p = program(implanted_pump, world.clinician)
    with pytest.raises(IntegrityError), transaction.atomic():
        PumpProgram.objects.filter(pk=p.pk).update(
            verified_by=world.clinician, verified_at=datetime(2025, 3, 4, tzinfo=UTC)
        )


# --- Fills ---------------------------------------------------------------------------------------


def fill(pump, actor, **overrides):
    args = {
        "actor": actor,
        "pump": pump,
        "filled_at": FILL_AT,
        "volume_ml": D("20"),
        "concentration_mcg_per_ml": D("500"),
        "product": DrugProduct.objects.filter(concentration_mcg_per_ml=D("500")).first(),
        "lot_number": "LOT1",
        "expiry_date": date(2026, 1, 1),
    }
    args.update(overrides)
    return reservoir_fill_record(**args)


@pytest.mark.parametrize("volume", [D("-5"), D("0")])
def test_negative_or_zero_fill_volume_is_refused(world, implanted_pump, volume):
    with pytest.raises(ValidationError) as exc:
        fill(implanted_pump, world.nurse, volume_ml=volume)
    assert "mL" in messages(exc, "volume_ml")
    assert not ReservoirFill.objects.exists()


def test_fill_above_capacity_is_refused(world, implanted_pump):
    with pytest.raises(ValidationError) as exc:
        fill(implanted_pump, world.nurse, volume_ml=D("21"))
    assert "21 mL" in messages(exc, "volume_ml") and "20 mL" in messages(exc, "volume_ml")


def test_negative_volume_removed_is_refused(world, implanted_pump):
    with pytest.raises(ValidationError) as exc:
        fill(implanted_pump, world.nurse, volume_removed_ml=D("-1"))
    assert "mL" in messages(exc, "volume_removed_ml")


def test_screening_product_cannot_fill_a_pump(world, implanted_pump):
    screening = DrugProduct.objects.filter(use="screening").first()
    with pytest.raises(ValidationError) as exc:
        fill(implanted_pump, world.nurse, product=screening, concentration_mcg_per_ml=D("50"))
    assert "screening only" in messages(exc, "product")


def test_fill_concentration_must_match_its_product(world, implanted_pump):
    with pytest.raises(ValidationError) as exc:
        fill(implanted_pump, world.nurse, concentration_mcg_per_ml=D("2000"))
    assert "500 mcg/mL" in messages(exc, "concentration_mcg_per_ml")


def test_expired_drug_is_refused(world, implanted_pump):
    with pytest.raises(ValidationError) as exc:
        fill(implanted_pump, world.nurse, expiry_date=date(2025, 1, 1))
    assert "expired" in messages(exc, "expiry_date")


def test_fill_is_recorded_and_never_edited(world, implanted_pump):
    f = fill(implanted_pump, world.nurse)
    assert implanted_pump.fills.latest() == f
    f.volume_ml = D("10")
    with pytest.raises(Exception, match="never edited"):
        f.save()


def test_fills_are_recorded_in_time_order(world, implanted_pump):
    fill(implanted_pump, world.nurse)
    with pytest.raises(ValidationError) as exc:
        fill(implanted_pump, world.nurse, filled_at=datetime(2025, 2, 1, tzinfo=UTC))
    assert "after the last one" in messages(exc, "filled_at")


def test_pump_model_without_default_alarm_needs_one(world):
    with pytest.raises(ValidationError) as exc:
        implant(
            world,
            pump_model=PumpModel.objects.get(model_number="CODMAN-3000"),
            fixed_flow_rate_ml_per_day=D("1.0"),
        )
    assert "alarm volume in mL" in messages(exc, "low_reservoir_alarm_ml")
