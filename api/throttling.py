"""Per-token request limits. Its own module: DRF imports it (DEFAULT_THROTTLE_CLASSES) while
loading its views, so it must not import them."""

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per API token (per user for a browser session, per address when anonymous)."""

    scope = "api"

    def get_rate(self) -> str:
        return str(settings.ITB_API_THROTTLE_RATE)

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{self.get_ident(request)}"
        return f"throttle:api:{ident}"
