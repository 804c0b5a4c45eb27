from django.contrib import admin

from audit.admin import AuditedAdmin, ReadOnlyAdmin
from dosing.models import Dilution, DosingRules, DrugProduct, PopulationDoseLimits


@admin.register(DrugProduct)
class DrugProductAdmin(AuditedAdmin):
    list_display = (
        "name",
        "manufacturer",
        "concentration_mcg_per_ml",
        "container_volume_ml",
        "container",
        "use",
        "max_days_in_pump",
        "is_active",
    )
    list_filter = ("use", "manufacturer", "is_active")
    search_fields = ("name",)


@admin.register(Dilution)
class DilutionAdmin(ReadOnlyAdmin):
    list_display = (
        "final_concentration_mcg_per_ml",
        "stock_product",
        "stock_volume_ml",
        "diluent_volume_ml",
        "prepared_by",
        "prepared_at",
        "lot_number",
    )
    list_select_related = ("stock_product", "prepared_by")


class PopulationDoseLimitsInline(admin.TabularInline):
    model = PopulationDoseLimits
    extra = 0
    can_delete = False
    max_num = 3


@admin.register(DosingRules)
class DosingRulesAdmin(AuditedAdmin):
    """The numbers behind every dose-change, screening and reconciliation check. Changes take
    effect at once for every calculation and are audited with their reason."""

    list_display = (
        "name",
        "is_active",
        "hard_stop_increase_ratio",
        "delivered_tolerance_percent",
        "updated_at",
    )
    inlines = [PopulationDoseLimitsInline]
    fieldsets = [
        (None, {"fields": ["name", "is_active", "source_notes"]}),
        (
            "Dose changes",
            {
                "fields": [
                    "pediatric_below_age_years",
                    "no_increase_after_implant_hours",
                    "min_hours_between_increases",
                    "hard_stop_increase_ratio",
                    "hard_stop_decrease_ratio",
                ]
            },
        ),
        (
            "Screening and starting dose",
            {
                "fields": [
                    "screening_concentration_mcg_per_ml",
                    "screening_max_bolus_mcg",
                    "screening_min_hours_between_boluses",
                    "long_effect_threshold_hours",
                    "starting_dose_multiplier",
                    "long_effect_starting_dose_multiplier",
                ]
            },
        ),
        (
            "Refill reconciliation",
            {
                "fields": [
                    "delivered_tolerance_percent",
                    "small_reservoir_max_ml",
                    "small_reservoir_residual_tolerance_ml",
                    "large_reservoir_residual_tolerance_ml",
                ]
            },
        ),
        (
            "Projection defaults",
            {
                "fields": [
                    "default_low_reservoir_alarm_ml",
                    "default_refill_buffer_days",
                    "default_max_refill_interval_days",
                ]
            },
        ),
        ("Audit", {"fields": ["change_reason"]}),
    ]


@admin.register(PopulationDoseLimits)
class PopulationDoseLimitsAdmin(ReadOnlyAdmin):
    """Listed for reference; edited inline on their dosing rules (with a reason)."""

    list_display = (
        "rules",
        "population",
        "titration_increase_max_percent",
        "refill_increase_max_percent",
        "usual_min_daily_dose_mcg",
        "usual_max_daily_dose_mcg",
    )
    list_filter = ("rules", "population")
