from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from refills.models import RefillVisit


@admin.register(RefillVisit)
class RefillVisitAdmin(ReadOnlyAdmin):
    """Visits are booked, moved and cancelled through the services (audited), not here."""

    list_display = ("pump", "scheduled_at", "status", "booked_by", "late_reason")
    list_filter = ("status", "pump__patient__clinic")
    search_fields = ("pump__serial_number", "pump__patient__family_name", "pump__patient__mrn")
    list_select_related = ("pump", "pump__pump_model", "booked_by")
    date_hierarchy = "scheduled_at"
