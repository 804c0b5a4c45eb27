"""Alerts in the admin: each clinic's alert policy is edited here (audited, with a reason);
alerts, their emails and the sweep's state are history, written only by the sweep, the
workers and the services, so they are read-only."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from alerts.kinds import group_names
from alerts.models import Alert, AlertPolicy, Delivery, SweepState
from audit.admin import AuditedAdmin, ReadOnlyAdmin


@admin.register(AlertPolicy)
class AlertPolicyAdmin(AuditedAdmin):
    list_display = (
        "clinic",
        "not_booked_lead_days",
        "high_risk_not_booked_lead_days",
        "reminder_lead_days",
        "missed_grace_hours",
        "empty_soon_hours",
        "escalation_minutes",
        "high_risk_escalation_minutes",
        "critical_repeat_minutes",
    )
    list_select_related = ("clinic",)
    ordering = ("clinic__name",)
    search_fields = ("clinic__name",)
    fieldsets = (
        (None, {"fields": ("clinic",)}),
        (
            "Refill booking",
            {
                "fields": (
                    "not_booked_lead_days",
                    "high_risk_not_booked_lead_days",
                    "reminder_lead_days",
                    "high_risk_reminder_lead_days",
                    "missed_grace_hours",
                    "high_risk_missed_grace_hours",
                )
            },
        ),
        (
            "Reservoir and device",
            {
                "fields": (
                    "empty_soon_hours",
                    "replacement_lead_days",
                    "stability_lead_days",
                )
            },
        ),
        (
            "Escalation",
            {
                "fields": (
                    "escalation_minutes",
                    "high_risk_escalation_minutes",
                    "critical_repeat_minutes",
                )
            },
        ),
        ("Audit", {"fields": ("change_reason",)}),
    )


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("user", "to_email", "audience", "stage", "status", "attempts", "sent_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "raised_at",
        "kind",
        "severity",
        "clinic",
        "patient",
        "high_risk",
        "status",
        "stage",
        "recipients",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
    )
    list_display_links = ("pk", "raised_at")
    list_filter = ("status", "severity", "kind", "clinic", "high_risk", "stage")
    search_fields = (
        "patient__family_name",
        "patient__given_name",
        "patient__mrn",
        "pump__serial_number",
        "cycle_key",
    )
    list_select_related = ("clinic", "patient", "acknowledged_by")
    date_hierarchy = "raised_at"
    inlines = [DeliveryInline]

    @admin.display(description="Goes to")
    def recipients(self, obj: Alert) -> str:
        return ", ".join(group_names(obj.recipient_groups)) or "—"


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "created_at",
        "alert_kind",
        "alert_id",
        "user",
        "to_email",
        "audience",
        "stage",
        "status",
        "attempts",
        "sent_at",
        "last_error_short",
    )
    list_filter = ("status", "audience", "stage", "alert__kind", "alert__clinic")
    search_fields = ("to_email", "user__username", "alert__patient__mrn", "last_error")
    list_select_related = ("alert", "user")
    date_hierarchy = "created_at"

    @admin.display(description="Alert", ordering="alert__kind")
    def alert_kind(self, obj: Delivery) -> str:
        return obj.alert.get_kind_display()

    @admin.display(description="Last error")
    def last_error_short(self, obj: Delivery) -> str:
        text = obj.last_error or "—"
        return text if len(text) <= 80 else text[:79] + "…"


@admin.register(SweepState)
class SweepStateAdmin(ReadOnlyAdmin):
    list_display = (
        "last_started_at",
        "last_finished_at",
        "duration_ms",
        "raised",
        "escalated",
        "resolved",
        "deliveries_queued",
    )
