"""Reads of the drug library."""

from decimal import Decimal

from dosing.display import plain
from dosing.models import DrugProduct, ProductUse


def pump_fill_concentrations() -> list[Decimal]:
    """Concentrations (mcg/mL) that may go in a pump without a dilution record, ascending."""
    values = (
        DrugProduct.objects.filter(is_active=True, use=ProductUse.PUMP_FILL)
        .values_list("concentration_mcg_per_ml", flat=True)
        .distinct()
    )
    return sorted(set(values))


def screening_concentrations() -> list[Decimal]:
    values = DrugProduct.objects.filter(is_active=True, use=ProductUse.SCREENING).values_list(
        "concentration_mcg_per_ml", flat=True
    )
    return sorted(set(values))


def describe_concentrations(values: list[Decimal]) -> str:
    return ", ".join(f"{plain(v)}" for v in values) + " mcg/mL"
