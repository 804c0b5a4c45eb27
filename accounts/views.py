"""Sign-in, the two-factor code and set-up pages, and the Security page.

The two-factor step comes after the password: Django signs the user in, and until the code is
entered ``accounts.middleware.TwoFactorMiddleware`` lets the session open only these pages.
That holds for every way of signing in (the site's sign-in page and the admin's).
"""

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import totp
from accounts.forms import PasswordConfirmForm, SetupCodeForm, SignInForm, TwoFactorCodeForm
from accounts.lockout import (
    LockoutStatus,
    client_address,
    locked_out_message,
    lockout_status,
    login_event_record,
    login_failure_record,
    normalise_username,
)
from accounts.models import LoginEvent, LoginMethod, LoginOutcome, UserSession
from accounts.qr import qr_svg
from accounts.sessions import SIGNED_OUT, TWO_FACTOR_VERIFIED, SignedOut
from accounts.two_factor import (
    REUSED_CODE,
    WRONG_CODE,
    CodeCheck,
    confirmed_device,
    recovery_codes_left,
    recovery_codes_regenerate,
    two_factor_code_check,
    two_factor_disable,
    two_factor_setup_confirm,
    two_factor_setup_start,
    two_factor_state,
    why_required,
)

RECENT_SIGN_INS = 10


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("home")


def _no_store(response: HttpResponse) -> HttpResponse:
    """For pages that show a secret (the key, recovery codes): never kept by a cache."""
    response["Cache-Control"] = "no-store"
    return response


class SignInView(LoginView):
    """Django's sign-in page with the lockout's message, and the reason a session was ended
    (inactivity, lifetime, lockout) when the browser was sent here for it."""

    authentication_form = SignInForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        ended = request.session.pop(SIGNED_OUT, None) if hasattr(request, "session") else None
        if isinstance(ended, str) and ended:
            messages.warning(request, ended)
        elif isinstance(ended, list) and len(ended) == 2:
            messages.warning(request, SignedOut(reason=str(ended[0]), amount=int(ended[1])).message)
        return super().dispatch(request, *args, **kwargs)


def _sign_out_locked(request: HttpRequest, status: LockoutStatus) -> HttpResponse:
    logout(request)
    request.session[SIGNED_OUT] = locked_out_message(status)
    return redirect("login")


@never_cache
@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator, or a recovery code."""
    user: Any = request.user
    next_url = _next_url(request)
    if request.session.get(TWO_FACTOR_VERIFIED):
        return redirect(next_url)
    state = two_factor_state(user)
    if not state.has_device:
        if state.required:
            return redirect(
                f"{reverse('accounts:two_factor_setup')}?{urlencode({'next': next_url})}"
            )
        return redirect(next_url)

    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, address = normalise_username(user.get_username()), client_address(request)
        typed = totp.normalise_code(form.cleaned_data["code"])
        method = LoginMethod.TOTP if totp.looks_like_totp(typed) else LoginMethod.RECOVERY_CODE
        status = lockout_status(key, address)
        if status.locked:
            login_event_record(
                request=request,
                username=key,
                user=user,
                method=method,
                outcome=LoginOutcome.LOCKED_OUT,
            )
            return _sign_out_locked(request, status)
        result = two_factor_code_check(user=user, code=typed)
        if result.accepted:
            login_event_record(
                request=request,
                username=key,
                user=user,
                method=method,
                outcome=LoginOutcome.SUCCEEDED,
            )
            request.session[TWO_FACTOR_VERIFIED] = True
            if result is CodeCheck.RECOVERY_CODE:
                left = recovery_codes_left(user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code, which now no longer works; {left} "
                    f"left. If you lost your phone, make new codes on the Security page.",
                )
            return redirect(next_url)
        status = login_failure_record(request=request, username=key, user=user, method=method)
        if status.locked:
            return _sign_out_locked(request, status)
        form.add_error("code", REUSED_CODE if result is CodeCheck.REUSED else WRONG_CODE)
    return render(
        request,
        "accounts/two_factor_verify.html",
        {"form": form, "next": next_url, "issuer": _issuer()},
    )


@never_cache
@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: the key as a QR code and as text, confirmed with a first
    code. Recovery codes are shown once, on the page that answers the right code."""
    user: Any = request.user
    next_url = _next_url(request)
    state = two_factor_state(user)
    if not state.eligible:
        raise Http404("Two-factor authentication is for clinicians, nurses and administrators.")
    if state.has_device:
        messages.info(request, "Two-factor authentication is already set up for your account.")
        return redirect("accounts:security")
    device = two_factor_setup_start(user=user)

    form = SetupCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = two_factor_setup_confirm(user=user, code=form.cleaned_data["code"])
        except ValidationError as exc:
            for message in exc.message_dict.get("code", exc.messages):
                form.add_error("code", message)
        else:
            if not request.session.get(TWO_FACTOR_VERIFIED):  # this completes a sign-in
                login_event_record(
                    request=request,
                    username=user.get_username(),
                    user=user,
                    method=LoginMethod.TOTP,
                    outcome=LoginOutcome.SUCCEEDED,
                )
                request.session[TWO_FACTOR_VERIFIED] = True
            return _no_store(
                render(
                    request,
                    "accounts/recovery_codes.html",
                    {"codes": codes, "next": next_url, "just_set_up": True},
                )
            )

    issuer = _issuer()
    uri = totp.provisioning_uri(device.secret, account=user.get_username(), issuer=issuer)
    context = {
        "form": form,
        "next": next_url,
        "required": state.required,
        "required_by": why_required(user) if state.required else "",
        "verified": bool(request.session.get(TWO_FACTOR_VERIFIED)),
        "secret": totp.group_secret(device.secret),
        "issuer": issuer,
        "qr": qr_svg(uri, title=f"QR code of the authenticator key for {issuer}"),
    }
    return _no_store(render(request, "accounts/two_factor_setup.html", context))


def _issuer() -> str:
    from django.conf import settings

    return str(settings.ITB_TWO_FACTOR_ISSUER)


def _security_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    user: Any = request.user
    state = two_factor_state(user)
    device = confirmed_device(user)
    current_key = request.session.session_key
    sessions = [
        {"session": row, "current": row.session_key == current_key}
        for row in UserSession.objects.filter(user=user).order_by("-created_at")
    ]
    return {
        "state": state,
        "device": device,
        "codes_left": recovery_codes_left(user) if device else 0,
        "required_by": why_required(user) if state.required else "",
        "sessions": sessions,
        "events": LoginEvent.objects.filter(user=user)[:RECENT_SIGN_INS],
        "off_form": PasswordConfirmForm(prefix="off"),
        "codes_form": PasswordConfirmForm(prefix="codes"),
        **extra,
    }


@never_cache
@login_required
def security(request: HttpRequest) -> HttpResponse:
    """Two-factor authentication (set up, new recovery codes, turn off), the user's signed-in
    sessions and their recent sign-ins."""
    return render(request, "accounts/security.html", _security_context(request))


def _apply_errors(form: PasswordConfirmForm, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        for error in errors:
            form.add_error("password" if field == "password" else None, error)


@require_POST
@login_required
def two_factor_turn_off(request: HttpRequest) -> HttpResponse:
    form = PasswordConfirmForm(request.POST, prefix="off")
    if form.is_valid():
        try:
            two_factor_disable(user=request.user, password=form.cleaned_data["password"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Two-factor authentication is turned off for your account.")
            return redirect("accounts:security")
    return render(
        request, "accounts/security.html", _security_context(request, off_form=form), status=400
    )


@require_POST
@login_required
def recovery_codes_new(request: HttpRequest) -> HttpResponse:
    form = PasswordConfirmForm(request.POST, prefix="codes")
    if form.is_valid():
        try:
            codes = recovery_codes_regenerate(
                user=request.user, password=form.cleaned_data["password"]
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            return _no_store(
                render(
                    request,
                    "accounts/recovery_codes.html",
                    {"codes": codes, "next": reverse("accounts:security"), "just_set_up": False},
                )
            )
    return render(
        request, "accounts/security.html", _security_context(request, codes_form=form), status=400
    )
