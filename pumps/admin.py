from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.http import HttpRequest

from audit.admin import AuditedAdmin, ReadOnlyAdmin, RecordsPatientReads
from dosing.engine.units import format_quantity
from dosing.selectors import DosingRulesMissing
from pumps.models import (
    CareTeamMember,
    Catheter,
    CatheterModel,
    Clinic,
    FlexStep,
    Patient,
    Pump,
    PumpBolus,
    PumpModel,
    PumpProgram,
    ReservoirFill,
)
from pumps.projection import project_pump
from pumps.services import pump_projection_refresh


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StaffInline(ReadOnlyInline):
    model = CareTeamMember
    fk_name = "clinic"
    fields = ("user", "role", "is_clinic_lead", "is_on_call")
    verbose_name_plural = "Care team (staff)"


class CaregiverInline(ReadOnlyInline):
    model = CareTeamMember
    fk_name = "patient"
    fields = ("user", "role", "relationship")
    verbose_name_plural = "Caregivers"


class PumpInline(ReadOnlyInline):
    model = Pump
    fields = ("pump_model", "serial_number", "implanted_on", "status", "low_reservoir_alarm_ml")


class CatheterInline(ReadOnlyInline):
    model = Catheter
    fields = (
        "catheter_model",
        "implanted_length_cm",
        "volume_per_cm_ml",
        "implanted_on",
        "removed_on",
    )


class ProgramInline(ReadOnlyInline):
    model = PumpProgram
    fields = (
        "effective_from",
        "mode",
        "concentration_mcg_per_ml",
        "daily_dose_mcg",
        "entered_by",
        "verified_by",
    )
    ordering = ("-effective_from",)


class FillInline(ReadOnlyInline):
    model = ReservoirFill
    fields = ("filled_at", "volume_ml", "concentration_mcg_per_ml", "lot_number", "recorded_by")
    ordering = ("-filled_at",)


class StepInline(ReadOnlyInline):
    model = FlexStep
    fields = ("start_time", "rate_mcg_per_hour")
    show_change_link = False


@admin.register(Clinic)
class ClinicAdmin(AuditedAdmin):
    list_display = (
        "name",
        "time_zone",
        "phone",
        "refill_buffer_days",
        "high_risk_refill_buffer_days",
        "require_two_factor",
        "session_idle_minutes",
        "session_max_hours",
    )
    list_filter = ("require_two_factor",)
    search_fields = ("name",)
    inlines = [StaffInline]


@admin.register(Patient)
class PatientAdmin(RecordsPatientReads, AuditedAdmin):
    list_display = (
        "family_name",
        "given_name",
        "mrn",
        "clinic",
        "date_of_birth",
        "spasticity_origin",
        "sci_level",
        "high_risk",
    )
    list_display_links = ("family_name", "given_name")
    list_filter = (
        "clinic",
        "spasticity_origin",
        "high_withdrawal_risk",
        "communication_difficulty",
        "history_of_withdrawal",
    )
    search_fields = ("family_name", "given_name", "mrn")
    readonly_fields = ("high_withdrawal_risk",)
    list_select_related = ("clinic",)
    inlines = [CaregiverInline, PumpInline]

    def audit_patient(self, obj: Patient) -> Patient:
        return obj

    @admin.display(
        boolean=True, description="High withdrawal risk", ordering="high_withdrawal_risk"
    )
    def high_risk(self, obj: Patient) -> bool:
        return bool(obj.high_withdrawal_risk)


@admin.register(CareTeamMember)
class CareTeamMemberAdmin(AuditedAdmin):
    list_display = (
        "user",
        "role",
        "clinic",
        "patient",
        "is_clinic_lead",
        "is_on_call",
        "relationship",
    )
    list_filter = ("role", "clinic", "is_clinic_lead", "is_on_call")
    search_fields = ("user__username", "user__last_name", "patient__family_name", "patient__mrn")
    autocomplete_fields = ("user", "patient")
    list_select_related = ("user", "clinic", "patient")

    def audit_patient(self, obj: CareTeamMember) -> Patient | None:
        return obj.patient

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Removing someone from a care team is how access is withdrawn.
        return request.user.is_superuser


@admin.register(PumpModel)
class PumpModelAdmin(AuditedAdmin):
    list_display = (
        "name",
        "manufacturer",
        "kind",
        "reservoir_capacity_ml",
        "default_low_reservoir_alarm_ml",
        "unconfirmed",
    )
    list_filter = ("kind", "manufacturer", "is_available")
    search_fields = ("name", "model_number")

    @admin.display(description="Unconfirmed values")
    def unconfirmed(self, obj: PumpModel) -> str:
        values = obj.unconfirmed_values()
        return "⚠ " + ", ".join(values) if values else "—"


@admin.register(CatheterModel)
class CatheterModelAdmin(AuditedAdmin):
    list_display = (
        "name",
        "manufacturer",
        "model_number",
        "max_length_cm",
        "max_length_confidence",
        "volume_per_cm_ml",
        "volume_per_cm_confidence",
        "is_available",
    )
    list_filter = ("manufacturer", "volume_per_cm_confidence", "is_available")
    search_fields = ("name", "model_number")


@admin.register(Pump)
class PumpAdmin(RecordsPatientReads, AuditedAdmin):
    access_patient_attr = "patient_id"
    list_display = (
        "__str__",
        "patient",
        "pump_model",
        "status",
        "implanted_on",
        "low_reservoir_alarm_ml",
        "elective_replacement_on",
    )
    list_filter = ("status", "pump_model", "patient__clinic")
    search_fields = ("serial_number", "patient__family_name", "patient__mrn")
    autocomplete_fields = ("patient",)
    list_select_related = ("patient", "pump_model")
    readonly_fields = ("projection",)
    inlines = [CatheterInline, ProgramInline, FillInline]

    @admin.display(description="Projection from the last fill")
    def projection(self, obj: Pump) -> str:
        if obj.pk is None:
            return "—"
        try:
            result = project_pump(obj)
        except (ValueError, DosingRulesMissing) as exc:
            return f"Cannot project: {exc}"
        if result is None:
            return "No fill with a running program yet."
        zone = ZoneInfo(obj.patient.effective_time_zone)

        def local(moment: datetime) -> str:
            return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"

        reason = (
            "alarm − buffer"
            if result.refill_due_reason == "low_reservoir_alarm"
            else ("drug stability limit")
        )
        return (
            f"Low-reservoir alarm {local(result.low_reservoir_alarm_at)}; "
            f"empty {local(result.empty_at)}; "
            f"refill due {local(result.refill_due_at)} ({reason}); "
            f"{format_quantity(result.daily_dose_mcg, unit='mcg/day')}, "
            f"{format_quantity(result.daily_volume_ml, unit='mL/day')}"
        )

    def audit_patient(self, obj: Pump) -> Patient:
        return obj.patient

    def save_model(self, request: HttpRequest, obj: Pump, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # The alarm volume or status may have changed: the stored times follow at once.
        pump_projection_refresh(pump=obj)


@admin.register(Catheter)
class CatheterAdmin(AuditedAdmin):
    list_display = (
        "__str__",
        "pump",
        "catheter_model",
        "implanted_length_cm",
        "volume_per_cm_ml",
        "catheter_volume",
        "removed_on",
    )
    list_filter = ("catheter_model",)
    search_fields = ("pump__serial_number", "pump__patient__family_name", "lot_number")
    list_select_related = ("pump", "pump__pump_model", "catheter_model")

    @admin.display(description="Catheter volume (mL)")
    def catheter_volume(self, obj: Catheter) -> str:
        return f"{obj.catheter_volume_ml:.4f}"

    def audit_patient(self, obj: Catheter) -> Patient:
        return obj.pump.patient


@admin.register(PumpProgram)
class PumpProgramAdmin(ReadOnlyAdmin):
    list_display = (
        "pump",
        "effective_from",
        "mode",
        "concentration_mcg_per_ml",
        "daily_dose_mcg",
        "entered_by",
        "verified_by",
    )
    list_filter = ("mode", "concentration_mcg_per_ml", "pump__patient__clinic")
    search_fields = ("pump__serial_number", "pump__patient__family_name", "reason")
    list_select_related = ("pump", "pump__pump_model", "entered_by", "verified_by")
    date_hierarchy = "effective_from"
    inlines = [StepInline]


@admin.register(ReservoirFill)
class ReservoirFillAdmin(ReadOnlyAdmin):
    list_display = (
        "pump",
        "filled_at",
        "volume_ml",
        "concentration_mcg_per_ml",
        "product",
        "lot_number",
        "recorded_by",
    )
    list_filter = ("concentration_mcg_per_ml", "pump__patient__clinic")
    search_fields = ("pump__serial_number", "pump__patient__family_name", "lot_number")
    list_select_related = ("pump", "pump__pump_model", "product", "recorded_by")
    date_hierarchy = "filled_at"


@admin.register(FlexStep)
class FlexStepAdmin(ReadOnlyAdmin):
    list_display = ("program", "start_time", "rate_mcg_per_hour")
    list_select_related = ("program", "program__pump")
    search_fields = ("program__pump__serial_number", "program__pump__patient__family_name")


@admin.register(PumpBolus)
class PumpBolusAdmin(ReadOnlyAdmin):
    list_display = ("pump", "kind", "starts_at", "volume_ml", "duration_hours", "recorded_by")
    list_filter = ("kind",)
    list_select_related = ("pump", "pump__pump_model", "recorded_by")
    search_fields = ("pump__serial_number", "pump__patient__family_name")
