"""Words and badge colours of alert severities (the word always carries the meaning)."""

from django import template

from alerts.models import Severity

register = template.Library()

BADGE_LEVELS: dict[str, str] = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "danger",
    Severity.WARNING: "warning",
    Severity.INFO: "muted",
}


@register.filter
def severity_badge(severity: str) -> str:
    """The badge modifier of a severity: ``badge--{{ alert.severity|severity_badge }}``."""
    return BADGE_LEVELS.get(severity, "muted")
