"""The whole app as production runs it, on loopback, for bench/soak.py: gunicorn (web), a Celery
worker, Celery beat, a private Redis (broker and cache) and an SMTP sink, against one PostgreSQL
database. Each process can be stopped gracefully and started again; none outlives the script.

The SMTP sink, the private Redis, ``free_port``, ``wait_for`` and ``die_with_parent`` are the
alert fault tests' own (tests/alerts/realstack.py): one implementation of each. They need the
test requirements (aiosmtpd, pytest), which ``make bench`` installs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.alerts.realstack import PrivateRedis, SmtpServer, die_with_parent, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class Process:
    """One long-running command in a process group of its own, its output in a log file."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, *, timeout: float = 60.0) -> float:
        """Graceful stop: SIGTERM to the leader (gunicorn and Celery finish what they are doing),
        SIGKILL to the whole group if it takes longer than ``timeout``. Returns the seconds it
        took."""
        started = time.monotonic()
        proc = self.proc
        if proc is None:
            return 0.0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} did not stop in {timeout:.0f} s; killing it", flush=True)
        self._kill_group(proc)
        self.proc = None
        return time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None:
            self._kill_group(self.proc)
            self.proc = None

    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL what is left of the group (a pool child, say). Only while the leader is
        unreaped or just reaped by us: its group id cannot belong to anyone else yet."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


@dataclass
class StackConfig:
    directory: Path
    database_url: str
    web_workers: int = 3
    worker_concurrency: int = 2
    # ITB_* settings of every process (outbox timings, throttle).
    settings: dict[str, str] = field(default_factory=dict)


class Stack:
    """Web, worker, beat, private Redis and SMTP sink. ``env`` is what every process (and the
    script's own Django) runs with: the production settings over plain HTTP on loopback."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.directory = config.directory
        self.smtp = SmtpServer()
        self.smtp_running = False
        self.redis = PrivateRedis(self.directory)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = self._env()
        self.web = Process("web", self._gunicorn(), env=self.env, log=self._log("web"))
        self.workers_started = 0
        self.worker = self._new_worker()
        self.beat = Process(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "itb",
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(self.directory / "celerybeat-schedule"),
            ],
            env=self.env,
            log=self._log("beat"),
        )

    def _log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def _env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("ITB_", "DJANGO_", "CELERY_", "PYTEST_"))
        }
        var = self.directory / "var"
        var.mkdir(parents=True, exist_ok=True)
        env.update(
            DJANGO_SETTINGS_MODULE="itb.settings.production",
            DJANGO_SECRET_KEY="soak-" + "s" * 60,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            # No TLS on loopback: no redirect to https and no HSTS.
            DJANGO_SECURE_SSL_REDIRECT="false",
            DJANGO_SECURE_HSTS_SECONDS="0",
            DATABASE_URL=self.config.database_url,
            REDIS_URL=self.redis.url,
            EMAIL_URL=self.smtp.url,
            ITB_BASE_URL=self.base_url,
            ITB_VAR_DIR=str(var),
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.config.settings)
        return env

    def _gunicorn(self) -> list[str]:
        executable = BIN / "gunicorn"
        command = [str(executable)] if executable.exists() else [sys.executable, "-m", "gunicorn"]
        return [
            *command,
            "itb.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.config.web_workers),
            "--access-logfile",
            str(self._log("access")),
        ]

    def _new_worker(self) -> Process:
        self.workers_started += 1
        n = self.workers_started
        return Process(
            f"worker {n}",
            [
                # Supervised, as in production (Procfile, docker-compose.yml).
                sys.executable,
                str(ROOT / "scripts" / "supervise.py"),
                "--",
                str(BIN / "celery"),
                "-A",
                "itb",
                "worker",
                "--loglevel=INFO",
                "--concurrency",
                str(self.config.worker_concurrency),
                "-n",
                f"soak{n}@%h",
            ],
            env=self.env,
            log=self._log(f"worker{n}"),
        )

    # --- starting -------------------------------------------------------------------------

    def start_services(self) -> None:
        """The SMTP sink and the private Redis (the database set-up enqueues to the broker)."""
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
        self.smtp.start()
        self.smtp_running = True
        self.redis.start()

    def start_app(self) -> None:
        """Web, worker and beat, each once it answers."""
        self.web.start()
        wait_for(self._web_ready, timeout=60, interval=0.2, what="gunicorn", diagnose=self.web.log)
        self.worker.start()
        self._wait_worker_ready(self.worker)
        self.beat.start()

    def _web_ready(self) -> bool:
        if not self.web.alive():
            raise RuntimeError(f"gunicorn exited:\n{self.web.log()[-3000:]}")
        try:
            with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as response:  # noqa: S310 - loopback http
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    @staticmethod
    def _wait_worker_ready(worker: Process) -> None:
        def ready() -> bool:
            if not worker.alive():
                raise RuntimeError(f"{worker.name} exited:\n{worker.log()[-3000:]}")
            return " ready." in worker.log()

        wait_for(ready, timeout=90, interval=0.2, what=f"{worker.name} ready")

    # --- the faults -----------------------------------------------------------------------

    def restart_worker(self) -> dict[str, float]:
        """Warm shutdown of the worker (SIGTERM: it finishes its tasks and gives back the ones it
        had reserved), then a new worker. Returns the seconds each step took."""
        started = time.monotonic()
        stopping = self.worker.stop(timeout=60)
        self.worker = self._new_worker()
        self.worker.start()
        self._wait_worker_ready(self.worker)
        return {"stop_seconds": stopping, "down_seconds": time.monotonic() - started}

    def restart_redis(self, down_seconds: float) -> dict[str, float]:
        """Shut the private Redis down (nothing is persisted: every queued task and cache entry
        is gone), wait, and start it again on the same port."""
        started = time.monotonic()
        self.redis.stop()
        time.sleep(down_seconds)
        self.redis.restarts += 1
        self.redis.start()
        return {"down_seconds": time.monotonic() - started}

    def exited(self) -> list[tuple[str, int]]:
        """Processes that stopped on their own (not through ``stop``): name and exit code."""
        return [
            (process.name, process.proc.returncode)
            for process in (self.web, self.worker, self.beat)
            if process.proc is not None and process.proc.poll() is not None
        ]

    # --- stopping -------------------------------------------------------------------------

    def stop_beat(self) -> None:
        self.beat.stop(timeout=30)

    def stop(self) -> None:
        """Everything, gracefully where it can be; always safe to call again."""
        for process in (self.beat, self.worker, self.web):
            try:
                process.stop(timeout=30)
            except Exception as exc:  # the rest must still stop
                print(f"  could not stop {process.name}: {exc}", flush=True)
        try:
            self.redis.stop()
        finally:
            if self.smtp_running:
                self.smtp_running = False
                self.smtp.stop()

    def logs(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted(self.directory.glob("*.log"))}
