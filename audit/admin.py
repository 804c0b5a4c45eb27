from operator import attrgetter
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from audit.access import note_patient_read
from audit.models import AccessChannel, AccessLogEntry, AuditAction, AuditEntry
from audit.services import audit_record, diff, snapshot

ADMIN_DELETE_REASON = "Deleted in the admin"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Clinical history: viewable in the admin, written only by the services."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReasonForm(forms.ModelForm):
    change_reason = forms.CharField(
        label="Reason for this change",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit trail with the old and new values.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk and self.has_changed() and not data.get("change_reason", "").strip():
            self.add_error("change_reason", "Say why this record is changed.")
        return data


class AuditedAdmin(admin.ModelAdmin):
    """Admin edits of clinical and catalog records write an audit entry with old and new values
    and a required reason, in the same transaction as the change. Records are never deleted
    from the admin."""

    form = ReasonForm

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = [f for f in super().get_fields(request, obj) if f != "change_reason"]
        return [*fields, "change_reason"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        names = {f for _, opts in fieldsets for f in opts.get("fields", ())}
        if "change_reason" not in names:
            fieldsets = [*fieldsets, ("Audit", {"fields": ["change_reason"]})]
        return fieldsets

    def audit_patient(self, obj: Any) -> Any:
        return None

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before: dict[str, Any] = {}
        if change:
            before = snapshot(type(obj)._default_manager.get(pk=obj.pk))
        super().save_model(request, obj, form, change)
        obj.refresh_from_db()
        changes = diff(before, snapshot(obj))
        if changes or not change:
            audit_record(
                actor=request.user,
                instance=obj,
                action=AuditAction.UPDATE if change else AuditAction.CREATE,
                changes=changes,
                reason=form.cleaned_data.get("change_reason", "").strip(),
                patient=self.audit_patient(obj),
            )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline rows are audited like the parent: old and new values, the parent's reason."""
        model = formset.model
        before = {
            obj.pk: snapshot(obj)
            for obj in model._default_manager.filter(
                pk__in=[f.instance.pk for f in formset.forms if f.instance.pk]
            )
        }
        super().save_formset(request, form, formset, change)
        reason = form.cleaned_data.get("change_reason", "").strip()
        for obj in formset.new_objects:
            audit_record(
                actor=request.user,
                instance=obj,
                action=AuditAction.CREATE,
                changes=diff({}, snapshot(obj)),
                reason=reason,
            )
        for obj, _fields in formset.changed_objects:
            audit_record(
                actor=request.user,
                instance=obj,
                action=AuditAction.UPDATE,
                changes=diff(before.get(obj.pk, {}), snapshot(obj)),
                reason=reason,
            )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # An admin that allows deletion (removing someone from a care team) audits it: the old
    # values, in the same transaction as the delete.
    def _audit_delete(self, request: HttpRequest, obj: Any) -> None:
        audit_record(
            actor=request.user,
            instance=obj,
            action=AuditAction.DELETE,
            changes=diff(snapshot(obj), {}),
            reason=ADMIN_DELETE_REASON,
            patient=self.audit_patient(obj),
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            self._audit_delete(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in queryset:
                self._audit_delete(request, obj)
            super().delete_queryset(request, queryset)


class RecordsPatientReads(admin.ModelAdmin):
    """The change list and the change form record the patients they show in the access log
    (``access_patient_attr`` reaches a row's patient id: "pk" for patients, "patient_id" for a
    pump), with the rows the page already loaded: no extra query."""

    access_patient_attr = "pk"

    def _note(self, request: HttpRequest, records: Any, kind: str) -> None:
        patient_of = attrgetter(self.access_patient_attr)
        note_patient_read(
            request,
            [patient_of(record) for record in records],
            f"admin {self.model._meta.verbose_name} {kind}",
            channel=AccessChannel.ADMIN,
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is not None:
            # The page's own queryset: the template iterates the same, now cached, rows.
            self._note(request, changelist.result_list, "list")
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        original = (getattr(response, "context_data", None) or {}).get("original")
        if original is not None:
            self._note(request, [original], "page")
        return response


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "actor", "action", "record_type", "record_repr", "reason")
    list_filter = ("action", "record_type")
    search_fields = ("record_repr", "reason", "actor__username", "record_id")
    date_hierarchy = "occurred_at"
    list_select_related = ("actor",)
    formfield_overrides = {models.JSONField: {"widget": forms.Textarea}}


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(ReadOnlyAdmin):
    """Who read which patient's record: viewable here, written only by the access-log
    middleware, never edited or deleted."""

    list_display = (
        "occurred_at",
        "patient",
        "actor",
        "what",
        "channel",
        "api_token",
        "request_id",
        "client_address",
        "method",
        "path",
    )
    list_filter = ("channel", "what")
    search_fields = ("request_id", "actor__username", "patient__mrn", "patient__family_name")
    date_hierarchy = "occurred_at"
    list_select_related = ("patient", "actor", "api_token")
    raw_id_fields = ("patient", "actor", "api_token")
