"""Soak test: the whole stack for a while under a mixed load, through a worker restart and a
broker restart, then the figures that matter to a clinic: server errors, lost writes, lost and
duplicated alert emails.

Run: .venv/bin/python bench/soak.py  (or `make bench`)
     [--minutes 10] [--json soak.json] [--database-url postgres://.../itb_soak] [--pumps 60]

1. Starts an SMTP sink (aiosmtpd, in this process) and a private redis-server on a free port
   (the machine's shared Redis is never touched), drops and creates the soak's own PostgreSQL
   database (its name must end in ``soak``), migrates it and seeds it through the services:
   the demo clinic, ``--pumps`` soak patients (a quarter overdue with the reservoir low, a
   quarter in the "not booked" window, half quiet), two-factor sign-in off for every clinic
   (where the model has that setting), escalation every ``--escalation-minutes``, API tokens.
2. Starts gunicorn, a Celery worker (prefork) and Celery beat with the production settings
   over plain HTTP on loopback.
3. For ``--minutes``: staff browser sessions (sign-in page, credentials with the CSRF token, then
   the refill board, patient pages, the alert list), API readers (pump list and detail, open
   alerts, booked visits) and API writers (book a refill, complete it with a full or a part
   fill, cancel it, change the program, acknowledge an alert; If-Match, Idempotency-Key and
   expected_current_program as the API requires); a new overdue patient every
   ``--intake-seconds``. Beat sweeps every minute, so alerts keep being raised, escalated and
   resolved. At a third of the run the worker gets a warm shutdown (SIGTERM) and a new one
   starts; at two thirds Redis is shut down (nothing persisted: every queued task and cache
   entry is lost), left down ``--redis-down-seconds`` and started again on the same port. Each
   fault waits (up to ``--fault-wait-seconds``) for the outbox to have sends queued or under
   way, so it hits email in flight rather than a quiet moment between sweeps.
4. Stops the load and beat (nothing new is raised), puts ``alerts.dispatch`` on the broker every
   30 s as beat would, and waits up to ``--drain-minutes`` for the outbox to empty.
5. Reports requests by kind (p50/p99 latency), 5xx, connection errors, expected conflicts
   (412, and 400s refusing a change made on stale information, which concurrent writers cause
   by design) and any other 3xx/4xx; writes acknowledged against rows found; deliveries due
   (outbox rows not cancelled by their alert's resolution) against emails received (one
   Message-ID per delivery); lost and duplicated emails.

Exits 1 when a target is missed: no 5xx, no lost write, no lost alert email, no duplicate; and
the load must have run (writes acknowledged, emails delivered, no client stopped early).

The parts: bench/stack.py (the processes), bench/soak_world.py (the data, the intake and the
database checks), bench/soak_http.py and bench/soak_load.py (the clients), bench/soak_report.py
(the figures and the report).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import reset_database  # noqa: E402 - after the path is set
from bench.soak_http import (  # noqa: E402
    CONFLICT,
    CONNECTION_ERROR,
    SERVER_ERROR,
    UNEXPECTED,
    Client,
    Recorder,
    is_conflict,
)
from bench.soak_load import ApiReader, ApiWriter, Dosing, Driver, WebReader  # noqa: E402
from bench.soak_report import (  # noqa: E402
    log_figures,
    per_minute,
    report,
    request_figures,
    targets,
)
from bench.soak_world import Intake, World, check_alerts, check_writes, seed_world  # noqa: E402
from bench.stack import Stack, StackConfig  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/itb_soak"
DISPATCH_EVERY_SECONDS = 30.0
PROGRESS_EVERY_SECONDS = 30.0


# --- running -----------------------------------------------------------------------------------


def setup_django(env: dict[str, str]) -> None:
    """This process's own Django (seeding, the drain, the checks): the stack's settings."""
    for key in list(os.environ):
        if key.startswith(("ITB_", "DJANGO_", "CELERY_")) and key not in env:
            del os.environ[key]
    os.environ.update(env)
    import django

    django.setup()


def start_load(
    args: argparse.Namespace, world: World, base_url: str, recorder: Recorder, stop: threading.Event
) -> list[Driver]:
    drivers: list[Driver] = []
    for n in range(args.web_readers):
        username = world.web_users[n % len(world.web_users)]
        drivers.append(
            WebReader(
                f"web reader {n + 1} ({username})",
                Client(base_url, recorder),
                stop,
                seed=100 + n,
                username=username,
                password=world.password,
                patient_ids=world.patient_ids,
            )
        )
    for n, token in enumerate(world.read_tokens):
        drivers.append(
            ApiReader(
                f"api reader {n + 1}",
                Client(base_url, recorder, token=token),
                stop,
                seed=200 + n,
                pump_ids=world.pump_ids,
            )
        )
    writers = len(world.write_tokens)
    for n, token in enumerate(world.write_tokens):
        drivers.append(
            ApiWriter(
                f"api writer {n + 1}",
                Client(base_url, recorder, token=token, expected=is_conflict),
                stop,
                seed=300 + n,
                own_pumps=world.soak_pump_ids[n::writers],
                all_pumps=world.soak_pump_ids,  # intake pumps join this list during the run
                small_refill_share=args.small_refill_share,
                dosing=Dosing(),
            )
        )
    for driver in drivers:
        driver.start()
    return drivers


def outbox_backlog() -> dict[str, int]:
    from alerts.models import Delivery, DeliveryStatus

    counts = Counter(
        Delivery.objects.filter(
            status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
        ).values_list("status", flat=True)
    )
    return {"queued": counts[DeliveryStatus.QUEUED], "sending": counts[DeliveryStatus.SENDING]}


def progress(recorder: Recorder, stack: Stack) -> None:
    samples = recorder.snapshot()
    counts = Counter(s.category for s in samples)
    try:
        backlog = outbox_backlog()
    except Exception as exc:  # the database is not the point of a progress line
        backlog = {"queued": -1, "sending": -1}
        recorder.note(f"progress: outbox not readable: {exc}")
    t = recorder.now()
    print(
        f"  [{int(t // 60):2d}:{int(t % 60):02d}] requests {len(samples)} "
        f"(5xx {counts[SERVER_ERROR]}, connection errors {counts[CONNECTION_ERROR]}, "
        f"conflicts {counts[CONFLICT]}, other 3xx/4xx {counts[UNEXPECTED]})  "
        f"writes {len(recorder.writes)}  emails {len(stack.smtp.handler.accepted_snapshot())}  "
        f"outbox queued {backlog['queued']} sending {backlog['sending']}",
        flush=True,
    )


class Watch:
    """Notices a process of the stack that stops on its own (a crash): an event in the report,
    never a silent restart (a supervisor restarting it would hide what happened)."""

    def __init__(self, stack: Stack, recorder: Recorder, events: list[dict[str, Any]]) -> None:
        self.stack = stack
        self.recorder = recorder
        self.events = events
        self.seen: set[str] = set()

    def check(self) -> None:
        for name, code in self.stack.exited():
            if name in self.seen:
                continue
            self.seen.add(name)
            t = self.recorder.now()
            self.events.append(
                {"event": f"{name} exited on its own", "at_seconds": round(t, 1), "exit_code": code}
            )
            print(
                f"  [{int(t // 60):2d}:{int(t % 60):02d}] {name} EXITED (code {code})", flush=True
            )


def run_load(
    args: argparse.Namespace, world: World, stack: Stack, recorder: Recorder, watch: Watch
) -> tuple[list[Driver], Intake]:
    """The load for ``--minutes``, the worker restart at 1/3 and the Redis restart at 2/3."""
    duration = args.minutes * 60
    stop = threading.Event()
    drivers = start_load(args, world, stack.base_url, recorder, stop)
    intake = Intake(
        every=args.intake_seconds,
        first_number=len(world.soak_pump_ids),
        pool=world.soak_pump_ids,
        stop=stop,
    )
    if args.intake_seconds > 0:
        intake.start()
    plan = [(duration / 3, "worker restart"), (2 * duration / 3, "redis restart")]
    events = watch.events
    next_progress = PROGRESS_EVERY_SECONDS
    try:
        while (t := recorder.now()) < duration:
            watch.check()
            if plan and t >= plan[0][0]:
                _at, what = plan.pop(0)
                # The fault while the outbox has work (queued sends on the broker, sends under
                # way), not in a quiet moment between sweeps: that is when it can lose or
                # duplicate an email.
                backlog, waited = wait_for_outbox_work(
                    min(args.fault_wait_seconds, max(0.0, duration - t - 5))
                )
                t = recorder.now()
                print(
                    f"  [{int(t // 60):2d}:{int(t % 60):02d}] {what}; outbox {backlog}", flush=True
                )
                if what == "worker restart":
                    timing = stack.restart_worker()
                else:
                    timing = stack.restart_redis(args.redis_down_seconds)
                events.append(
                    {
                        "event": what,
                        "at_seconds": round(t, 1),
                        "waited_for_outbox_work_seconds": round(waited, 1),
                        "outbox_at_fault": backlog,
                        **_rounded(timing),
                    }
                )
                print(f"          {what} done: {_rounded(timing)}", flush=True)
            elif t >= next_progress:
                progress(recorder, stack)
                next_progress += PROGRESS_EVERY_SECONDS
            time.sleep(min(0.5, max(0.0, duration - t)))
    finally:
        stop.set()
        for driver in drivers:
            driver.join(timeout=60)
        if intake.is_alive():
            intake.join(timeout=60)
    return drivers, intake


def wait_for_outbox_work(limit_seconds: float) -> tuple[dict[str, int], float]:
    """Up to ``limit_seconds``, until a delivery is queued or being sent. Returns the backlog
    then and the seconds waited."""
    started = time.monotonic()
    while True:
        backlog = outbox_backlog()
        waited = time.monotonic() - started
        if backlog["queued"] or backlog["sending"] or waited >= limit_seconds:
            return backlog, waited
        time.sleep(0.1)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 1) for k, v in values.items()}


def drain(stack: Stack, minutes: float, watch: Watch) -> dict[str, Any]:
    """Beat is stopped (no sweep raises or escalates anything new); every 30 s put
    ``alerts.dispatch`` on the broker as beat would, until no delivery is queued or sending, or
    ``minutes`` pass."""
    from itb.celery import app

    started = time.monotonic()
    last_dispatch = float("-inf")
    while True:
        watch.check()
        backlog = outbox_backlog()
        waited = time.monotonic() - started
        if not backlog["queued"] and not backlog["sending"]:
            return {"seconds": round(waited, 1), "left": backlog}
        if waited > minutes * 60:
            return {"seconds": round(waited, 1), "left": backlog}
        if time.monotonic() - last_dispatch >= DISPATCH_EVERY_SECONDS:
            try:
                app.send_task("alerts.dispatch")
            except Exception as exc:  # Redis down for good: the wait runs out and says so
                print(f"  could not enqueue alerts.dispatch: {exc}", flush=True)
            last_dispatch = time.monotonic()
        time.sleep(2.0)


def alerts_health(base_url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(base_url + "/healthz/alerts", timeout=10) as response:  # noqa: S310 - loopback http
            return {"status": response.status, **json.loads(response.read())}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, **json.loads(exc.read() or b"{}")}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return {"status": 0, "error": str(exc)}


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="load time (default 10)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_SOAK_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="the soak's own database, dropped and created again; its name must end in 'soak' "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--json", default="", help="also write the figures as JSON here ('-': stdout)"
    )
    parser.add_argument("--pumps", type=int, default=60, help="soak patients seeded (default 60)")
    parser.add_argument("--web-readers", type=int, default=2)
    parser.add_argument("--api-readers", type=int, default=2)
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery pool (default 2)")
    parser.add_argument(
        "--small-refill-share",
        type=float,
        default=0.35,
        help="share of completed refills that are part fills, due again at once (default 0.35)",
    )
    parser.add_argument(
        "--escalation-minutes", type=int, default=4, help="clinic escalation delay (default 4)"
    )
    parser.add_argument(
        "--intake-seconds",
        type=float,
        default=30.0,
        help="a new overdue patient this often; 0 for none (default 30)",
    )
    parser.add_argument("--redis-down-seconds", type=float, default=5.0)
    parser.add_argument(
        "--fault-wait-seconds",
        type=float,
        default=70.0,
        help="at each fault's time, wait up to this long for the outbox to have work, so the "
        "fault hits sends in flight (default 70: more than a sweep interval)",
    )
    parser.add_argument("--drain-minutes", type=float, default=3.0)
    parser.add_argument(
        "--lease-seconds",
        type=int,
        default=0,
        help="ITB_ALERT_LEASE_SECONDS of the stack (default: the app's own, 120)",
    )
    parser.add_argument(
        "--requeue-after-seconds",
        type=int,
        default=0,
        help="ITB_ALERT_REQUEUE_AFTER_SECONDS of the stack (default: the app's own, 60)",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the processes' logs when the run passes"
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("redis-server") is None:
        print(
            "redis-server is not installed (Debian: apt-get install redis-server)", file=sys.stderr
        )
        return 2
    directory = Path(tempfile.mkdtemp(prefix="itb-soak-"))
    settings: dict[str, str] = {}
    if args.lease_seconds:
        settings["ITB_ALERT_LEASE_SECONDS"] = str(args.lease_seconds)
    if args.requeue_after_seconds:
        settings["ITB_ALERT_REQUEUE_AFTER_SECONDS"] = str(args.requeue_after_seconds)
    stack = Stack(
        StackConfig(
            directory=directory,
            database_url=args.database_url,
            web_workers=args.web_workers,
            worker_concurrency=args.worker_concurrency,
            settings=settings,
        )
    )
    signal.signal(signal.SIGTERM, _interrupt)
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    print(
        f"soak: {args.minutes:g} min on {cores} cores (load average {load_before:.2f}); "
        f"logs in {directory}",
        flush=True,
    )
    try:
        stack.start_services()
        reset_database(args.database_url)
        setup_django(stack.env)
        from django.core.management import call_command
        from django.db import connections
        from django.utils import timezone

        call_command("migrate", interactive=False, verbosity=0)
        world = seed_world(
            pumps=args.pumps,
            readers=args.api_readers,
            writers=args.writers,
            escalation_minutes=args.escalation_minutes,
            now=timezone.now(),
        )
        print(
            f"seeded: {len(world.pump_ids)} pumps in the demo clinic ({len(world.soak_pump_ids)} "
            f"soak pumps); two-factor setting {'off' if world.two_factor_field else 'absent'}",
            flush=True,
        )
        connections.close_all()
        stack.start_app()
        print(f"stack up: web {stack.base_url}, redis {stack.redis.url}, smtp {stack.smtp.url}")
        recorder = Recorder()
        run_started = time.time()
        events: list[dict[str, Any]] = []
        watch = Watch(stack, recorder, events)
        drivers, intake = run_load(args, world, stack, recorder, watch)
        print("  load stopped; stopping beat and draining the outbox", flush=True)
        watch.check()
        stack.stop_beat()
        drained = drain(stack, args.drain_minutes, watch)
        health = alerts_health(stack.base_url)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the stack", file=sys.stderr)
        return 130
    finally:
        stack.stop()
    offset = time.time() - time.monotonic()  # the sink timestamps with the monotonic clock
    received = []
    for message in stack.smtp.handler.accepted_snapshot():
        try:
            received.append((message.delivery_id, message.at + offset))
        except AssertionError:  # not an alert email
            recorder.note(f"email that is not an alert: {message.subject}")
    failures = [f"{d.name}: {d.failure}" for d in drivers if d.failure]
    if intake.failure:
        failures.append(f"intake: {intake.failure}")
    figures: dict[str, Any] = {
        "run": {
            "minutes": args.minutes,
            "started_at": datetime.fromtimestamp(run_started, UTC).isoformat(timespec="seconds"),
            "cores": cores,
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "database": args.database_url.rsplit("/", 1)[-1],
            "pumps_seeded": args.pumps,
            "pumps_added": len(intake.added),
        },
        "events": events,
        "requests": request_figures(recorder),
        "writes": check_writes(recorder.writes),
        "alerts": check_alerts(received, run_started=run_started),
        "per_minute": per_minute(recorder, received, run_started),
        "drain": drained,
        "health": health,
        "logs": log_figures(stack),
        "notes": recorder.notes,
        "client_failures": failures,
    }
    figures["targets"] = targets(figures)
    figures["passed"] = all(passed for _label, passed, _text in figures["targets"])
    report(figures)
    if figures["passed"] and not args.keep_logs:
        shutil.rmtree(directory, ignore_errors=True)
        print("(logs removed: the run passed; --keep-logs keeps them)")
    if args.json:
        text = json.dumps(figures, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
