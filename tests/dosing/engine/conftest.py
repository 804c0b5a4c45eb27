"""Fixtures for the dosing engine tests (the values live in label_values.py)."""

from __future__ import annotations

import pytest

from dosing.engine.limits import DoseLimits
from dosing.engine.screening import ScreeningRules

from .label_values import LABEL_LIMITS, SCREENING_RULES


@pytest.fixture
def label_limits() -> DoseLimits:
    """Dose-change limits from the label (domain.md §2.3-2.4)."""
    return LABEL_LIMITS


@pytest.fixture
def screening_rules() -> ScreeningRules:
    """Screening rules from the label (domain.md §2.2-2.3)."""
    return SCREENING_RULES
