"""Writes to the drug library records: dilutions."""

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import audit_create
from dosing.engine.dilution import DilutionError, solve_dilution
from dosing.models import Dilution, DrugProduct, ProductUse

# Dilution.final_concentration_mcg_per_ml keeps 4 decimal places (0.0001 mcg/mL).
CONCENTRATION_QUANTUM = Decimal("0.0001")


@transaction.atomic
def dilution_record(
    *,
    actor: Any,
    stock_product: DrugProduct,
    stock_volume_ml: Decimal,
    diluent_volume_ml: Decimal,
    prepared_at: datetime,
    lot_number: str = "",
    notes: str = "",
) -> Dilution:
    """Record a prepared dilution; its final concentration comes from the engine
    (C1·V1 = C2·V2, domain.md §2.5 and §6.6)."""
    errors: dict[str, list[str]] = {}
    if timezone.is_naive(prepared_at):
        errors.setdefault("prepared_at", []).append("Give the time with its time zone.")
    if stock_product.use != ProductUse.PUMP_FILL:
        errors.setdefault("stock_product", []).append(
            "Dilutions are made from a pump-fill stock, not the screening product."
        )
    if stock_volume_ml is None or stock_volume_ml <= 0:
        errors.setdefault("stock_volume_ml", []).append("Enter the stock volume in mL.")
    if diluent_volume_ml is None or diluent_volume_ml <= 0:
        errors.setdefault("diluent_volume_ml", []).append(
            "Enter the volume of preservative-free 0.9 % saline in mL."
        )
    if errors:
        raise ValidationError(errors)
    try:
        solved = solve_dilution(
            stock_concentration_mcg_per_ml=float(stock_product.concentration_mcg_per_ml),
            stock_volume_ml=float(stock_volume_ml),
            final_concentration_mcg_per_ml=None,
            # The prepared volume: stock plus saline.
            final_volume_ml=float(stock_volume_ml + diluent_volume_ml),
        )
    except DilutionError as exc:
        raise ValidationError({"stock_volume_ml": str(exc)}) from exc
    final = solved.final_concentration_mcg_per_ml
    dilution = Dilution(
        stock_product=stock_product,
        stock_volume_ml=stock_volume_ml,
        diluent_volume_ml=diluent_volume_ml,
        final_concentration_mcg_per_ml=Decimal(repr(final)).quantize(
            CONCENTRATION_QUANTUM, rounding=ROUND_HALF_EVEN
        ),
        prepared_by=actor,
        prepared_at=prepared_at,
        lot_number=lot_number,
        notes=notes,
    )
    dilution.full_clean()
    dilution.save()
    audit_create(actor=actor, instance=dilution)
    return dilution
