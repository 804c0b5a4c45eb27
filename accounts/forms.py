"""Sign-in and account-security forms."""

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.backends import LOCKOUT_ATTRIBUTE
from accounts.lockout import locked_out_message


class LockoutMessageMixin:
    """Says that sign-in is paused when the lockout backend refused the attempt (instead of
    "wrong username or password"). The same words for an account that exists and for one that
    does not."""

    request: Any

    def get_invalid_login_error(self) -> ValidationError:
        status = getattr(self.request, LOCKOUT_ATTRIBUTE, None)
        if status is not None and status.locked:
            return ValidationError(locked_out_message(status), code="locked_out")
        return super().get_invalid_login_error()  # type: ignore[misc]


class SignInForm(LockoutMessageMixin, AuthenticationForm):
    pass


class AdminSignInForm(LockoutMessageMixin, AdminAuthenticationForm):
    pass


def _code_input(**attrs: str) -> forms.TextInput:
    return forms.TextInput(
        attrs={
            "autocomplete": "one-time-code",
            "autocapitalize": "off",
            "autocorrect": "off",
            "spellcheck": "false",
            "autofocus": "autofocus",
            **attrs,
        }
    )


class TwoFactorCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=40,
        widget=_code_input(),
        help_text="The 6-digit code your authenticator app shows now, or one of your recovery "
        "codes.",
        error_messages={"required": "Enter the code from your authenticator app."},
    )


class SetupCodeForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=12,
        widget=_code_input(inputmode="numeric"),
        help_text="The 6-digit code the app shows after you added the key.",
        error_messages={"required": "Enter the 6-digit code the app shows."},
    )


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": "Enter your password to confirm."},
    )
