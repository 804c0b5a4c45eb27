"""The drug library: which baclofen products and concentrations may be used, and dilution
records for any other concentration (domain.md §1, §2.5, §2.6)."""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from dosing.display import plain

POSITIVE = [MinValueValidator(Decimal("0.0001"))]


class ProductUse(models.TextChoices):
    SCREENING = "screening", "Screening bolus only"
    PUMP_FILL = "pump_fill", "Pump fill"


class DrugProduct(models.Model):
    """A labeled intrathecal baclofen product. Only the concentrations of active pump-fill
    products may be programmed without a dilution record (domain.md §1: the concentration is an
    enumerated field; unapproved concentrations raised motor-stall rates, §5)."""

    name = models.CharField(max_length=120)
    manufacturer = models.CharField(max_length=120)
    concentration_mcg_per_ml = models.DecimalField(
        "concentration (mcg/mL)", max_digits=7, decimal_places=2, validators=POSITIVE
    )
    container_volume_ml = models.DecimalField(
        "container volume (mL)", max_digits=5, decimal_places=2, validators=POSITIVE
    )
    container = models.CharField(max_length=40, help_text="Ampule, vial, prefilled syringe…")
    use = models.CharField(max_length=10, choices=ProductUse.choices)
    max_days_in_pump = models.PositiveSmallIntegerField(
        default=180,
        help_text="Drug stability limit: the pump must be refilled within this many days of a "
        "fill, however much is left (domain.md §2.6).",
    )
    is_active = models.BooleanField(default=True)
    source_notes = models.TextField(blank=True)

    class Meta:
        ordering = ["concentration_mcg_per_ml", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "concentration_mcg_per_ml", "container_volume_ml", "container"],
                name="drug_product_unique",
            ),
            models.CheckConstraint(
                condition=Q(concentration_mcg_per_ml__gt=0), name="drug_concentration_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_days_in_pump__gt=0), name="drug_stability_positive"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.name} {plain(self.concentration_mcg_per_ml)} mcg/mL "
            f"× {plain(self.container_volume_ml)} mL {self.container}"
        )


class Dilution(models.Model):
    """A prepared dilution: stock baclofen plus preservative-free 0.9 % NaCl (domain.md §2.5).
    The final concentration comes from the dosing engine (C1·V1 = C2·V2) when it is recorded."""

    stock_product = models.ForeignKey(
        DrugProduct, on_delete=models.PROTECT, related_name="dilutions"
    )
    stock_volume_ml = models.DecimalField(
        "stock volume (mL)", max_digits=6, decimal_places=3, validators=POSITIVE
    )
    diluent_volume_ml = models.DecimalField(
        "diluent volume (mL)", max_digits=6, decimal_places=3, validators=POSITIVE
    )
    diluent = models.CharField(
        max_length=80, default="0.9 % sodium chloride, preservative-free", editable=False
    )
    final_concentration_mcg_per_ml = models.DecimalField(
        "final concentration (mcg/mL)", max_digits=9, decimal_places=4, validators=POSITIVE
    )
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="dilutions_prepared"
    )
    prepared_at = models.DateTimeField()
    lot_number = models.CharField(max_length=60, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-prepared_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(final_concentration_mcg_per_ml__gt=0),
                name="dilution_concentration_positive",
            ),
        ]

    def __str__(self) -> str:
        concentration = plain(self.final_concentration_mcg_per_ml)
        return f"{concentration} mcg/mL dilution of {self.stock_product.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("A dilution record is never edited; record a new one.")
        super().save(*args, **kwargs)
