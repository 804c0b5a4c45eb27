"""The soak's figures and its report: requests by kind with their latency, errors by class,
writes acknowledged against rows found, alert emails due against emails received, and the
targets the run is judged by."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from bench.soak_http import (
    CATEGORIES,
    CONFLICT,
    CONNECTION_ERROR,
    OK,
    SERVER_ERROR,
    UNEXPECTED,
    Recorder,
)
from bench.soak_world import percentile
from bench.stack import Stack

# --- figures -----------------------------------------------------------------------------------


def request_figures(recorder: Recorder) -> dict[str, Any]:
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for sample in recorder.samples:
        by_kind[sample.kind].append(sample)

    def figures(samples: list[Any]) -> dict[str, Any]:
        counts = Counter(s.category for s in samples)
        answered = [s.ms for s in samples if s.status]
        return {
            "count": len(samples),
            **{category: counts[category] for category in CATEGORIES},
            "p50_ms": round(percentile(answered, 50), 1),
            "p99_ms": round(percentile(answered, 99), 1),
        }

    return {
        "by_kind": {kind: figures(samples) for kind, samples in sorted(by_kind.items())},
        "overall": figures(recorder.samples),
        "error_samples": {
            category: [vars(e) for e in errors] for category, errors in recorder.errors.items()
        },
    }


def per_minute(recorder: Recorder, received: list[tuple[int, float]], run_started: float) -> Any:
    rows: dict[int, Counter[str]] = defaultdict(Counter)
    for sample in recorder.samples:
        row = rows[int(sample.at // 60)]
        row["requests"] += 1
        row[sample.category] += 1
    for _delivery, at in received:
        rows[int(max(0.0, at - run_started) // 60)]["emails"] += 1
    return [
        {
            "minute": minute + 1,
            "requests": row["requests"],
            "server_errors": row[SERVER_ERROR],
            "connection_errors": row[CONNECTION_ERROR],
            "emails": row["emails"],
        }
        for minute, row in sorted(rows.items())
    ]


def log_figures(stack: Stack) -> dict[str, Any]:
    """What the processes' own logs say: sweeps run, server errors logged by the web."""
    sweeps = 0
    errors = 0
    supervised: list[str] = []
    for name, path in stack.logs().items():
        text = path.read_text(errors="replace")
        if name.startswith("worker"):
            sweeps += text.count("alert sweep:")
            # The Celery worker runs under scripts/supervise.py, as in production: a worker that
            # died is started again, and what it had in hand must still be delivered.
            supervised += [
                f"{name}: {line.split('supervise: ', 1)[1]}"
                for line in text.splitlines()
                if "supervise: " in line and " restart " in line
            ]
        if name == "web":
            errors += text.count("ERROR django.request")
    return {
        "sweeps": sweeps,
        "web_errors_logged": errors,
        "worker_restarts_by_supervisor": supervised,
        "directory": str(stack.directory),
    }


def targets(figures: dict[str, Any]) -> list[tuple[str, bool, str]]:
    overall = figures["requests"]["overall"]
    writes, alerts = figures["writes"], figures["alerts"]
    crashed = [
        f"{e['event']} at {e['at_seconds']:.0f} s (exit code {e['exit_code']})"
        for e in figures["events"]
        if "exit_code" in e
    ]
    return [
        ("no 5xx", overall[SERVER_ERROR] == 0, f"{overall[SERVER_ERROR]} responses with 5xx"),
        ("no lost writes", writes["lost"] == 0, f"{writes['lost']} of {writes['acknowledged']}"),
        ("no lost alerts", alerts["lost"] == 0, f"{alerts['lost']} of {alerts['due']} due"),
        (
            "no duplicate emails",
            alerts["duplicates"] == 0,
            f"{alerts['duplicates']} deliveries received more than once",
        ),
        (
            "the load ran",
            writes["acknowledged"] > 0 and alerts["delivered"] > 0 and overall[OK] > 0,
            f"{overall[OK]} requests answered, {writes['acknowledged']} writes acknowledged, "
            f"{alerts['delivered']} alert emails delivered",
        ),
        (
            "every process stayed up",
            not crashed,
            "; ".join(crashed) or "no process of the stack exited on its own",
        ),
        (
            "every client ran to the end",
            not figures["client_failures"],
            "; ".join(figures["client_failures"]) or "no client stopped early",
        ),
    ]


# --- the report --------------------------------------------------------------------------------


def report(figures: dict[str, Any]) -> None:
    run = figures["run"]
    print()
    print(
        f"ITB soak started {run['started_at']}: {run['minutes']:g} min of load on "
        f"{run['cores']} cores; load average {run['load_before']:.2f} before, "
        f"{run['load_after']:.2f} after; {run['pumps_seeded']} soak pumps seeded, "
        f"{run['pumps_added']} added during the run"
    )
    for event in figures["events"]:
        rest = ", ".join(f"{k} {v}" for k, v in event.items() if k not in ("event", "at_seconds"))
        print(f"  {event['event']} at {event['at_seconds']:.0f} s ({rest})")
    print()
    print(
        f"{'requests':<24} {'count':>7} {'ok':>7} {'conflict':>8} {'other4xx':>8} {'5xx':>5} "
        f"{'conn err':>8} {'p50 ms':>7} {'p99 ms':>8}"
    )
    rows = [*figures["requests"]["by_kind"].items(), ("all", figures["requests"]["overall"])]
    for kind, r in rows:
        print(
            f"{kind:<24} {r['count']:>7} {r[OK]:>7} {r[CONFLICT]:>8} {r[UNEXPECTED]:>8} "
            f"{r[SERVER_ERROR]:>5} {r[CONNECTION_ERROR]:>8} {r['p50_ms']:>7.1f} {r['p99_ms']:>8.1f}"
        )
    print(
        "  conflict: 412 (stale If-Match) and 400s refusing a change made on stale information "
        "(program changed meanwhile, refill already booked, visit no longer booked, alert "
        "already resolved), which writers working on the same pump cause by design."
    )
    for category in (SERVER_ERROR, CONNECTION_ERROR, UNEXPECTED):
        samples = figures["requests"]["error_samples"].get(category, [])
        if samples:
            print(f"  first {category.replace('_', ' ')}s:")
            for e in samples[:8]:
                print(
                    f"    {e['at']:7.1f} s  {e['kind']}: {e['method']} {e['path']} -> "
                    f"{e['status']} {e['detail'][:140]}"
                )
    writes = figures["writes"]
    print()
    print(
        f"writes: {writes['acknowledged']} acknowledged (2xx with ids), {writes['found']} found in "
        f"the database, {writes['lost']} lost"
    )
    for kind, c in writes["by_kind"].items():
        print(
            f"  {kind:<20} {c['acknowledged']:>6} acknowledged {c['found']:>6} found "
            f"({c['replayed']} idempotent replays)"
        )
    for lost in writes["lost_writes"][:10]:
        print(f"  LOST: {lost}")
    a = figures["alerts"]
    print()
    print(
        f"alerts: {a['alerts_raised']} raised ({a['alerts_escalated']} escalated); "
        f"{a['deliveries']} deliveries queued, by status {a['deliveries_by_status']}"
    )
    print(
        f"  due {a['due']} (every delivery not cancelled by its alert's resolution); emails "
        f"received {a['emails_received']}, deliveries delivered {a['delivered']}; "
        f"lost {a['lost']}; duplicates {a['duplicates']} ({a['duplicate_copies']} extra copies); "
        f"received but not due {a['unexpected']}"
    )
    print(
        f"  delivery time (queued -> accepted by the SMTP server): p50 {a['latency_p50_s']} s, "
        f"p99 {a['latency_p99_s']} s, max {a['latency_max_s']} s"
    )
    for lost in a["lost_deliveries"][:10]:
        print(f"  LOST: {lost}")
    if a["duplicate_deliveries"]:
        print(f"  DUPLICATED (delivery id: copies): {a['duplicate_deliveries']}")
    print()
    print(
        "per minute: "
        + "  ".join(
            f"{m['minute']}: {m['requests']} req/{m['emails']} emails"
            + (f"/{m['server_errors']} 5xx" if m["server_errors"] else "")
            for m in figures["per_minute"]
        )
    )
    logs = figures["logs"]
    drained = figures["drain"]
    print(
        f"sweeps run {logs['sweeps']}; server errors in the web log "
        f"{logs['web_errors_logged']}; outbox drained in {drained['seconds']} s "
        f"(left: {drained['left']}); /healthz/alerts "
        f"{figures['health'].get('status')}"
    )
    restarts = logs["worker_restarts_by_supervisor"]
    print(
        f"worker started again by its supervisor: {len(restarts)} time(s)"
        + "".join(f"\n  {line}" for line in restarts)
    )
    if figures["notes"]:
        print("notes:")
        for note in figures["notes"]:
            print(f"  {note}")
    print(f"logs: {logs['directory']}")
    print()
    for label, passed, text in figures["targets"]:
        print(f"{'PASS' if passed else 'FAIL'}  {label}: {text}")
