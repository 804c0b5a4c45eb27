"""Real services for the alert fault tests (tests/alerts/test_faults.py): no mocks.

- ``SmtpServer``: an aiosmtpd server in this process, on a free loopback port, whose handler can
  accept, refuse with 451, or hold a message before answering. It records a message as
  accepted only once it has answered 250, so a message whose client died mid-send is never
  counted as delivered.
- ``Workers``: real ``celery -A itb worker`` subprocesses (solo pool) pointed at the test
  database, the Redis broker and the SMTP server; stopped or SIGKILLed as a process group, and
  always killed at teardown.
- ``PrivateRedis``: a redis-server of the test's own on a free port, which a test may shut down
  and start again (the machine's shared Redis is never restarted).
- ``wait_for``: poll a condition until a deadline.
"""

from __future__ import annotations

import asyncio
import ctypes
import email
import email.policy
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiosmtpd.controller import Controller

BASE_DIR = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# Data migrations that seed reference rows (pump catalog, drug library, dosing rules). A
# transactional test's flush empties every table; each seed is idempotent.
SEEDING_MIGRATIONS = (
    "pumps.migrations.0002_seed_catalog",
    "dosing.migrations.0002_seed_drug_library",
    "dosing.migrations.0004_seed_dosing_rules",
)


def reseed_reference_rows() -> None:
    from importlib import import_module

    from django.apps import apps

    for module in SEEDING_MIGRATIONS:
        import_module(module).seed(apps, None)


def service_missing(message: str) -> None:
    """A service the test needs is not there: always a failure (``make test`` starts them)."""
    pytest.fail(message)


try:  # Linux: resolved here, not in the forked child (which must not import anything)
    _prctl: Any = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` of the subprocesses: the kernel SIGKILLs them if this test process dies
    (say, killed by a CI timeout), so no worker or server outlives the run."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "the condition",
    diagnose: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` seconds
    pass (AssertionError naming ``what``, with ``diagnose()`` appended)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f"\n{diagnose()}" if diagnose is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message the server accepted (answered 250 to)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    at: float

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def delivery_id(self) -> int:
        """The outbox row this message is (its Message-ID is fixed per delivery)."""
        local = self.message_id.strip("<>").split("@", 1)[0]
        assert local.startswith("alert-delivery-"), self.message_id
        return int(local.removeprefix("alert-delivery-"))

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "no text/plain part"
        return str(part.get_content())  # type: ignore[attr-defined]


@dataclass
class Attempt:
    """Every DATA the server saw, with what became of it: accepted, refused or aborted (the
    client went away while the server held its answer)."""

    message_id: str
    rcpt_tos: tuple[str, ...]
    outcome: str
    at: float


@dataclass
class SmtpHandler:
    """An aiosmtpd handler whose behaviour the test sets (``configure``) at any time.

    - ``refuse_first``: answer 451 to the first N messages the server sees;
    - ``refuse_each``: answer 451 to the first N attempts of each distinct Message-ID;
    - ``hold_first`` / ``hold_seconds``: hold the answer to the first N messages that long, or
      until the test sets ``release`` (a client that disconnects meanwhile gets nothing, and
      nothing is recorded as accepted). ``holding`` is set while a message is held.
    """

    refuse_first: int = 0
    refuse_each: int = 0
    hold_first: int = 0
    hold_seconds: float = 0.0
    accepted: list[Received] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _seen: int = 0
    _seen_by_id: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(
        self,
        *,
        refuse_first: int = 0,
        refuse_each: int = 0,
        hold_first: int = 0,
        hold_seconds: float = 0.0,
    ) -> None:
        with self._lock:
            self.refuse_first = refuse_first
            self.refuse_each = refuse_each
            self.hold_first = hold_first
            self.hold_seconds = hold_seconds
            self._seen = 0
            self._seen_by_id = {}
            self.holding.clear()
            self.release.clear()

    def _record(self, message_id: str, rcpt_tos: tuple[str, ...], outcome: str) -> None:
        with self._lock:
            self.attempts.append(Attempt(message_id, rcpt_tos, outcome, time.monotonic()))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        message_id = str(message["Message-ID"])
        rcpt_tos = tuple(envelope.rcpt_tos)
        with self._lock:
            self._seen += 1
            nth = self._seen
            nth_of_id = self._seen_by_id.get(message_id, 0) + 1
            self._seen_by_id[message_id] = nth_of_id
            refuse = nth <= self.refuse_first or nth_of_id <= self.refuse_each
            hold = self.hold_seconds if nth <= self.hold_first else 0.0
        if refuse:
            self._record(message_id, rcpt_tos, "refused")
            return "451 4.3.0 Temporary failure: try again later"
        if hold:
            self.holding.set()
            deadline = time.monotonic() + hold
            try:
                while not self.release.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
            except asyncio.CancelledError:  # the client went away: aiosmtpd cancels us
                self._record(message_id, rcpt_tos, "aborted")
                raise
            if server.transport is None or server.transport.is_closing():
                self._record(message_id, rcpt_tos, "aborted")
                return "421 4.3.0 Client went away"
        with self._lock:
            self.accepted.append(Received(envelope.mail_from, rcpt_tos, message, time.monotonic()))
            self.attempts.append(Attempt(message_id, rcpt_tos, "accepted", time.monotonic()))
        return "250 2.0.0 Message accepted for delivery"

    def accepted_snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.accepted)

    def attempts_snapshot(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)

    def summary(self) -> str:
        lines = [f"SMTP attempts ({len(self.attempts)}):"]
        lines += [
            f"  {a.outcome:8} {a.message_id} -> {','.join(a.rcpt_tos)}" for a in self.attempts
        ]
        return "\n".join(lines)


class SmtpServer:
    """An aiosmtpd ``Controller`` on 127.0.0.1 with an ``SmtpHandler``."""

    def __init__(self) -> None:
        self.handler = SmtpHandler()
        self.port = free_port()
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def smtp_server() -> Iterator[SmtpServer]:
    """For a fixture: a started server, stopped afterwards."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- Redis --------------------------------------------------------------------------------------


def redis_url_from_env() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url.startswith("redis://"):
        service_missing("these tests need Redis: set REDIS_URL=redis://127.0.0.1:6379/<db>")
    return url


def redis_broker() -> Iterator[Any]:
    """For a fixture: the REDIS_URL database (the broker of this process and of the workers),
    flushed at the start."""
    import redis

    url = redis_url_from_env()
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {url} does not answer: {exc}")
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


class PrivateRedis:
    """A redis-server of this test's own (nothing on disk), which can be shut down and started
    again on the same port: a broker restart that touches no one else's Redis."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server is not installed")
        self.binary = str(binary)
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        log = self.directory / f"redis-{self.port}-{self.restarts}.log"
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(answers, timeout=10, what=f"the private redis-server on port {self.port}")
        client.close()

    def stop(self) -> None:
        """Shut the server down (SIGTERM: with no persistence every key is gone)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()


# --- Celery workers -----------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class Worker:
    """One ``celery -A itb worker`` subprocess in a process group of its own."""

    def __init__(self, *, env: dict[str, str], log_path: Path, name: str) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "itb",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                "celery",
                "-n",
                f"{name}@%h",
                "--loglevel=INFO",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if not self.alive():
                raise AssertionError(
                    f"worker {self.name} exited with {self.proc.returncode}:\n{self.log()}"
                )
            return " ready." in self.log()

        wait_for(ready, timeout=timeout, interval=0.1, what=f"worker {self.name} ready")

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no acknowledgement, no goodbye. (Only
        while the leader is unreaped, so its group id cannot belong to anyone else yet.)"""
        if self.proc.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()

    def stop(self, timeout: float = 15) -> None:
        """Warm shutdown (SIGTERM: finish the current task), SIGKILL if it takes too long."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


class Workers:
    """Starts workers against this test's database, broker and SMTP server, and kills any left
    at ``close()``. ``settings`` are the ``ITB_ALERT_*`` environment values of every worker."""

    def __init__(
        self,
        *,
        database_url: str,
        broker_url: str,
        email_url: str,
        directory: Path,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.broker_url = broker_url
        self.email_url = email_url
        self.directory = directory
        self.settings = dict(settings or {})
        self.started: list[Worker] = []

    def env(self, **overrides: str) -> dict[str, str]:
        var_dir = self.directory / "var"
        var_dir.mkdir(parents=True, exist_ok=True)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("ITB_", "DJANGO_", "CELERY_", "PYTEST_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="itb.settings.local",
            DJANGO_DEBUG="false",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.broker_url,
            EMAIL_URL=self.email_url,
            ITB_VAR_DIR=str(var_dir),
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="INFO",
        )
        env.update(self.settings)
        env.update(overrides)
        return env

    def start(self, **overrides: str) -> Worker:
        """A worker with these environment values on top of ``env()``, once it is ready."""
        n = len(self.started) + 1
        name = f"faults{n}-{uuid.uuid4().hex[:6]}"
        worker = Worker(
            env=self.env(**overrides), log_path=self.directory / f"worker{n}.log", name=name
        )
        self.started.append(worker)
        worker.wait_ready()
        return worker

    def logs(self) -> str:
        return "\n".join(
            f"===== worker {w.name} (pid {w.pid}, exit {w.proc.returncode}) =====\n{w.log()}"
            for w in self.started
        )

    def close(self) -> None:
        for worker in self.started:
            worker.kill()  # a no-op for one already gone
