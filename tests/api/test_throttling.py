"""The per-token throttle counted in Redis (``api/throttling.py``): a sliding window of the
rate's length, exact when one token's requests arrive at once on several workers, a
``Retry-After`` that says when the oldest request leaves the window, a key that expires with
the window; and DRF's own counting when the cache is not Redis (the embedded demo).

The request-level behaviour (429 on every endpoint, a separate allowance per token and per
session, Redis down = unthrottled) is in ``tests/api/test_concurrency.py``."""

import threading
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache

from accounts.models import ApiToken
from accounts.services import api_token_issue
from api.throttling import TokenRateThrottle
from tests.conftest import World

PUMPS = "/api/v1/pumps/"


@pytest.fixture
def redis_cache(settings: Any) -> str:
    """The default cache on Redis (``make test``'s REDIS_URL), under a key prefix of this
    test's own. Without Redis the test fails: these are the Redis counter's tests."""
    config = dict(django_settings.CACHES["default"])
    if config["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        pytest.fail("these tests need Redis: run them with `make test` (REDIS_URL=redis://...)")
    config["KEY_PREFIX"] = f"throttle-test-{uuid.uuid4().hex}"
    settings.CACHES = {**django_settings.CACHES, "default": config}
    return str(config["LOCATION"])


@pytest.fixture
def token(world: World) -> ApiToken:
    issued, _raw = api_token_issue(actor=world.admin, user=world.integrator, scope="read")
    return issued


def request_of(token: ApiToken) -> Any:
    return SimpleNamespace(auth=token, user=token.user, META={})


def ask(token: ApiToken) -> tuple[bool, float | None]:
    """One request of ``token`` through a fresh throttle (DRF makes one per request)."""
    throttle = TokenRateThrottle()
    allowed = throttle.allow_request(request_of(token), view=None)
    return allowed, None if allowed else throttle.wait()


def window_key(token: ApiToken) -> str:
    return cache.make_key(f"throttle:api:token:{token.pk}:window")


def test_requests_at_once_on_many_workers_are_all_counted(
    redis_cache: str, token: ApiToken, settings: Any
) -> None:
    """32 requests of one token from 8 threads against a limit of 20: exactly 20 go through.
    (A read-then-write counter lets requests that read the same count all through.)"""
    settings.ITB_API_THROTTLE_RATE = "20/min"
    start = threading.Barrier(8)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait()
        for _ in range(4):
            allowed, _wait = ask(token)
            with lock:
                outcomes.append(allowed)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == 32
    assert outcomes.count(True) == 20
    client = redis.Redis.from_url(redis_cache)
    assert client.zcard(window_key(token)) == 20, "refused requests are not recorded"
    assert 0 < client.pttl(window_key(token)) <= 60_000, "the key expires with the window"


def test_the_window_slides_and_retry_after_says_when(
    redis_cache: str, token: ApiToken, settings: Any, api_clock: Any
) -> None:
    settings.ITB_API_THROTTLE_RATE = "3/min"
    assert ask(token) == (True, None)  # t = 0
    assert ask(token) == (True, None)  # t = 0
    api_clock.shift(timedelta(seconds=30))
    assert ask(token) == (True, None)  # t = 30
    api_clock.shift(timedelta(seconds=15))
    allowed, wait = ask(token)  # t = 45: three in the last minute
    assert not allowed and wait == pytest.approx(15)
    api_clock.shift(timedelta(seconds=16))  # t = 61: the two of t = 0 have left the window
    assert ask(token) == (True, None)
    assert ask(token) == (True, None)
    allowed, wait = ask(token)  # the one of t = 30 leaves at t = 90
    assert not allowed and wait == pytest.approx(29)


def test_a_throttled_response_says_when_to_come_back(
    redis_cache: str, api_as: Any, api_pump: Any, settings: Any, api_clock: Any
) -> None:
    settings.ITB_API_THROTTLE_RATE = "2/min"
    client = api_as("read_token")
    assert client.get(PUMPS).status_code == 200
    api_clock.shift(timedelta(seconds=20))
    assert client.get(PUMPS).status_code == 200
    api_clock.shift(timedelta(seconds=10))
    refused = client.get(PUMPS)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "30"
    api_clock.shift(timedelta(seconds=31))
    assert client.get(PUMPS).status_code == 200


def test_without_redis_drf_counts(api_as: Any, api_pump: Any, settings: Any) -> None:
    """The embedded demo's cache is a file: the same limit, counted by DRF's throttle."""
    settings.CACHES = {
        **django_settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"throttle-{uuid.uuid4().hex}",
        },
    }
    settings.ITB_API_THROTTLE_RATE = "2/min"
    client = api_as("read_token")
    assert [client.get(PUMPS).status_code for _ in range(3)] == [200, 200, 429]
