"""System checks of the sign-in and session settings (``manage.py check``; the proxy warning
with ``check --deploy``)."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

BACKEND = "accounts.backends.LockoutModelBackend"


@register()
def sign_in_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from pumps.models.clinics import (
        SESSION_IDLE_MINUTES_MAX,
        SESSION_IDLE_MINUTES_MIN,
        SESSION_MAX_HOURS_MAX,
        SESSION_MAX_HOURS_MIN,
    )

    problems: list[Any] = []
    for name in (
        "ITB_LOGIN_MAX_FAILURES",
        "ITB_LOGIN_FAILURE_WINDOW_MINUTES",
        "ITB_LOGIN_LOCKOUT_MINUTES",
    ):
        if int(getattr(settings, name)) < 1:
            problems.append(Error(f"{name} must be at least 1.", id="accounts.E001"))
    if int(getattr(settings, "ITB_TRUSTED_PROXIES", 0)) < 0:
        problems.append(Error("ITB_TRUSTED_PROXIES cannot be negative.", id="accounts.E002"))
    idle, hours = int(settings.ITB_SESSION_IDLE_MINUTES), int(settings.ITB_SESSION_MAX_HOURS)
    if not SESSION_IDLE_MINUTES_MIN <= idle <= SESSION_IDLE_MINUTES_MAX:
        problems.append(
            Error(
                f"ITB_SESSION_IDLE_MINUTES must be {SESSION_IDLE_MINUTES_MIN}–"
                f"{SESSION_IDLE_MINUTES_MAX}.",
                id="accounts.E003",
            )
        )
    if not SESSION_MAX_HOURS_MIN <= hours <= SESSION_MAX_HOURS_MAX:
        problems.append(
            Error(
                f"ITB_SESSION_MAX_HOURS must be {SESSION_MAX_HOURS_MIN}–{SESSION_MAX_HOURS_MAX}.",
                id="accounts.E004",
            )
        )
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.signed_cookies":
        problems.append(
            Error(
                "Signed-cookie sessions cannot be ended on the server: deactivating a user "
                "must end their sessions. Use the database, cache or cached_db engine.",
                id="accounts.E005",
            )
        )
    if BACKEND not in settings.AUTHENTICATION_BACKENDS:
        problems.append(
            Warning(
                f"{BACKEND} is not in AUTHENTICATION_BACKENDS: password sign-ins are neither "
                "locked out nor recorded.",
                id="accounts.W001",
            )
        )
    return problems


@register(deploy=True)
def proxy_hops(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    proxies = int(getattr(settings, "ITB_TRUSTED_PROXIES", 0))
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and not proxies:
        return [
            Warning(
                "The app trusts a proxy for HTTPS (SECURE_PROXY_SSL_HEADER) but "
                "ITB_TRUSTED_PROXIES is 0: every client has the proxy's address, so the "
                "sign-in lockout treats all users as one address. Set ITB_TRUSTED_PROXIES to "
                "the number of proxies in front of the app.",
                id="accounts.W002",
            )
        ]
    return []
