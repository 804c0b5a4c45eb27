from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiToken, User
from accounts.services import api_token_revoke


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (*(DjangoUserAdmin.fieldsets or ()), ("Contact", {"fields": ("phone",)}))
    list_display = ("username", "first_name", "last_name", "email", "is_active", "is_staff")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens are issued with ``manage.py issue_api_token`` (the clear token is printed once
    there) and revoked here; the admin never adds, edits or deletes them."""

    list_display = (
        "prefix",
        "name",
        "user",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "name", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    fields = (
        "user",
        "name",
        "scope",
        "prefix",
        "token_hash",
        "created_at",
        "created_by",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    readonly_fields = fields
    actions = ["revoke_selected"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The change form of one token is read-only; "change" on the list is what the revoke
        # action needs.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = skipped = 0
        with transaction.atomic():
            for token in queryset.order_by("pk"):
                if token.revoked_at is not None:
                    skipped += 1
                    continue
                try:
                    api_token_revoke(actor=request.user, token=token, reason="Revoked in the admin")
                except ValidationError:  # revoked meanwhile by someone else
                    skipped += 1
                else:
                    revoked += 1
        self.message_user(request, f"Revoked {revoked} API token(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} selected token(s) were already revoked.", messages.WARNING
            )
