"""Dosing benchmark: engine projections per second, and calculator requests per second through
the Django test client (full middleware, session authentication, serializers, JSON).

Run: .venv/bin/python bench/dosing.py  (or `make bench`). Uses a throwaway SQLite database
unless DATABASE_URL is set. Prints one table; figures are medians of several timed batches.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REQUESTS = 300
BATCHES = 5

BODIES = {
    "projection, simple": (
        "projection",
        {
            "concentration": "500 mcg/mL",
            "daily_dose": 300,
            "reservoir_volume": "20 mL",
            "filled_at": "2025-03-03T00:00:00Z",
        },
    ),
    "projection, 6-step flex": (
        "projection",
        {
            "concentration": 1000,
            "steps": [
                {"start": "00:30", "rate": 10},
                {"start": "04:30", "rate": "12.5 mcg/h"},
                {"start": "08:30", "rate": 15},
                {"start": "12:30", "rate": 20},
                {"start": "16:30", "rate": 17.5},
                {"start": "20:30", "rate": 12},
            ],
            "reservoir_volume": 40,
            "filled_at": "2025-03-03T08:00:00-05:00",
            "timezone": "America/New_York",
        },
    ),
    "dose-change": (
        "dose-change",
        {
            "current_daily_dose": 400,
            "proposed_daily_dose": 480,
            "origin": "spinal",
            "context": "refill",
            "at": "2025-06-01T12:00:00Z",
        },
    ),
}


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itb.settings.test")
    if "DATABASE_URL" not in os.environ:
        folder = tempfile.mkdtemp(prefix="itb-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def calculator_rates() -> dict[str, float]:
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import User

    setup_test_environment()
    user, _ = User.objects.get_or_create(username="bench-clinician")
    client = Client()
    client.force_login(user)
    rates: dict[str, float] = {}
    for label, (endpoint, body) in BODIES.items():
        payload = json.dumps(body)
        url = f"/api/v1/dosing/{endpoint}/"
        response = client.post(url, payload, content_type="application/json")
        assert response.status_code == 200, response.content
        samples = []
        for _ in range(BATCHES):
            start = time.perf_counter()
            for _ in range(REQUESTS):
                client.post(url, payload, content_type="application/json")
            samples.append(REQUESTS / (time.perf_counter() - start))
        rates[label] = statistics.median(samples)
    return rates


def main() -> None:
    from bench.dosing_engine import run as engine_run

    engine = engine_run()
    _setup_django()
    api = calculator_rates()
    print(f"{'measure':<48}{'per second':>14}{'target':>10}")
    print(f"{'engine: simple projections':<48}{engine['simple_per_s']:>14,.0f}{100_000:>10,}")
    flex = "engine: 6-step flex + program change (NY)"
    print(f"{flex:<48}{engine['flex_per_s']:>14,.0f}{20_000:>10,}")
    for label, rate in api.items():
        print(f"{'API via test client: ' + label:<48}{rate:>14,.0f}{'—':>10}")


if __name__ == "__main__":
    main()
