"""Per-token request limits. Its own module: DRF imports it (DEFAULT_THROTTLE_CLASSES) while
loading its views, so it must not import them."""

import logging
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken

logger = logging.getLogger(__name__)


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per API token (per user for a browser session, per address when anonymous)."""

    scope = "api"

    def allow_request(self, request: Request, view: Any) -> bool:
        """While the cache (Redis) is unreachable the API answers unthrottled rather than with
        a server error: a clinic reading a pump must not depend on the rate counter."""
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("API throttle cache unreachable: request not throttled", exc_info=True)
            return True

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
