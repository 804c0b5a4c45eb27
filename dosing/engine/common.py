"""Shared helpers of the dosing engine: datetime checks, number checks, verdicts.

Nothing here knows a clinical number; it only enforces the engine's conventions
(timezone-aware datetimes, outputs in UTC, positive finite quantities).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Verdict = Literal["ok", "soft_stop", "hard_stop"]
Severity = Literal["info", "soft_stop", "hard_stop"]

_SEVERITY_RANK: dict[str, int] = {"info": 0, "soft_stop": 1, "hard_stop": 2}

# Float comparisons against clinical thresholds: a value that differs from the threshold by
# less than this (in the threshold's own unit, e.g. percentage points or mL) counts as equal,
# so that 400 -> 520 mcg/day (+30 % computed as 30.000000000000004) is "at" a 30 % limit.
THRESHOLD_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason behind a verdict: a stable machine code and a human message.

    `severity` says what the reason does to the verdict: "info" explains an ok verdict,
    "soft_stop" needs a documented override, "hard_stop" is never allowed.
    """

    code: str
    message: str
    severity: Severity


def verdict_of(reasons: tuple[Reason, ...]) -> Verdict:
    """The strongest severity among `reasons` ("info" or nothing gives "ok")."""
    rank = max((_SEVERITY_RANK[r.severity] for r in reasons), default=0)
    if rank == 2:
        return "hard_stop"
    if rank == 1:
        return "soft_stop"
    return "ok"


def require_aware(value: datetime, *, name: str) -> datetime:
    """Return `value` converted to UTC; raise ValueError for a naive datetime."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got a naive datetime {value!r})")
    return value.astimezone(UTC)


def require_positive(value: float, *, name: str, allow_zero: bool = False) -> float:
    """Return `value` as float if finite and > 0 (or >= 0 with allow_zero); else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return number


def above_limit(value: float, limit: float) -> bool:
    """True when `value` is above `limit` by more than THRESHOLD_EPSILON."""
    return value > limit + THRESHOLD_EPSILON


def below_limit(value: float, limit: float) -> bool:
    """True when `value` is below `limit` by more than THRESHOLD_EPSILON."""
    return value < limit - THRESHOLD_EPSILON
