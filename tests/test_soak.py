"""A short soak: bench/soak.py for a minute and a half, as a subprocess, against the suite's
PostgreSQL server (in a database of its own, the suite's name + ``_soak``, dropped and created
again) with its own Redis, SMTP sink, gunicorn, Celery worker and beat. The worker is restarted
at a third of the run and Redis at two thirds, as in the full ten-minute soak.

The outbox timings are shortened (a lost send task is put back on the broker after 20 s, a send
whose worker died after 40 s instead of 60 and 120) so the outbox drains within the test's
time; escalation runs every minute so escalated emails flow too.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parent.parent
MINUTES = 1.5


def soak_database_url() -> str:
    """``SOAK_DATABASE_URL``, or the suite's database server with the suite's database name +
    ``_soak`` (``itb_soak`` under ``make test``)."""
    override = os.environ.get("SOAK_DATABASE_URL", "")
    if override:
        return override
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.fail("the soak test needs PostgreSQL: set DATABASE_URL=postgres://...")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{parts.path.lstrip('/')}_soak"))


def test_short_soak_loses_nothing_through_worker_and_redis_restarts(tmp_path: Path) -> None:
    figures_path = tmp_path / "soak.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "soak.py"),
        "--minutes",
        str(MINUTES),
        "--json",
        str(figures_path),
        "--database-url",
        soak_database_url(),
        "--pumps",
        "40",
        "--escalation-minutes",
        "1",
        "--intake-seconds",
        "15",
        "--lease-seconds",
        "40",
        "--requeue-after-seconds",
        "20",
        "--drain-minutes",
        "2",
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=MINUTES * 60 + 300, check=False
    )
    output = f"{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
    assert figures_path.exists(), output
    figures = json.loads(figures_path.read_text())
    requests, writes, alerts = figures["requests"], figures["writes"], figures["alerts"]

    # Both faults happened, and the load did real work through them.
    assert [e["event"] for e in figures["events"]] == ["worker restart", "redis restart"], output
    assert requests["overall"]["ok"] > 100, output
    assert writes["acknowledged"] > 10, output
    assert alerts["delivered"] > 10, output

    # The targets.
    assert requests["overall"]["server_error"] == 0, output
    assert writes["lost"] == 0, output
    assert writes["found"] == writes["acknowledged"], output
    assert alerts["lost"] == 0, output
    assert alerts["delivered"] == alerts["due"], output
    assert alerts["duplicates"] == 0, output
    assert done.returncode == 0, output
