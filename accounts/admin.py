from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.forms import AdminSignInForm
from accounts.models import (
    ApiToken,
    ApiTokenScope,
    LoginEvent,
    RecoveryCode,
    TwoFactorDevice,
    User,
    UserSession,
)
from accounts.services import (
    DEFAULT_EXPIRES_IN_DAYS,
    MAX_EXPIRES_IN_DAYS,
    api_token_issue,
    api_token_revoke,
    set_change_actor,
)
from accounts.two_factor import two_factor_reset
from audit.admin import ReadOnlyAdmin

# The admin's sign-in form says when sign-in is paused by the lockout (accounts.backends).
admin.site.login_form = AdminSignInForm


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users. Unticking *Active* (saving the change form) ends the user's browser sessions and
    revokes their API tokens at once, audited with the administrator as actor."""

    fieldsets = (*(DjangoUserAdmin.fieldsets or ()), ("Contact", {"fields": ("phone",)}))
    list_display = (
        "username",
        "first_name",
        "last_name",
        "email",
        "is_active",
        "is_staff",
        "two_factor",
    )
    actions = ["reset_two_factor"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                has_two_factor=Exists(
                    TwoFactorDevice.objects.filter(user=OuterRef("pk"), confirmed_at__isnull=False)
                )
            )
        )

    @admin.display(boolean=True, description="Two-factor", ordering="has_two_factor")
    def two_factor(self, obj: Any) -> bool:
        return bool(getattr(obj, "has_two_factor", False))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        set_change_actor(obj, actor=request.user, reason="Deactivated in the admin")
        super().save_model(request, obj, form, change)

    @admin.action(
        description="Reset two-factor authentication (lost phone): remove the authenticator "
        "and recovery codes, sign out",
        permissions=["change"],
    )
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        reset = 0
        with transaction.atomic():
            for user in queryset.order_by("pk"):
                if two_factor_reset(actor=request.user, user=user, reason="Reset in the admin"):
                    reset += 1
        skipped = queryset.count() - reset
        self.message_user(
            request,
            f"Reset two-factor authentication of {reset} user(s): they were signed out and set it "
            "up again at their next sign-in if their clinic requires it.",
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                f"{skipped} selected user(s) had no two-factor authentication to reset.",
                messages.WARNING,
            )


@admin.register(LoginEvent)
class LoginEventAdmin(ReadOnlyAdmin):
    """Every sign-in attempt (passwords and two-factor codes), read only."""

    list_display = (
        "occurred_at",
        "username",
        "user",
        "address",
        "method",
        "outcome",
        "locked_until",
    )
    list_filter = ("outcome", "method", "occurred_at")
    search_fields = ("username", "address", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "occurred_at"
    fields = (*list_display, "user_agent")
    readonly_fields = fields


@admin.register(UserSession)
class UserSessionAdmin(ReadOnlyAdmin):
    """Signed-in browser sessions, read only. Deactivate a user (or reset their two-factor
    authentication) to end theirs."""

    list_display = ("user", "created_at", "address", "user_agent")
    search_fields = ("user__username", "address")
    list_select_related = ("user",)
    fields = ("user", "created_at", "address", "user_agent")
    readonly_fields = fields


class IssueTokenForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        help_text="The API calls made with the token act as this user and see what they see.",
    )
    name = forms.CharField(
        max_length=100, required=False, help_text='What the integration is, e.g. "Epic interface".'
    )
    scope = forms.ChoiceField(choices=ApiTokenScope.choices)
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        required=False,
        min_value=1,
        max_value=MAX_EXPIRES_IN_DAYS,
        initial=DEFAULT_EXPIRES_IN_DAYS,
        help_text="Leave empty for a token that never expires.",
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens are issued here (or with ``manage.py issue_api_token``) through the service:
    the clear token is shown once, on the page that answers the form, and only its hash is
    kept. They are revoked here; never edited or deleted."""

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

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = IssueTokenForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                token, clear = api_token_issue(
                    actor=request.user,
                    user=form.cleaned_data["user"],
                    scope=form.cleaned_data["scope"],
                    name=form.cleaned_data["name"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                # Shown once, in this response only (never in a message, a cookie or a log).
                response = render(
                    request,
                    "admin/accounts/apitoken/issued.html",
                    {
                        **self.admin_site.each_context(request),
                        "token": token,
                        "clear": clear,
                        "opts": self.model._meta,
                        "title": "API token issued",
                    },
                )
                response["Cache-Control"] = "no-store"
                return response
        return render(
            request,
            "admin/accounts/apitoken/issue.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "opts": self.model._meta,
                "title": "Issue an API token",
            },
        )

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


@admin.register(TwoFactorDevice)
class TwoFactorDeviceAdmin(ReadOnlyAdmin):
    """Users' authenticators, read only and without their secret. To remove one (a lost phone),
    use the *Reset two-factor authentication* action on the users list."""

    list_display = ("user", "created_at", "confirmed_at", "last_used_at")
    list_filter = (("confirmed_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    fields = ("user", "created_at", "confirmed_at", "last_used_at")
    readonly_fields = fields


@admin.register(RecoveryCode)
class RecoveryCodeAdmin(ReadOnlyAdmin):
    """Whether each user's recovery codes are used; the codes themselves are never stored."""

    list_display = ("user", "created_at", "used_at")
    list_filter = (("used_at", admin.EmptyFieldListFilter),)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    fields = ("user", "created_at", "used_at")
    readonly_fields = fields
