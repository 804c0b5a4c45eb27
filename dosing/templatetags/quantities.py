"""Showing engine numbers to people: ``{{ value|qty:"mL/day" }}`` → "0.66 mL/day"."""

from django import template

from dosing.engine.units import format_quantity

register = template.Library()


@register.filter
def qty(value: float | None, unit: str) -> str:
    """Four significant digits (display only; the engine never rounds), trailing zeros dropped."""
    if value is None:
        return "—"
    return format_quantity(float(value), unit=unit, significant_digits=4)
