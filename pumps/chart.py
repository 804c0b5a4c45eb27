"""The reservoir chart: projected reservoir volume (mL) against time, as inline SVG rendered on
the server (no script, no inline style; colours are SVG presentation attributes).

Every volume and instant comes from the dosing engine (``ReservoirTimeline``); this module only
samples it and maps the numbers onto the drawing. Dates are drawn in the patient's time zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from django.utils.safestring import SafeString, mark_safe

from dosing.engine.projection import ReservoirFill, ReservoirTimeline
from dosing.engine.units import format_quantity

# Drawing geometry (viewBox units); the SVG scales to its container through the viewBox.
WIDTH = 800
HEIGHT = 340
PLOT_LEFT = 56
PLOT_RIGHT = 780
PLOT_TOP = 44
PLOT_BOTTOM = 284
PLOT_WIDTH = PLOT_RIGHT - PLOT_LEFT
PLOT_HEIGHT = PLOT_BOTTOM - PLOT_TOP

# Sample the engine at least every MAX_STEP_HOURS (finer for short spans, so flex steps show),
# with no more than MAX_SAMPLES points.
MIN_STEP_HOURS = 1
MAX_STEP_HOURS = 6
MAX_SAMPLES = 900

COLORS = {
    "volume": "#0a5a8c",
    "area": "#e6f0f7",
    "alarm": "#a51d12",
    "due": "#7a4100",
    "booked": "#0b6635",
    "now": "#46515c",
    "grid": "#d5dde6",
    "axis": "#4e5d6c",
    "text": "#1b2733",
}
MARKER_DASH = {"due": "6 4", "booked": "", "now": "2 3"}
# A white outline behind a label keeps it readable where it crosses a line.
HALO = 'stroke="#ffffff" stroke-width="4" stroke-linejoin="round" paint-order="stroke"'
MARKER_LABEL = {"due": "Refill due", "booked": "Booked refill", "now": "Now"}


@dataclass(frozen=True, slots=True)
class Marker:
    """A vertical line at an instant: ``kind`` is "due", "booked" or "now"."""

    kind: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReservoirChart:
    svg: SafeString
    start: datetime
    end: datetime
    empty_at: datetime
    alarm_at: datetime
    points: tuple[tuple[datetime, float], ...]
    hidden_markers: tuple[Marker, ...]  # outside the drawn time range, listed in words


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return "0" if text in {"0.0", "-0.0"} else text.removesuffix(".0")


def _nice_step(span: float, *, max_ticks: int, steps: Sequence[float]) -> float:
    for step in steps:
        if span / step <= max_ticks:
            return step
    return steps[-1] * math.ceil(span / (steps[-1] * max_ticks))


def _sample_times(start: datetime, end: datetime, extra: Sequence[datetime]) -> list[datetime]:
    span_hours = (end - start).total_seconds() / 3600
    step_hours = min(max(MIN_STEP_HOURS, math.ceil(span_hours / MAX_SAMPLES)), MAX_STEP_HOURS)
    times: list[datetime] = []
    moment = start
    step = timedelta(hours=step_hours)
    while moment < end:
        times.append(moment)
        moment += step
    times.append(end)
    times.extend(t for t in extra if start < t < end)
    return sorted(set(times))


def reservoir_chart(
    *,
    fill: ReservoirFill,
    low_reservoir_alarm_ml: float,
    capacity_ml: float,
    time_zone: str,
    markers: Sequence[Marker] = (),
    title: str = "Projected reservoir volume",
) -> ReservoirChart:
    """Draw the projected volume from the fill to a little after the engine's empty time.

    1. Ask the engine when the reservoir reaches the alarm volume and 0 mL.
    2. Sample its volume from the fill to empty + 10 % of the span (at least a day), every
       1–6 h, plus the alarm and empty instants themselves.
    3. Map time to x and volume to y (0 mL at the bottom, the larger of capacity and fill
       volume at the top); draw the grid, the area and line, the alarm line and the markers.
    """
    zone = ZoneInfo(time_zone)
    timeline = ReservoirTimeline(fill)
    start = fill.filled_at
    alarm_at = timeline.time_at_volume(low_reservoir_alarm_ml)
    empty_at = timeline.time_at_volume(0.0)
    margin = max((empty_at - start) * 0.1, timedelta(days=1))
    end = empty_at + margin
    times = _sample_times(start, end, [alarm_at, empty_at])
    points = tuple((t, timeline.volume_at(t)) for t in times)
    top_ml = max(capacity_ml, fill.reservoir_volume_ml)
    span_s = (end - start).total_seconds()

    def x_of(moment: datetime) -> float:
        return PLOT_LEFT + (moment - start).total_seconds() / span_s * PLOT_WIDTH

    def y_of(volume_ml: float) -> float:
        return PLOT_BOTTOM - volume_ml / top_ml * PLOT_HEIGHT

    def local(moment: datetime, fmt: str) -> str:
        """``fmt`` after the day of the month (written without a leading zero)."""
        here = moment.astimezone(zone)
        return f"{here.day} {here.strftime(fmt)}"

    parts: list[str] = []
    add = parts.append
    desc = (
        f"Projected reservoir volume from {format_quantity(fill.reservoir_volume_ml, unit='mL')} "
        f"at the fill on {local(start, '%b %Y %H:%M')} to empty on "
        f"{local(empty_at, '%b %Y %H:%M')} ({time_zone}). The low-reservoir alarm at "
        f"{format_quantity(low_reservoir_alarm_ml, unit='mL')} is reached on "
        f"{local(alarm_at, '%b %Y %H:%M')}."
    )
    for marker in markers:
        desc += f" {MARKER_LABEL[marker.kind]}: {local(marker.at, '%b %Y %H:%M')}."
    add(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="reservoir-chart" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="reservoir-chart-title reservoir-chart-desc" '
        f'font-family="system-ui, sans-serif" font-size="12" fill="{COLORS["text"]}">'
    )
    add(f'<title id="reservoir-chart-title">{escape(title)}</title>')
    add(f'<desc id="reservoir-chart-desc">{escape(desc)}</desc>')

    # Volume grid and axis labels (mL).
    ml_step = _nice_step(top_ml, max_ticks=6, steps=(0.5, 1, 2, 5, 10, 20, 50))
    add('<g class="chart__y-axis">')
    tick = 0.0
    while tick <= top_ml + 1e-9:
        y = _num(y_of(tick))
        add(
            f'<line x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{y}" y2="{y}" '
            f'stroke="{COLORS["grid"]}" stroke-width="1"/>'
        )
        add(
            f'<text x="{PLOT_LEFT - 8}" y="{y}" text-anchor="end" dominant-baseline="middle" '
            f'fill="{COLORS["axis"]}">{escape(f"{tick:g}")}</text>'
        )
        tick += ml_step
    add(
        f'<text x="14" y="{_num(PLOT_TOP + PLOT_HEIGHT / 2)}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_num(PLOT_TOP + PLOT_HEIGHT / 2)})" '
        f'fill="{COLORS["axis"]}">Volume (mL)</text>'
    )
    add("</g>")

    # Date axis: local midnights, every 1, 2, 7, 14 or 28 days.
    span_days = span_s / 86400
    day_step = int(_nice_step(span_days, max_ticks=8, steps=(1, 2, 7, 14, 28, 56, 91)))
    first_day = start.astimezone(zone).date() + timedelta(days=1)
    add('<g class="chart__x-axis">')
    add(
        f'<line x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{PLOT_BOTTOM}" y2="{PLOT_BOTTOM}" '
        f'stroke="{COLORS["axis"]}" stroke-width="1"/>'
    )
    day = first_day
    last_day = end.astimezone(zone).date()
    while day <= last_day:
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        if start <= midnight <= end:
            tick_x = _num(x_of(midnight))
            add(
                f'<line x1="{tick_x}" x2="{tick_x}" y1="{PLOT_BOTTOM}" y2="{PLOT_BOTTOM + 5}" '
                f'stroke="{COLORS["axis"]}" stroke-width="1"/>'
            )
            add(
                f'<text x="{tick_x}" y="{PLOT_BOTTOM + 20}" text-anchor="middle" '
                f'fill="{COLORS["axis"]}">{escape(f"{day.day} {day:%b}")}</text>'
            )
        day += timedelta(days=day_step)
    add(
        f'<text x="{_num(PLOT_LEFT + PLOT_WIDTH / 2)}" y="{HEIGHT - 8}" text-anchor="middle" '
        f'fill="{COLORS["axis"]}">Date ({escape(time_zone)}), from the fill on '
        f"{escape(local(start, '%b %Y'))}</text>"
    )
    add("</g>")

    # The projected volume: a light area under a line.
    coords = " ".join(f"{_num(x_of(t))},{_num(y_of(v))}" for t, v in points)
    add(
        f'<polygon class="chart__area" fill="{COLORS["area"]}" stroke="none" '
        f'points="{_num(PLOT_LEFT)},{PLOT_BOTTOM} {coords} {_num(PLOT_RIGHT)},{PLOT_BOTTOM}"/>'
    )
    add(
        f'<polyline class="chart__volume" fill="none" stroke="{COLORS["volume"]}" '
        f'stroke-width="2.5" stroke-linejoin="round" points="{coords}"/>'
    )

    # The low-reservoir alarm volume.
    alarm_y = _num(y_of(low_reservoir_alarm_ml))
    alarm_text = f"Low-reservoir alarm {format_quantity(low_reservoir_alarm_ml, unit='mL')}"
    add(
        f'<g class="chart__alarm"><line x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" y1="{alarm_y}" '
        f'y2="{alarm_y}" stroke="{COLORS["alarm"]}" stroke-width="2" stroke-dasharray="8 4" '
        f"data-volume-ml={quoteattr(f'{low_reservoir_alarm_ml:g}')}/>"
        f'<text x="{PLOT_LEFT + 6}" y="{_num(y_of(low_reservoir_alarm_ml) - 6)}" '
        f'text-anchor="start" fill="{COLORS["alarm"]}" font-weight="600" {HALO}>'
        f"{escape(alarm_text)}</text></g>"
    )

    # Vertical markers (refill due, booked refills, now); labels staggered so they never overlap.
    hidden: list[Marker] = []
    for index, marker in enumerate(markers):
        if not start <= marker.at <= end:
            hidden.append(marker)
            continue
        x = x_of(marker.at)
        color = COLORS[marker.kind]
        dash = MARKER_DASH[marker.kind]
        label = f"{MARKER_LABEL[marker.kind]} {local(marker.at, '%b')}"
        right_half = x > PLOT_LEFT + PLOT_WIDTH * 0.7
        anchor, text_x = ("end", x - 4) if right_half else ("start", x + 4)
        text_y = PLOT_TOP + 12 + (index % 3) * 14
        add(
            f'<g class="chart__marker chart__marker--{marker.kind}" '
            f'data-at="{marker.at.isoformat()}">'
            f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{PLOT_TOP}" y2="{PLOT_BOTTOM}" '
            f'stroke="{color}" stroke-width="2"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + "/>"
            f'<text x="{_num(text_x)}" y="{text_y}" text-anchor="{anchor}" fill="{color}" '
            f'font-weight="600" {HALO}>{escape(label)}</text></g>'
        )

    # Legend, above the plot.
    legend = [
        ("volume", "Projected volume", ""),
        ("alarm", "Low-reservoir alarm", "8 4"),
        *[(kind, MARKER_LABEL[kind], MARKER_DASH[kind]) for kind in ("due", "booked", "now")],
    ]
    add('<g class="chart__legend">')
    x_pos = float(PLOT_LEFT)
    for kind, text, dash in legend:
        add(
            f'<line x1="{_num(x_pos)}" x2="{_num(x_pos + 22)}" y1="14" y2="14" '
            f'stroke="{COLORS[kind]}" stroke-width="2.5"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + "/>"
            f'<text x="{_num(x_pos + 28)}" y="14" dominant-baseline="middle">{escape(text)}</text>'
        )
        x_pos += 28 + len(text) * 6.6 + 22
    add("</g>")
    add("</svg>")
    return ReservoirChart(
        svg=mark_safe("".join(parts)),  # noqa: S308 - every text above is escaped
        start=start,
        end=end,
        empty_at=empty_at,
        alarm_at=alarm_at,
        points=points,
        hidden_markers=tuple(hidden),
    )
