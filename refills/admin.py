from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from refills.models import CalendarFeed, RefillVisit


@admin.register(RefillVisit)
class RefillVisitAdmin(ReadOnlyAdmin):
    """Visits are booked, moved and cancelled through the services (audited), not here."""

    list_display = ("pump", "scheduled_at", "status", "booked_by", "late_reason")
    list_filter = ("status", "pump__patient__clinic")
    search_fields = ("pump__serial_number", "pump__patient__family_name", "pump__patient__mrn")
    list_select_related = ("pump", "pump__pump_model", "booked_by")
    date_hierarchy = "scheduled_at"


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ReadOnlyAdmin):
    """The secret token is never shown here: only its first characters, to tell feeds apart."""

    list_display = ("token_start", "kind", "clinic", "user", "created_at", "revoked_at")
    list_filter = ("kind", "clinic")
    search_fields = ("user__username",)
    list_select_related = ("clinic", "user")
    exclude = ("token",)

    @admin.display(description="Token")
    def token_start(self, obj: CalendarFeed) -> str:
        return f"{obj.token[:6]}…"
