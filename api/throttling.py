"""Per-token request limits. Its own module: DRF imports it (DEFAULT_THROTTLE_CLASSES) while
loading its views, so it must not import them.

With Redis as the cache (``REDIS_URL``), each token's requests of the last window are a sorted
set in Redis, and one script trims, counts and records a request in one round trip, atomically:
two requests of one token on two workers both count, and nothing is read into the app. DRF's own
throttle reads the whole list of the window's timestamps from the cache, pickled, and writes it
back on every request (600 of them at the default rate), and two requests at once can each
write their list over the other's. Without Redis (the embedded demo's file cache) DRF's
throttle does the counting. Both allow at most N requests in any window of the rate's length.
"""

import logging
import os
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache as default_cache
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken

logger = logging.getLogger(__name__)

REDIS_CACHE_BACKEND = "django.core.cache.backends.redis.RedisCache"
# A throttle must never hold a request up for long: Redis that does not answer within this
# many seconds counts as unreachable (the request then goes through unthrottled).
REDIS_TIMEOUT_SECONDS = 0.5

# KEYS[1]: the token's set. ARGV: now and the window (seconds), the limit, a unique member.
# Returns "-1" when the request is allowed (and recorded), otherwise the seconds until the
# oldest request leaves the window (text: Redis would cut a number to an integer).
_SLIDING_WINDOW = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return '-1'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(math.max(0, tonumber(oldest[2]) + window - now))
"""


# Options of Django's Redis cache that are Django's own, not the Redis client's.
_CACHE_ONLY_OPTIONS = {"pool_class", "parser_class", "serializer"}
_scripts: dict[tuple[str, str], Callable[..., Any]] = {}


def _redis_script() -> Callable[..., Any] | None:
    """The sliding-window script on a client of the default cache's Redis (its first server,
    the one Django's cache writes to), or None when the cache is not Redis. One client per
    process and cache configuration; its connection pool is safe across gunicorn's fork."""
    config = settings.CACHES["default"]
    if config["BACKEND"] != REDIS_CACHE_BACKEND:
        return None
    location = config["LOCATION"]
    server = (location.split(",") if isinstance(location, str) else list(location))[0].strip()
    options = {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        **{
            name: value
            for name, value in config.get("OPTIONS", {}).items()
            if name not in _CACHE_ONLY_OPTIONS
        },
    }
    key = (server, repr(sorted(options.items())))
    script = _scripts.get(key)
    if script is None:
        client = redis.Redis.from_url(server, **options)
        script = _scripts[key] = client.register_script(_SLIDING_WINDOW)
    return script


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per API token (per user for a browser session, per address when anonymous)."""

    scope = "api"
    num_requests: int | None  # set from the rate by DRF's __init__
    duration: int | None

    def allow_request(self, request: Request, view: Any) -> bool:
        """While Redis is unreachable the API answers unthrottled rather than with a server
        error: a clinic reading a pump must not depend on the rate counter."""
        try:
            script = _redis_script()
            if script is None:
                return super().allow_request(request, view)
            return self._allow_in_redis(script, request, view)
        except RedisError:
            logger.warning("API throttle cache unreachable: request not throttled", exc_info=True)
            return True

    def _allow_in_redis(self, script: Callable[..., Any], request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        self.now = self.timer()
        member = f"{self.now!r}:{os.urandom(6).hex()}"
        answer = script(
            # A key of its own: DRF's throttle kept a pickled list under the cache key.
            keys=[default_cache.make_key(f"{self.key}:window")],
            args=[repr(self.now), self.duration, self.num_requests, member],
        )
        self._wait = float(answer)
        return self._wait < 0

    def wait(self) -> float | None:
        wait = getattr(self, "_wait", None)
        if wait is None:  # counted by DRF's throttle (no Redis)
            return super().wait()
        return max(wait, 0.0)

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
