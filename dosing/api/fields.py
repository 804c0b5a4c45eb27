"""Serializer fields for the dosing calculators: quantities with units (parsed by the engine's
pint registry), timezone-aware datetimes, IANA time zones and flex steps."""

import re
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dosing.engine.units import QuantityError, parse_quantity


@extend_schema_field(
    {
        "oneOf": [
            {"type": "number", "description": "in the field's canonical unit"},
            {"type": "string", "description": 'a number with a unit, e.g. "500 mcg/mL"'},
        ]
    }
)
class QuantityField(serializers.Field):
    """A quantity given as a JSON number in ``canonical_unit`` or as a string with units.

    The value is converted to ``canonical_unit`` (so "60 mcg/h" for a daily dose is 1440
    mcg/day, never 60) and returned as a float. Refusals name the expected unit."""

    def __init__(self, *, canonical_unit: str, allow_zero: bool = False, **kwargs: Any) -> None:
        self.canonical_unit = canonical_unit
        self.allow_zero = allow_zero
        kwargs.setdefault(
            "help_text",
            f'A number in {canonical_unit}, or a string with its unit ("… {canonical_unit}").',
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> float:
        try:
            return parse_quantity(
                data,
                field=self.field_name or "value",
                canonical_unit=self.canonical_unit,
                allow_zero=self.allow_zero,
            )
        except QuantityError as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value: Any) -> float:
        return float(value)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its UTC offset (a naive time is ambiguous)."""

    default_error_messages = {
        **serializers.DateTimeField.default_error_messages,
        "naive": "Give the date-time with its UTC offset, e.g. 2025-03-03T08:00:00-05:00 or "
        "2025-03-03T13:00:00Z.",
    }

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss][+HH:MM|Z]")
            if parsed.tzinfo is None:
                self.fail("naive")
            try:
                return parsed.astimezone(UTC)
            except (OverflowError, ValueError):
                self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss][+HH:MM|Z]")
        self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss][+HH:MM|Z]")


@extend_schema_field(OpenApiTypes.STR)
class TimeZoneField(serializers.CharField):
    """An IANA time zone name such as America/New_York."""

    def to_internal_value(self, data: Any) -> str:
        name = super().to_internal_value(data)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(
                f"{name!r} is not an IANA time zone name (for example America/New_York)."
            ) from None
        return name


CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@extend_schema_field(
    {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "06:00"}
)
class ClockTimeField(serializers.Field):
    """A wall-clock time "HH:MM" (24 h)."""

    def to_internal_value(self, data: Any) -> time:
        match = CLOCK.match(data) if isinstance(data, str) else None
        if match is None:
            raise serializers.ValidationError(
                'Give the start as "HH:MM" on a 24 h clock, e.g. "06:00".'
            )
        return time(int(match.group(1)), int(match.group(2)))

    def to_representation(self, value: time) -> str:
        return value.strftime("%H:%M")


class FlexStepSerializer(serializers.Serializer):
    start = ClockTimeField(help_text="Wall-clock start in the patient's time zone, HH:MM.")
    rate = QuantityField(canonical_unit="mcg/h", help_text="Dose rate from this start on (mcg/h).")
