"""The soak's HTTP side: one client per simulated person or integration, and the recorder every
request and every acknowledged write goes to. Each request is timed and classified (ok, an
expected conflict, another 3xx/4xx, 5xx, no answer at all).

Plain ``http.client`` on one connection per client, cookies kept by hand: the production
settings mark the session and CSRF cookies Secure, which a cookie jar would not send over the
loopback's plain HTTP.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

# How a response is counted.
OK = "ok"
CONFLICT = "conflict"  # an expected refusal of a concurrent change (see EXPECTED_CONFLICTS)
UNEXPECTED = "unexpected"  # any other 3xx/4xx: a client or app problem to look at
SERVER_ERROR = "server_error"  # 5xx
CONNECTION_ERROR = "connection_error"  # refused, reset, timed out: no HTTP answer at all
CATEGORIES = (OK, CONFLICT, UNEXPECTED, SERVER_ERROR, CONNECTION_ERROR)

# 400s that are the app refusing a change made on stale information, which two writers working
# on the same pump at once cause by design: the program changed meanwhile, a refill is already
# booked, the visit was completed or cancelled meanwhile, the alert was resolved, the projection
# moved. (412 and 409 are conflicts whatever their body.)
EXPECTED_CONFLICTS = (
    "changed while this form was open",
    "already booked",
    "not booked",
    "no longer booked",
    "not the pump's booked visit",
    "already resolved",
    "projected to run empty",
    "changed since you read it",
)
REQUEST_TIMEOUT = 30.0
MAX_ERROR_SAMPLES = 20


@dataclass
class Sample:
    at: float  # seconds since the run started
    kind: str
    status: int  # 0: no HTTP answer
    ms: float
    category: str


@dataclass
class ErrorSample:
    at: float
    kind: str
    method: str
    path: str
    status: int
    detail: str


@dataclass
class Write:
    """A write the server acknowledged (2xx), with what it said it wrote."""

    kind: str
    at: float
    ids: dict[str, Any]
    replayed: bool = False


@dataclass
class Recorder:
    started: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, list[ErrorSample]] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.started

    def record(self, sample: Sample, error: ErrorSample | None = None) -> None:
        with self._lock:
            self.samples.append(sample)
            if error is not None:
                bucket = self.errors.setdefault(sample.category, [])
                if len(bucket) < MAX_ERROR_SAMPLES:
                    bucket.append(error)

    def acknowledged(self, write: Write) -> None:
        with self._lock:
            self.writes.append(write)

    def note(self, text: str) -> None:
        with self._lock:
            if len(self.notes) < MAX_ERROR_SAMPLES:
                self.notes.append(f"{self.now():7.1f} s  {text}")

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    ms: float
    error: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def is_conflict(response: Response) -> bool:
    if response.status in (409, 412):
        return True
    return response.status == 400 and any(p in response.text for p in EXPECTED_CONFLICTS)


class Client:
    """One HTTP connection to the app (reopened whenever the server closes it), the cookies of
    one browser or the token of one integration, and the recorder its requests go to.
    ``expected`` says which 3xx/4xx answers are expected conflicts (none by default)."""

    def __init__(
        self,
        base_url: str,
        recorder: Recorder,
        *,
        token: str = "",
        expected: Callable[[Response], bool] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.expected = expected
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.recorder = recorder
        self.token = token
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _exchange(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Response:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            raw = self.conn.getresponse()
            data = raw.read()
        except (OSError, http.client.HTTPException) as exc:  # TimeoutError is an OSError
            self.close()
            return Response(0, {}, b"", (time.perf_counter() - started) * 1000, repr(exc))
        ms = (time.perf_counter() - started) * 1000
        for value in raw.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if raw.will_close:
            self.close()
        return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data, ms)

    def request(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        redirect_ok: bool = False,
    ) -> Response:
        """Send one request, record it under ``kind`` and return the answer (status 0 when
        there was none). A redirect is an unexpected answer unless ``redirect_ok``."""
        sent = {"Host": f"{self.host}:{self.port}", "Accept": "application/json, text/html"}
        body: bytes | None = None
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent.update(headers or {})
        response = self._exchange(method, path, body, sent)
        category = self.classify(response, self.expected)
        if redirect_ok and 300 <= response.status < 400:
            category = OK
        error = None
        if category != OK:
            detail = response.error or response.text[:300]
            if 300 <= response.status < 400:
                detail = f"redirected to {response.headers.get('location', '?')}"
            error = ErrorSample(
                self.recorder.now(), kind, method, path, response.status, " ".join(detail.split())
            )
        self.recorder.record(
            Sample(self.recorder.now(), kind, response.status, response.ms, category), error
        )
        return response

    @staticmethod
    def classify(response: Response, expected: Callable[[Response], bool] | None) -> str:
        if response.status == 0:
            return CONNECTION_ERROR
        if response.status >= 500:
            return SERVER_ERROR
        if response.status < 300:
            return OK
        if expected is not None and expected(response):
            return CONFLICT
        return UNEXPECTED
