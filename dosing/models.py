"""The drug library: which baclofen products and concentrations may be used, and dilution
records for any other concentration (domain.md §1, §2.5, §2.6)."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from audit.history import HistoryRecord
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


class Dilution(HistoryRecord):
    """A prepared dilution: stock baclofen plus preservative-free 0.9 % NaCl (domain.md §2.5).
    The final concentration comes from the dosing engine (C1·V1 = C2·V2) when it is recorded."""

    EDIT_REFUSED = "A dilution record is never edited; record a new one."

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


class Population(models.TextChoices):
    SPINAL_ADULT = "spinal_adult", "Spinal origin, adult"
    CEREBRAL_ADULT = "cerebral_adult", "Cerebral origin, adult"
    PEDIATRIC = "pediatric", "Child"


def _number(
    verbose: str, default: str, help_text: str = "", digits: int = 7
) -> models.DecimalField:
    return models.DecimalField(
        verbose,
        max_digits=digits,
        decimal_places=3,
        default=Decimal(default),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=help_text,
    )


class DosingRules(models.Model):
    """Every number the dosing engine's checks use, kept in the database so a clinic can
    review and change it (with an audit entry) instead of it living in code. Exactly one set
    is active. Seeded with the label values (domain.md §2.2-2.6, §3.6); values marked ❓
    there are app policy a clinician must confirm (see ``source_notes``)."""

    name = models.CharField(max_length=120, unique=True)
    is_active = models.BooleanField(default=True)
    # Dose changes (domain.md §2.3, §6.9)
    pediatric_below_age_years = _number(
        "children are younger than (years)", "12", "Below this age the pediatric limits apply."
    )
    no_increase_after_implant_hours = _number(
        "no increase after implant (h)", "24", "No dose increase this soon after implant."
    )
    min_hours_between_increases = _number(
        "hours between increases (h)", "24", "Titration steps at most once per this interval."
    )
    hard_stop_increase_ratio = _number(
        "hard stop at increase ratio (×)",
        "2",
        "A proposed dose at or above this multiple of the current one is refused as a likely "
        "unit error (ISMP mcg/h vs mcg/day).",
    )
    hard_stop_decrease_ratio = _number(
        "hard stop at decrease ratio (×)",
        "0.5",
        "A proposed dose at or below this fraction of the current one is refused.",
    )
    # Screening (domain.md §2.2, §2.3)
    screening_concentration_mcg_per_ml = _number("screening concentration (mcg/mL)", "50")
    screening_max_bolus_mcg = _number("largest screening bolus (mcg)", "100")
    screening_min_hours_between_boluses = _number("hours between screening boluses (h)", "24")
    long_effect_threshold_hours = _number(
        "long screening effect above (h)",
        "8",
        "An effect lasting longer than this starts the pump at the screening dose, not twice it.",
    )
    starting_dose_multiplier = _number("starting dose × screening dose", "2")
    long_effect_starting_dose_multiplier = _number("… when the effect was long (×)", "1")
    # Refill reconciliation (domain.md §3.6, ❓ no manufacturer threshold)
    delivered_tolerance_percent = _number(
        "delivered volume tolerance (%)",
        "14.5",
        "Flag under- or over-delivery beyond this share of the expected delivered volume.",
    )
    small_reservoir_max_ml = _number("small reservoir up to (mL)", "20")
    small_reservoir_residual_tolerance_ml = _number("residual tolerance, small reservoir (mL)", "1")
    large_reservoir_residual_tolerance_ml = _number("residual tolerance, large reservoir (mL)", "2")
    # Projection defaults (docs of the calculator API; domain.md §2.6, §3.1, §4)
    default_low_reservoir_alarm_ml = _number("default low-reservoir alarm (mL)", "2")
    default_refill_buffer_days = _number("default refill buffer (days)", "7")
    default_max_refill_interval_days = _number(
        "drug stability limit (days)",
        "180",
        "A refill is due within this many days of a fill, however much drug is left.",
    )
    source_notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "dosing rules"
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True),
                name="dosing_rules_one_active",
                violation_error_message="Only one set of dosing rules can be active.",
            ),
            models.CheckConstraint(
                condition=Q(hard_stop_increase_ratio__gt=1)
                & Q(hard_stop_decrease_ratio__gt=0)
                & Q(hard_stop_decrease_ratio__lt=1),
                name="dosing_rules_hard_stop_ratios",
                violation_error_message="The hard-stop increase ratio must be above 1 and the "
                "decrease ratio between 0 and 1.",
            ),
        ]

    def __str__(self) -> str:
        return self.name + (" (active)" if self.is_active else "")


class PopulationDoseLimits(models.Model):
    """The label's dose-change limits and usual range for one population (domain.md §2.3-2.4)."""

    rules = models.ForeignKey(DosingRules, on_delete=models.CASCADE, related_name="populations")
    population = models.CharField(max_length=20, choices=Population.choices)
    titration_increase_min_percent = _number("titration step from (%)", "0")
    titration_increase_max_percent = _number("titration step up to (%)", "0")
    refill_increase_min_percent = _number("increase at refill from (%)", "0")
    refill_increase_max_percent = _number("increase at refill up to (%)", "0")
    side_effect_decrease_min_percent = _number("decrease for side effects from (%)", "10")
    side_effect_decrease_max_percent = _number("decrease for side effects up to (%)", "20")
    usual_min_daily_dose_mcg = _number("usual maintenance from (mcg/day)", "0", digits=9)
    usual_max_daily_dose_mcg = _number("usual maintenance up to (mcg/day)", "0", digits=9)

    class Meta:
        ordering = ["rules", "population"]
        verbose_name_plural = "population dose limits"
        constraints = [
            models.UniqueConstraint(
                fields=["rules", "population"], name="population_limits_unique"
            ),
            models.CheckConstraint(
                condition=Q(titration_increase_min_percent__lte=F("titration_increase_max_percent"))
                & Q(refill_increase_min_percent__lte=F("refill_increase_max_percent"))
                & Q(side_effect_decrease_min_percent__lte=F("side_effect_decrease_max_percent"))
                & Q(usual_min_daily_dose_mcg__lte=F("usual_max_daily_dose_mcg")),
                name="population_limits_ranges_ordered",
                violation_error_message="Each range's lower bound must not exceed its upper bound.",
            ),
        ]

    def __str__(self) -> str:
        return self.get_population_display()
