"""Benchmark of the dosing engine's reservoir projection (in process, one core).

Run: .venv/bin/python bench/dosing_engine.py
Import: `from bench.dosing_engine import run; run()` -> {"simple_per_s": ..., "flex_per_s": ...}

(a) simple continuous program, no boluses;
(b) six-step flex program in America/New_York with a program change 40 days after the fill
    (a second six-step flex program), windows crossing DST changes.
Inputs are built before timing (the figure is projections per second, not input parsing);
fills vary by hour so that no result is cached. Each figure is the median of several batches.
"""

from __future__ import annotations

import statistics
import sys
import time as clock
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dosing.engine.programs import FlexProgram, FlexStep, SimpleProgram
from dosing.engine.projection import ProgramChange, ReservoirFill, project_refill

BATCH = 2000
BATCHES = 7


def _simple_fills() -> list[ReservoirFill]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        ReservoirFill(
            filled_at=start + timedelta(hours=7 * i),
            reservoir_volume_ml=20.0 if i % 2 else 40.0,
            programs=SimpleProgram(concentration_mcg_per_ml=500.0, daily_dose_mcg=250.0 + i % 300),
        )
        for i in range(BATCH)
    ]


def _flex_fills() -> list[ReservoirFill]:
    rates = [(0, 10.0), (4, 12.5), (8, 15.0), (12, 20.0), (16, 17.5), (20, 12.0)]
    first = FlexProgram(
        concentration_mcg_per_ml=1000.0,
        steps=tuple(FlexStep(time(h, 30), r) for h, r in rates),
    )
    second = FlexProgram(
        concentration_mcg_per_ml=1000.0,
        steps=tuple(FlexStep(time(h, 30), r * 1.15) for h, r in rates),
    )
    start = datetime(2025, 1, 1, tzinfo=UTC)
    fills = []
    for i in range(BATCH):
        filled_at = start + timedelta(hours=7 * i)
        fills.append(
            ReservoirFill(
                filled_at=filled_at,
                reservoir_volume_ml=40.0,
                programs=(
                    ProgramChange(filled_at - timedelta(days=30), first),
                    ProgramChange(filled_at + timedelta(days=40), second),
                ),
                timezone="America/New_York",
            )
        )
    return fills


def _rate(fills: list[ReservoirFill]) -> float:
    """Median projections per second over BATCHES timed batches (after one warm-up)."""
    for fill in fills[:50]:
        project_refill(
            fill=fill,
            low_reservoir_alarm_ml=2.0,
            refill_buffer_days=7.0,
            max_refill_interval_days=180.0,
        )
    rates = []
    for _ in range(BATCHES):
        began = clock.perf_counter()
        for fill in fills:
            project_refill(
                fill=fill,
                low_reservoir_alarm_ml=2.0,
                refill_buffer_days=7.0,
                max_refill_interval_days=180.0,
            )
        rates.append(len(fills) / (clock.perf_counter() - began))
    return statistics.median(rates)


def run() -> dict[str, float]:
    """Projections per second: {"simple_per_s": ..., "flex_per_s": ...}."""
    return {"simple_per_s": _rate(_simple_fills()), "flex_per_s": _rate(_flex_fills())}


def main() -> None:
    results = run()
    targets = {"simple_per_s": 100_000, "flex_per_s": 20_000}
    labels = {
        "simple_per_s": "simple continuous",
        "flex_per_s": "6-step flex + program change (NY)",
    }
    print(f"{'case':<38}{'projections/s':>15}{'target':>10}")
    for key, value in results.items():
        print(f"{labels[key]:<38}{value:>15,.0f}{targets[key]:>10,}")


if __name__ == "__main__":
    main()
