"""Session limits and two-factor authentication for signed-in browser sessions. Both run right
after ``AuthenticationMiddleware`` (they need ``request.user``), the timeout first: an expired
session is signed out before anything asks it for a code.

Requests that carry an API token (``Authorization: Bearer``) are left alone: the token is the
credential, and the API's own authentication decides. A session-authenticated API call is a
browser session and is held to both.
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.sessions import (
    ACTIVITY_RESOLUTION_SECONDS,
    SIGNED_OUT,
    TWO_FACTOR_NOT_NEEDED_UNTIL,
    TWO_FACTOR_VERIFIED,
    session_check,
)
from accounts.two_factor import two_factor_state

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _has_bearer_token(request: HttpRequest) -> bool:
    """An API call whose credential is a token: ``BearerTokenAuthentication`` either accepts
    it or answers 401, and never falls back to the session. Anywhere else the header means
    nothing (the pages sign in by session), so it cannot be used to skip these checks; nor can
    a scheme that only starts with "bearer", which the API would pass on to the session."""
    if not _is_api(request):
        return False
    parts = str(request.META.get("HTTP_AUTHORIZATION", "")).split()
    return bool(parts) and parts[0].lower() == "bearer"


def _signed_in_session(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and not _has_bearer_token(request))


def _redirect_with_next(url: str, request: HttpRequest) -> HttpResponseRedirect:
    """To ``url``, with the page asked for as ``next`` (as Django's sign-in redirect does);
    a form post is not repeated after signing in, so it goes home then."""
    if request.method in ("GET", "HEAD"):
        return redirect_to_login(request.get_full_path(), url)
    return HttpResponseRedirect(url)


class SessionTimeoutMiddleware:
    """Signs a browser session out when it has been idle, or open, for longer than the user's
    clinics allow (``accounts.sessions``), and sends the browser to the sign-in page, which says
    why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _signed_in_session(request):
            ended = session_check(request)
            if ended is not None:
                logout(request)
                request.session[SIGNED_OUT] = [ended.reason, ended.amount]
                if not _is_api(request):
                    return _redirect_with_next(resolve_url(settings.LOGIN_URL), request)
        return self.get_response(request)


OPEN_URL_NAMES = (
    "login",
    "logout",
    "admin:logout",
    "accounts:two_factor_verify",
    "accounts:two_factor_setup",
)


def _open_paths() -> tuple[frozenset[str], tuple[str, ...]]:
    """Pages a signed-in user who still owes a code may open (exact paths), and prefixes."""
    exact = set()
    for name in OPEN_URL_NAMES:
        try:
            exact.add(reverse(name))
        except NoReverseMatch:  # a URL configuration without the page
            continue
    static = "/" + str(settings.STATIC_URL or "static/").lstrip("/")
    return frozenset(exact), (static, "/healthz")


class TwoFactorMiddleware:
    """A signed-in browser session that has not entered its two-factor code yet may only open
    the code page (or, for a user who must use two-factor authentication and has no
    authenticator yet, the set-up page), sign out or sign in again. Everything else is sent
    there; a session-authenticated API call gets 403."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _signed_in_session(request) and not request.session.get(TWO_FACTOR_VERIFIED):
            refused = self._refuse(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _refuse(self, request: HttpRequest) -> HttpResponse | None:
        exact, prefixes = _open_paths()
        if request.path.startswith(prefixes):
            return None
        now = int(timezone.now().timestamp())
        not_needed_until = request.session.get(TWO_FACTOR_NOT_NEEDED_UNTIL)
        if (
            isinstance(not_needed_until, int)
            and now < not_needed_until <= now + ACTIVITY_RESOLUTION_SECONDS
        ):
            return None  # known a moment ago: no query
        state = two_factor_state(request.user)
        if state.has_device:
            target, detail = "accounts:two_factor_verify", "enter your two-factor code"
        elif state.required:
            target, detail = "accounts:two_factor_setup", "set up two-factor authentication"
        else:
            request.session[TWO_FACTOR_NOT_NEEDED_UNTIL] = now + ACTIVITY_RESOLUTION_SECONDS
            return None
        if request.path in exact:
            # The page shows no menu: the session is not fully signed in yet.
            request.itb_two_factor_pending = True  # type: ignore[attr-defined]
            return None
        if _is_api(request):
            return JsonResponse(
                {"detail": f"Finish signing in first: {detail} in the browser."}, status=403
            )
        return _redirect_with_next(reverse(target), request)
