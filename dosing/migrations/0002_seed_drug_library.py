"""Seed the drug library with the labeled US intrathecal baclofen products (domain.md §1)."""

from decimal import Decimal as D

from django.db import migrations

LIORESAL = "lioresal.com ampules and refill kit page; Lioresal Intrathecal PI (domain.md §1)"
GABLOFEN = "Gablofen PI and approval notices (domain.md §1); 1000 mcg/mL since 2012"

PRODUCTS = [
    ("Lioresal Intrathecal", "Saol", D("50"), D("1"), "ampule", "screening", LIORESAL),
    ("Lioresal Intrathecal", "Saol", D("500"), D("20"), "ampule", "pump_fill", LIORESAL),
    ("Lioresal Intrathecal", "Saol", D("2000"), D("5"), "ampule", "pump_fill", LIORESAL),
    ("Lioresal Intrathecal", "Saol", D("2000"), D("20"), "ampule", "pump_fill", LIORESAL),
    ("Gablofen", "Piramal", D("50"), D("1"), "prefilled syringe", "screening", GABLOFEN),
    ("Gablofen", "Piramal", D("500"), D("20"), "vial", "pump_fill", GABLOFEN),
    ("Gablofen", "Piramal", D("1000"), D("20"), "vial", "pump_fill", GABLOFEN),
    ("Gablofen", "Piramal", D("2000"), D("20"), "vial", "pump_fill", GABLOFEN),
]


def seed(apps, schema_editor):
    DrugProduct = apps.get_model("dosing", "DrugProduct")
    for name, maker, conc, volume, container, use, source in PRODUCTS:
        DrugProduct.objects.update_or_create(
            name=name,
            concentration_mcg_per_ml=conc,
            container_volume_ml=volume,
            container=container,
            defaults={
                "manufacturer": maker,
                "use": use,
                "max_days_in_pump": 180,
                "source_notes": source,
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("dosing", "DrugProduct").objects.filter(
        fills__isnull=True, dilutions__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("dosing", "0001_initial"), ("pumps", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
