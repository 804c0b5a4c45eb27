"""Showing stored quantities to people."""

from decimal import Decimal


def plain(value: Decimal) -> str:
    """A Decimal without trailing zeros or exponent: 20.00 → "20", 0.1400 → "0.14"."""
    return f"{value.normalize():f}"
