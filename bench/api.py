"""REST API benchmark: gunicorn on loopback driven by wrk, the framework floor beside the real
endpoints, measured in the same run.

Run: .venv/bin/python bench/api.py  (or `make bench`)
     [--duration 10] [--connections 8] [--threads 2] [--workers 5] [--worker-class sync]
     [--database-url postgres://postgres@127.0.0.1:5432/itb_api_bench] [--skip-seed]

Needs ``wrk`` (Debian/Ubuntu: ``apt-get install -y wrk`` as root, or ``scripts/bench-tools.sh``;
macOS: ``brew install wrk``).

1. Uses its own PostgreSQL database (created if missing, then migrated). Seeds the demo clinic
   (``seed_demo``) and adds pumps to it through the services (patient, implant, program, fill)
   until the ``integrator`` user, the demo clinic's API account, sees at least ``--pumps``
   pumps. Nothing is emptied: a second run only tops up what is missing. Then ANALYZEs the
   database, so that the plans are those of a server whose autovacuum has seen the data.
2. Issues a read-scope API token to ``integrator`` (revoked at the end) and counts, in process
   through the Django test client, the SQL queries each endpoint makes.
3. Starts gunicorn (``itb.wsgi``, production settings, plain HTTP on 127.0.0.1, a free port,
   per-token throttle raised out of the way) and checks that every endpoint answers 200.
4. For each endpoint: a short warm-up, then ``--duration`` seconds of wrk at ``--connections``
   connections and ``--threads`` threads (closed loop: each connection sends its next request
   when the last one is answered). Reports requests/s, p50 and p99 latency and errors (socket
   errors and responses with status >= 400; redirects are caught by the pre-flight check).

The endpoints: ``ping`` (authenticated, same middleware and authentication, no query beyond
authentication: the framework floor), pump ``detail`` (rotating over 20 pumps), the 50-row pump
``list`` page and the projection ``calculator``. Targets: detail at least half the floor's
throughput, the list at least a quarter, detail p99 under 50 ms at 8 connections.

wrk runs on the same machine as gunicorn and takes a share of the CPU; the ratios to the floor
are the figures that carry over to other machines. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import ensure_database  # noqa: E402 - after the path is set

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/itb_api_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
DEFAULT_PUMPS = 200
API_USER = "integrator"
DETAIL_PUMPS = 20  # the detail requests rotate over this many pumps
LIST_PAGE_SIZE = 50
# The per-token throttle, out of the way: the bench measures the app, not the limit. Per second,
# not per minute: the throttle keeps one entry per request of its window in Redis (a sorted set,
# api/throttling.py), so a per-minute window at benchmark rates would hold tens of thousands.
# A one-second window holds about as many entries as production's 600/min does.
DEFAULT_THROTTLE_RATE = "1000000/s"
RESULT_PREFIX = "BENCH-RESULT "
INSTALL_HINT = (
    "wrk is not installed. Install it with `scripts/bench-tools.sh` (runs `apt-get install -y "
    "wrk`, as root, on Debian/Ubuntu), or `brew install wrk` on macOS, then run again."
)

# Targets (the issue): ratios of throughput to the floor's, and detail's p99 at 8 connections.
TARGET_DETAIL_RATIO = 0.5
TARGET_LIST_RATIO = 0.25
TARGET_DETAIL_P99_MS = 50.0
TARGET_CONNECTIONS = 8

PROJECTION_BODY = {
    "concentration": "500 mcg/mL",
    "daily_dose": 300,
    "reservoir_volume": "20 mL",
    "low_reservoir_alarm": 2,
    "filled_at": "2025-03-03T00:00:00Z",
    "refill_buffer_days": 7,
}


@dataclass
class Endpoint:
    name: str
    label: str
    method: str
    paths: list[str]
    body: str | None = None
    queries: int | None = None  # SQL queries per request, counted in process
    available: bool = True
    note: str = ""


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    status_errors: int
    rps: float = field(init=False)

    def __post_init__(self) -> None:
        self.rps = self.requests / self.seconds if self.seconds else 0.0


# --- environment, database and seed -----------------------------------------------------------


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment of the server (and of this process's own Django): production settings
    over plain HTTP on loopback."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "itb.settings.production",
            "DJANGO_SECRET_KEY": env.get("DJANGO_SECRET_KEY") or "bench-api-" + "x" * 50,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            # No TLS on loopback: no redirect to https (and no HSTS header to send).
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_HSTS_SECONDS": "0",
            "ITB_API_THROTTLE_RATE": args.throttle_rate,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("DJANGO_DEBUG", None)
    return env


def setup_django(env: dict[str, str]) -> None:
    """This process's own Django (seeding, the token, query counts): the server's settings."""
    os.environ.update(env)
    import django

    django.setup()


def visible_pumps(user: Any) -> Any:
    from pumps.selectors import pumps_visible_to

    return pumps_visible_to(user, active_only=True)


def seed_pumps(target: int) -> tuple[int, int]:
    """Top the demo clinic up to ``target`` pumps visible to the API user, through the services
    (so projections, audit entries and histories are as the app writes them). Returns (pumps
    visible before, created)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from dosing.models import DrugProduct, ProductUse
    from pumps.demo import (
        CATHETER_FOR,
        DEMO_CLINIC,
        DEMO_MEDTRONIC_VOLUME_PER_CM_ML,
        seed_demo,
    )
    from pumps.models import CatheterModel, Clinic, Patient, PumpModel
    from pumps.services import (
        StepInput,
        patient_create,
        pump_implant,
        pump_program_create,
        reservoir_fill_record,
    )

    seed_demo()
    users = {u.username: u for u in get_user_model().objects.all()}
    integrator = users[API_USER]
    before = visible_pumps(integrator).count()
    missing = target - before
    if missing <= 0:
        return before, 0
    clinic = Clinic.objects.get(name=DEMO_CLINIC)
    clinician, nurse = users["clinician"], users["nurse"]
    models = {m.model_number: m for m in PumpModel.objects.all()}
    catheters = {m.model_number: m for m in CatheterModel.objects.all()}
    stock = {
        p.concentration_mcg_per_ml: p
        for p in DrugProduct.objects.filter(use=ProductUse.PUMP_FILL, is_active=True).order_by(
            "-container_volume_ml"
        )
    }
    # Simple programs at these doses (mcg/day) and concentrations; every fifth a flex schedule.
    variants = [
        ("8637-20", D("300"), D("500")),
        ("8637-40", D("600"), D("2000")),
        ("13827", D("350"), D("500")),
        ("8637-20", D("450"), D("1000")),
        ("16827", D("500"), D("1000")),
        ("8637-40", D("800"), D("2000")),
        ("8637-20", D("150"), D("500")),
    ]
    flex = [("06:00", D("12.5")), ("12:00", D("15")), ("22:00", D("20"))]
    existing = set(
        Patient.objects.filter(clinic=clinic, mrn__startswith="B-").values_list("mrn", flat=True)
    )
    now = timezone.now()
    created, number = 0, 0
    while created < missing:
        number += 1
        mrn = f"B-{number:05d}"
        if mrn in existing:
            continue
        model_number, dose, concentration = variants[number % len(variants)]
        model, catheter = models[model_number], catheters[CATHETER_FOR[model_number]]
        patient = patient_create(
            actor=clinician,
            clinic=clinic,
            mrn=mrn,
            given_name=f"Bench{number}",
            family_name=f"Patient{number:05d}",
            date_of_birth=date(1950 + number % 60, 1 + number % 12, 1 + number % 28),
            spasticity_origin="spinal" if number % 3 else "cerebral",
            sci_level="T6" if number % 3 == 1 else "",
            communication_difficulty=number % 7 == 0,
            history_of_withdrawal=number % 11 == 0,
        )
        implanted_on = (now - timedelta(days=400 + number % 900)).date()
        pump = pump_implant(
            actor=clinician,
            patient=patient,
            pump_model=model,
            serial_number=f"BENCH-{number:05d}",
            implanted_on=implanted_on,
            catheter_model=catheter,
            catheter_length_cm=D("66") if catheter.max_length_cm != D("110") else D("98"),
            catheter_volume_per_cm_ml=catheter.volume_per_cm_ml or DEMO_MEDTRONIC_VOLUME_PER_CM_ML,
            catheter_lot_number=f"L{number:05d}",
        )
        steps = [StepInput(clock.fromisoformat(s), r) for s, r in flex] if number % 5 == 0 else []
        program_at = datetime.combine(implanted_on + timedelta(days=1), clock(12), now.tzinfo)
        pump_program_create(
            actor=clinician,
            pump=pump,
            effective_from=program_at,
            concentration_mcg_per_ml=concentration,
            mode="flex" if steps else "simple",
            daily_dose_mcg=None if steps else dose,
            steps=steps,
            reason="Maintenance program after titration.",
            verified_by=nurse,
        )
        filled_at = now - timedelta(days=1 + number % 60, hours=number % 9)
        reservoir_fill_record(
            actor=nurse,
            pump=pump,
            filled_at=filled_at,
            volume_ml=model.reservoir_capacity_ml,
            concentration_mcg_per_ml=concentration,
            product=stock[concentration],
            lot_number=f"LOT-{number:05d}",
            expiry_date=(filled_at + timedelta(days=400)).date(),
        )
        created += 1
        if created % 50 == 0:
            print(f"  seeded {created}/{missing} pumps", flush=True)
    return before, created


def prepare(args: argparse.Namespace) -> tuple[str, int, list[int], int]:
    """Migrate, seed, issue the token. Returns (clear token, its id, detail pump ids, pumps
    visible)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from accounts.services import api_token_issue

    call_command("migrate", interactive=False, verbosity=0)
    if not args.skip_seed:
        before, created = seed_pumps(args.pumps)
        print(f"seed: {before} pumps visible to {API_USER} before, {created} created", flush=True)
    analyze()
    user = get_user_model().objects.filter(username=API_USER).first()
    if user is None:
        sys.exit(f"No user {API_USER!r} in the database: run without --skip-seed once.")
    pumps = visible_pumps(user)
    count = pumps.count()
    if count < LIST_PAGE_SIZE:
        print(f"WARNING: {API_USER} sees {count} pumps, fewer than a {LIST_PAGE_SIZE}-row page")
    # Spread over the fleet, not the first few rows.
    ids = list(pumps.order_by("pk").values_list("pk", flat=True))
    ids = ids[:: max(1, len(ids) // DETAIL_PUMPS)][:DETAIL_PUMPS]
    token, clear = api_token_issue(
        actor=None, user=user, scope="read", name="bench/api.py", expires_in_days=1
    )
    return clear, token.pk, ids, count


def analyze() -> None:
    """Table statistics, as a running server has them (autovacuum analyses a table once enough
    of it has changed): without them PostgreSQL plans a small clinic's tables as if empty,
    and the figures would be those of plans that production does not use."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def revoke_token(pk: int) -> None:
    """Revoke the token this run issued (it would expire in a day anyway)."""
    from django.db import connections
    from django.utils import timezone

    from accounts.models import ApiToken

    try:
        ApiToken.objects.filter(pk=pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    except Exception as exc:  # reporting matters more than the cleanup
        print(f"(could not revoke the bench token: {exc})")
    connections.close_all()


def count_queries(endpoints: list[Endpoint], token: str) -> None:
    """SQL queries per request for each endpoint, through the Django test client in process
    (the second request: the token's last-used time is then already recorded)."""
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    for endpoint in endpoints:
        path = endpoint.paths[0]
        for _ in range(2):
            with CaptureQueriesContext(connection) as captured:
                if endpoint.method == "POST":
                    response = client.post(
                        path, data=endpoint.body, content_type="application/json"
                    )
                else:
                    response = client.get(path)
        if response.status_code == 200:
            endpoint.queries = len(captured.captured_queries)
    connections.close_all()


# --- gunicorn --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gunicorn_command(args: argparse.Namespace, port: int) -> list[str]:
    executable = Path(sys.executable).parent / "gunicorn"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "gunicorn"]
    command += [
        "itb.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.worker_threads)]
    return command


class Server:
    """gunicorn in its own session, so Ctrl-C reaches this script (which then stops it) and
    stopping it stops every worker."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()  # gunicorn's graceful shutdown of its workers
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def wait_ready(self, base: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        raise RuntimeError(f"gunicorn did not become ready:\n{tail}")


def preflight(base: str, endpoint: Endpoint, token: str) -> None:
    """One request per path: it must answer 200 with JSON (not a redirect, not an error)."""
    for path in endpoint.paths[:3]:
        request = urllib.request.Request(  # noqa: S310 - loopback http
            base + path,
            data=endpoint.body.encode() if endpoint.body else None,
            method=endpoint.method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=10) as response:
                payload = json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            endpoint.available = False
            endpoint.note = f"{endpoint.method} {path} answered {exc.code}"
            return
        except (urllib.error.URLError, ValueError) as exc:
            endpoint.available = False
            endpoint.note = f"{endpoint.method} {path}: {exc}"
            return
        if endpoint.name == "list":
            rows = payload.get("results", payload) if isinstance(payload, dict) else payload
            if not isinstance(rows, list) or len(rows) != LIST_PAGE_SIZE:
                got = len(rows) if isinstance(rows, list) else type(rows).__name__
                endpoint.note = f"list page has {got} rows, not {LIST_PAGE_SIZE}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# --- wrk --------------------------------------------------------------------------------------

LUA = """
local method, body, paths = %(method)s, %(body)s, %(paths)s
local headers = {
  ["Authorization"] = %(auth)s,
  ["Accept"] = "application/json",
}
if body then headers["Content-Type"] = "application/json" end
local requests = {}
for i, path in ipairs(paths) do requests[i] = wrk.format(method, path, headers, body) end
local n = 0

function setup(thread)
  -- Each thread starts at a different pump.
  thread:set("start", %(start)s)
end

function request()
  n = n + 1
  return requests[(n + (start or 0)) %% #requests + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(prefix)s{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, '
    .. '"p99_us": %%d, "max_us": %%d, "connect": %%d, "read": %%d, "write": %%d, '
    .. '"timeout": %%d, "status": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout, e.status))
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


def write_lua(endpoint: Endpoint, token: str, folder: Path) -> Path:
    script = LUA % {
        "method": lua_string(endpoint.method),
        "body": lua_string(endpoint.body) if endpoint.body else "nil",
        "paths": "{" + ", ".join(lua_string(p) for p in endpoint.paths) + "}",
        "auth": lua_string(f"Bearer {token}"),
        "start": "math.random(0, 1000)",
        "prefix": RESULT_PREFIX,
    }
    path = folder / f"{endpoint.name}.lua"
    path.write_text(script)
    return path


def run_wrk(base: str, script: Path, *, seconds: float, connections: int, threads: int) -> Result:
    command = [
        "wrk",
        f"--threads={min(threads, connections)}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        f"--script={script}",
        base + "/",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line[len(RESULT_PREFIX) :])
            socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
            return Result(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000,
                p90_ms=data["p90_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                max_ms=data["max_us"] / 1000,
                errors=socket_errors + data["status"],
                status_errors=data["status"],
            )
    raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


# --- the run ------------------------------------------------------------------------------------


def endpoints_for(pump_ids: list[int]) -> list[Endpoint]:
    return [
        Endpoint("floor", "floor: GET /api/v1/ping/", "GET", ["/api/v1/ping/"]),
        Endpoint(
            "detail",
            f"pump detail: GET /api/v1/pumps/<id>/ ({len(pump_ids)} pumps)",
            "GET",
            [f"/api/v1/pumps/{pk}/" for pk in pump_ids] or ["/api/v1/pumps/0/"],
        ),
        Endpoint(
            "list",
            f"pump list: GET /api/v1/pumps/?page_size={LIST_PAGE_SIZE}",
            "GET",
            [f"/api/v1/pumps/?page_size={LIST_PAGE_SIZE}"],
        ),
        Endpoint(
            "calculator",
            "calculator: POST /api/v1/dosing/projection/",
            "POST",
            ["/api/v1/dosing/projection/"],
            body=json.dumps(PROJECTION_BODY, separators=(",", ":")),
        ),
    ]


def report(endpoints: list[Endpoint], results: dict[str, Result], args: argparse.Namespace) -> bool:
    print()
    print(
        f"{'endpoint':<52} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'errors':>6} {'queries':>7}"
    )
    for endpoint in endpoints:
        result = results.get(endpoint.name)
        queries = "-" if endpoint.queries is None else str(endpoint.queries)
        if result is None:
            print(f"{endpoint.label:<52} {'not measured: ' + endpoint.note}")
            continue
        print(
            f"{endpoint.label:<52} {result.rps:>8.0f} {result.p50_ms:>7.1f} "
            f"{result.p99_ms:>7.1f} {result.max_ms:>7.1f} {result.errors:>6} {queries:>7}"
        )
        if endpoint.note:
            print(f"    note: {endpoint.note}")
    if args.markdown:
        print()
        print("| endpoint | req/s | p50 ms | p99 ms | errors | queries/request |")
        print("|---|---:|---:|---:|---:|---:|")
        for endpoint in endpoints:
            result = results.get(endpoint.name)
            if result is not None:
                print(
                    f"| {endpoint.label} | {result.rps:,.0f} | {result.p50_ms:.1f} | "
                    f"{result.p99_ms:.1f} | {result.errors} | {endpoint.queries} |"
                )
    print()
    floor = results.get("floor")
    verdicts: list[tuple[str, bool | None, str]] = []
    for name, target in (("detail", TARGET_DETAIL_RATIO), ("list", TARGET_LIST_RATIO)):
        result = results.get(name)
        label = f"{name} throughput >= {target:g} x floor"
        if floor is None or result is None or not floor.rps:
            verdicts.append((label, None, "not measured"))
        else:
            ratio = result.rps / floor.rps
            verdicts.append((label, ratio >= target, f"{ratio:.2f} x floor"))
    detail = results.get("detail")
    label = f"detail p99 < {TARGET_DETAIL_P99_MS:g} ms at {TARGET_CONNECTIONS} connections"
    if detail is None:
        verdicts.append((label, None, "not measured"))
    elif args.connections != TARGET_CONNECTIONS:
        verdicts.append((label, None, f"run at {args.connections} connections"))
    else:
        verdicts.append((label, detail.p99_ms < TARGET_DETAIL_P99_MS, f"{detail.p99_ms:.1f} ms"))
    calculator = results.get("calculator")
    if floor is not None and calculator is not None and floor.rps:
        print(f"(calculator: {calculator.rps / floor.rps:.2f} x floor; no target)")
    errors = sum(r.errors for r in results.values())
    verdicts.append(("no errors", errors == 0, f"{errors} errors"))
    ok = True
    for label, passed, text in verdicts:
        word = "SKIP" if passed is None else "PASS" if passed else "FAIL"
        ok = ok and passed is not False
        print(f"{word}  {label}: {text}")
    return ok


def measure(
    endpoints: list[Endpoint], base: str, token: str, args: argparse.Namespace, folder: Path
) -> dict[str, Result]:
    scripts = {e.name: write_lua(e, token, folder) for e in endpoints if e.available}
    runs: dict[str, list[Result]] = {name: [] for name in scripts}
    for round_number in range(args.rounds):
        for endpoint in endpoints:
            if not endpoint.available:
                continue
            script = scripts[endpoint.name]
            if args.warmup > 0:
                run_wrk(
                    base,
                    script,
                    seconds=args.warmup,
                    connections=args.connections,
                    threads=args.threads,
                )
            result = run_wrk(
                base,
                script,
                seconds=args.duration,
                connections=args.connections,
                threads=args.threads,
            )
            runs[endpoint.name].append(result)
            print(
                f"  round {round_number + 1}: {endpoint.name:<10} {result.rps:8.0f} req/s  "
                f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
                f"errors {result.errors}",
                flush=True,
            )
    # More than one round: the round with the median throughput.
    return {name: sorted(rs, key=lambda r: r.rps)[len(rs) // 2] for name, rs in runs.items() if rs}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="the benchmark's own PostgreSQL database (created, migrated, topped up; never "
        "emptied) (default: %(default)s)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_API_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis for the cache and throttle (default: %(default)s)",
    )
    parser.add_argument(
        "--throttle-rate",
        default=DEFAULT_THROTTLE_RATE,
        help="the server's per-token throttle rate (default: %(default)s)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per endpoint")
    parser.add_argument("--connections", type=int, default=TARGET_CONNECTIONS)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * cores + 1,
        help="gunicorn workers (default 2 x cores + 1 = %(default)s)",
    )
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument(
        "--worker-threads", type=int, default=4, help="threads per gthread worker (default 4)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every endpoint this many times, "
        "interleaved; report each one's median round (default 1)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated subset: floor,detail,list,calculator"
    )
    parser.add_argument(
        "--pumps", type=int, default=DEFAULT_PUMPS, help="pumps the API user sees (seeded)"
    )
    parser.add_argument(
        "--skip-seed",
        action="store_true",
        help="do not seed (still migrates; an earlier run must have seeded the database)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    env = server_env(args)
    created = ensure_database(args.database_url)
    name = urlsplit(args.database_url).path.lstrip("/")
    print(f"database {name} ({'created' if created else 'exists'}); migrating", flush=True)
    setup_django(env)
    token, token_pk, pump_ids, pump_count = prepare(args)
    endpoints = endpoints_for(pump_ids)
    if args.only:
        wanted = {n.strip() for n in args.only.split(",") if n.strip()}
        endpoints = [e for e in endpoints if e.name in wanted]
    count_queries(endpoints, token)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    folder = Path(tempfile.mkdtemp(prefix="itb-bench-api-"))
    command = gunicorn_command(args, port)
    server = Server(command, env, folder / "gunicorn.log")
    cores = os.cpu_count() or 1
    print(
        f"gunicorn: {args.workers} {args.worker_class} workers"
        + (f" x {args.worker_threads} threads" if args.worker_class == "gthread" else "")
        + f" on {base} ({cores} cores); wrk: {args.connections} connections, "
        f"{min(args.threads, args.connections)} threads, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s per endpoint; {pump_count} pumps visible to {API_USER}",
        flush=True,
    )
    # SIGTERM (e.g. from make or CI) unwinds like Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, _interrupt)
    load = os.getloadavg()[0]
    print(f"load average before the run: {load:.2f} on {cores} cores", flush=True)
    if load > cores / 2:
        print(
            "WARNING: the machine is busy; throughput and latency will be low and noisy "
            "(the ratios to the floor, measured in the same run, suffer less)",
            flush=True,
        )
    try:
        server.start()
        server.wait_ready(base)
        for endpoint in endpoints:
            preflight(base, endpoint, token)
            if not endpoint.available:
                print(f"  {endpoint.name}: not available ({endpoint.note}); skipped")
        results = measure(endpoints, base, token, args, folder)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping gunicorn", file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)
        return 130
    finally:
        server.stop()
        revoke_token(token_pk)
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")
    ok = report(endpoints, results, args)
    log = (folder / "gunicorn.log").read_text(errors="replace").strip()
    if log:
        print(f"\ngunicorn log ({folder / 'gunicorn.log'}), last lines:")
        print("\n".join(log.splitlines()[-10:]))
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
