from django.contrib import admin

from audit.admin import AuditedAdmin, ReadOnlyAdmin
from dosing.models import Dilution, DrugProduct


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
