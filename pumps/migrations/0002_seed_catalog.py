"""Seed the pump and catheter catalogs from domain.md §3. Each value carries the confidence the
source gives it; ❓ values are marked unconfirmed and stay editable in the admin."""

from decimal import Decimal as D

from django.db import migrations

CONFIRMED, SECONDARY, UNCONFIRMED = "confirmed", "secondary", "unconfirmed"

SYNCHROMED_MRI = (
    "MR Conditional up to 3 T under the model-specific conditions. After any MRI, interrogate "
    "the pump and confirm it restarted (FDA safety communication, 11 Jan 2017)."
)
SYNCHROMED_SOURCE = (
    "domain.md §3.1: capacity (recall notices), tubing volume 0.140 mL (TGA RC-2017-RN-00065-1), "
    "battery up to 84 months and shutdown 90 days after ERI (Medtronic). Alarm default: 2 mL is "
    "the manufacturer-recommended residual (Neurosurgery 2004); the programmable range and "
    "factory default are not confirmed."
)
PROMETRA_MRI = (
    "Empty the pump before MRI: strong fields can open both valves and dump the reservoir. "
    "1.5 T only, spatial gradient ≤ 2,000 G/cm. The flow-activated valve stops flow after at "
    "most 10 µL until the pump is reset after the scan."
)
PROMETRA_SOURCE = (
    "domain.md §3.8: capacities and REF numbers (Prometra MRI safety information, Jan 2020), "
    "battery 10+ years. Low-reservoir alarm volume and tubing volume not found; the 3.0 mL "
    "default is the Patient Therapy Controller's refill point, not a confirmed alarm volume."
)

PUMP_MODELS = [
    {
        "manufacturer": "Medtronic",
        "name": "SynchroMed II 20 mL",
        "model_number": "8637-20",
        "kind": "programmable",
        "reservoir_capacity_ml": D("20"),
        "reservoir_capacity_confidence": CONFIRMED,
        "default_low_reservoir_alarm_ml": D("2.0"),
        "default_low_reservoir_alarm_confidence": UNCONFIRMED,
        "pump_tubing_volume_ml": D("0.140"),
        "pump_tubing_volume_confidence": CONFIRMED,
        "battery_life_months": 84,
        "battery_life_confidence": CONFIRMED,
        "eri_to_shutdown_days": 90,
        "mri_notes": SYNCHROMED_MRI,
        "source_notes": SYNCHROMED_SOURCE,
    },
    {
        "manufacturer": "Medtronic",
        "name": "SynchroMed II 40 mL",
        "model_number": "8637-40",
        "kind": "programmable",
        "reservoir_capacity_ml": D("40"),
        "reservoir_capacity_confidence": CONFIRMED,
        "default_low_reservoir_alarm_ml": D("2.0"),
        "default_low_reservoir_alarm_confidence": UNCONFIRMED,
        "pump_tubing_volume_ml": D("0.140"),
        "pump_tubing_volume_confidence": CONFIRMED,
        "battery_life_months": 84,
        "battery_life_confidence": CONFIRMED,
        "eri_to_shutdown_days": 90,
        "mri_notes": SYNCHROMED_MRI,
        "source_notes": SYNCHROMED_SOURCE,
    },
    {
        "manufacturer": "Flowonix",
        "name": "Prometra II 20 mL",
        "model_number": "13827",
        "kind": "programmable",
        "reservoir_capacity_ml": D("20"),
        "reservoir_capacity_confidence": CONFIRMED,
        "default_low_reservoir_alarm_ml": D("3.0"),
        "default_low_reservoir_alarm_confidence": UNCONFIRMED,
        "pump_tubing_volume_ml": None,
        "battery_life_months": 120,
        "battery_life_confidence": SECONDARY,
        "eri_to_shutdown_days": None,
        "mri_notes": PROMETRA_MRI,
        "source_notes": PROMETRA_SOURCE,
    },
    {
        "manufacturer": "Flowonix",
        "name": "Prometra II 40 mL",
        "model_number": "16827",
        "kind": "programmable",
        "reservoir_capacity_ml": D("40"),
        "reservoir_capacity_confidence": CONFIRMED,
        "default_low_reservoir_alarm_ml": D("3.0"),
        "default_low_reservoir_alarm_confidence": UNCONFIRMED,
        "pump_tubing_volume_ml": None,
        "battery_life_months": 120,
        "battery_life_confidence": SECONDARY,
        "eri_to_shutdown_days": None,
        "mri_notes": PROMETRA_MRI,
        "source_notes": PROMETRA_SOURCE,
    },
    {
        "manufacturer": "Codman",
        "name": "Codman 3000 (constant flow)",
        "model_number": "CODMAN-3000",
        "kind": "fixed_rate",
        "reservoir_capacity_ml": D("30"),
        "reservoir_capacity_confidence": SECONDARY,
        "default_low_reservoir_alarm_ml": None,
        "pump_tubing_volume_ml": None,
        # Nominal rate not found (domain.md §3.10 ❓): each device's rate is printed on its label
        # and recorded on the pump.
        "fixed_flow_rate_ml_per_day": None,
        "battery_life_months": None,
        "eri_to_shutdown_days": None,
        "mri_notes": "Propellant-driven, no battery or electronics; check the device label for "
        "MR conditions.",
        "source_notes": "domain.md §3.10: propellant-driven constant flow through a restrictor; "
        "reservoir about 1 fl oz (≈ 30 mL) per the J&J patient page. Dose changes only by "
        "changing concentration at refill. Flow varies with fever and altitude (unconfirmed).",
    },
]

CATHETER_MODELS = [
    {
        "manufacturer": "Medtronic",
        "name": "InDura 1P",
        "model_number": "8709SC",
        "max_length_cm": D("89"),
        "max_length_confidence": CONFIRMED,
        "volume_per_cm_ml": None,
        "source_notes": "domain.md §3.1: total length 89 cm, trimmable at the spinal end. Volume "
        "per cm not published: take it from the catheter manual or programmer.",
    },
    {
        "manufacturer": "Medtronic",
        "name": "Ascenda",
        "model_number": "8780",
        "max_length_cm": None,
        "volume_per_cm_ml": None,
        "source_notes": "domain.md §3.1. Length and volume per cm not confirmed.",
    },
    {
        "manufacturer": "Medtronic",
        "name": "Ascenda",
        "model_number": "8781",
        "max_length_cm": None,
        "volume_per_cm_ml": None,
        "source_notes": "domain.md §3.1. Length and volume per cm not confirmed.",
    },
    {
        "manufacturer": "Medtronic",
        "name": "Intrathecal catheter",
        "model_number": "8731SC",
        "max_length_cm": None,
        "volume_per_cm_ml": None,
        "source_notes": "domain.md §3.1. Length and volume per cm not confirmed.",
    },
    {
        "manufacturer": "Flowonix",
        "name": "Prometra catheter",
        "model_number": "PROMETRA-CATH-110",
        "max_length_cm": D("110"),
        "max_length_confidence": CONFIRMED,
        "volume_per_cm_ml": D("0.0026"),
        "volume_per_cm_confidence": CONFIRMED,
        "source_notes": "domain.md §3.8: 110 cm; implanted volume = (110 cm − trimmed cm) × "
        "0.0026 mL/cm (Prometra II manual p. 33).",
    },
]


def seed(apps, schema_editor):
    PumpModel = apps.get_model("pumps", "PumpModel")
    CatheterModel = apps.get_model("pumps", "CatheterModel")
    for row in PUMP_MODELS:
        values = dict(row)
        PumpModel.objects.update_or_create(model_number=values.pop("model_number"), defaults=values)
    for row in CATHETER_MODELS:
        values = dict(row)
        CatheterModel.objects.update_or_create(
            model_number=values.pop("model_number"), defaults=values
        )


def unseed(apps, schema_editor):
    apps.get_model("pumps", "PumpModel").objects.filter(
        model_number__in=[r["model_number"] for r in PUMP_MODELS], pumps__isnull=True
    ).delete()
    apps.get_model("pumps", "CatheterModel").objects.filter(
        model_number__in=[r["model_number"] for r in CATHETER_MODELS], catheters__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("pumps", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
