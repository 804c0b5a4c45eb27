"""The reservoir chart: well-formed SVG whose lines sit where the engine's numbers say."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from dosing.engine.programs import FlexProgram, FlexStep, SimpleProgram
from dosing.engine.projection import ReservoirFill, project_refill
from dosing.models import DrugProduct
from pumps import chart as chart_module
from pumps.chart import Marker, reservoir_chart
from pumps.services import pump_program_create, reservoir_fill_record

SVG = "{http://www.w3.org/2000/svg}"
FILL = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)
DUE = datetime(2025, 3, 26, tzinfo=UTC)
BOOKED = datetime(2025, 3, 24, 14, tzinfo=UTC)
NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)
ZONE = "America/New_York"


def parse_svg(text: str) -> ET.Element:
    """Parse the chart; fails on markup that is not well-formed XML."""
    return ET.fromstring(text)  # noqa: S314 - the app's own SVG, not untrusted input


def tc01_fill() -> ReservoirFill:
    return ReservoirFill(
        filled_at=FILL,
        reservoir_volume_ml=20.0,
        programs=SimpleProgram(concentration_mcg_per_ml=500.0, daily_dose_mcg=300.0),
    )


def tc01_chart(**kwargs):
    return reservoir_chart(
        fill=tc01_fill(),
        low_reservoir_alarm_ml=2.0,
        capacity_ml=20.0,
        time_zone=ZONE,
        markers=[Marker("due", DUE), Marker("booked", BOOKED), Marker("now", NOW)],
        **kwargs,
    )


def y_of(volume_ml: float, top_ml: float = 20.0) -> float:
    return chart_module.PLOT_BOTTOM - volume_ml / top_ml * chart_module.PLOT_HEIGHT


def volume_of(y: float, top_ml: float = 20.0) -> float:
    return (chart_module.PLOT_BOTTOM - y) / chart_module.PLOT_HEIGHT * top_ml


def x_of(moment: datetime, start: datetime, end: datetime) -> float:
    span = (end - start).total_seconds()
    return (
        chart_module.PLOT_LEFT + (moment - start).total_seconds() / span * chart_module.PLOT_WIDTH
    )


def polyline_points(root: ET.Element) -> list[tuple[float, float]]:
    line = root.find(f".//{SVG}polyline[@class='chart__volume']")
    assert line is not None
    return [tuple(map(float, pair.split(","))) for pair in line.get("points", "").split()]  # type: ignore[misc]


def test_svg_is_well_formed_accessible_and_scales():
    drawn = tc01_chart()
    root = parse_svg(str(drawn.svg))
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 800 340"
    assert root.get("width") is None and root.get("height") is None  # scales with its box
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.text == "Projected reservoir volume"
    assert desc is not None
    assert "from 20 mL at the fill on 2 Mar 2025 19:00 to empty on 5 Apr 2025 04:00" in str(
        desc.text
    )
    assert "alarm at 2 mL is reached on 1 Apr 2025 20:00" in str(desc.text)
    assert "style=" not in str(drawn.svg) and "<script" not in str(drawn.svg)
    legend = root.find(f".//{SVG}g[@class='chart__legend']")
    assert legend is not None
    labels = [t.text for t in legend.iter(f"{SVG}text")]
    assert labels == [
        "Projected volume",
        "Low-reservoir alarm",
        "Refill due",
        "Booked refill",
        "Now",
    ]


def test_alarm_line_sits_at_the_alarm_volume():
    root = parse_svg(str(tc01_chart().svg))
    line = root.find(f".//{SVG}g[@class='chart__alarm']/{SVG}line")
    assert line is not None
    # 2 mL of a 20 mL scale: 10 % of the plot height above the bottom.
    assert float(line.get("y1", "nan")) == pytest.approx(y_of(2.0), abs=0.05)
    assert line.get("y1") == line.get("y2")
    assert line.get("data-volume-ml") == "2"


def test_alarm_line_follows_a_larger_reservoir():
    drawn = reservoir_chart(
        fill=tc01_fill(), low_reservoir_alarm_ml=4.0, capacity_ml=40.0, time_zone=ZONE
    )
    root = parse_svg(str(drawn.svg))
    line = root.find(f".//{SVG}g[@class='chart__alarm']/{SVG}line")
    assert line is not None
    assert float(line.get("y1", "nan")) == pytest.approx(y_of(4.0, 40.0), abs=0.05)
    first_x, first_y = polyline_points(root)[0]
    assert volume_of(first_y, 40.0) == pytest.approx(20.0, abs=0.01)


def test_volume_line_starts_at_the_fill_and_never_rises():
    drawn = tc01_chart()
    points = polyline_points(parse_svg(str(drawn.svg)))
    first_x, first_y = points[0]
    assert first_x == chart_module.PLOT_LEFT
    assert volume_of(first_y) == pytest.approx(20.0, abs=0.01)
    ys = [y for _, y in points]
    assert all(b >= a for a, b in zip(ys, ys[1:], strict=False))  # y grows down the page
    assert volume_of(ys[-1]) == pytest.approx(0.0, abs=0.01)
    xs = [x for x, _ in points]
    assert xs == sorted(xs) and xs[-1] == chart_module.PLOT_RIGHT
    # The engine's volumes: 0.6 mL/day, so 10 days after the fill 14 mL remain.
    sampled = dict(drawn.points)
    assert sampled[FILL + timedelta(days=10)] == pytest.approx(14.0)
    # The range runs from the fill to a little after the engine's empty time.
    assert drawn.start == FILL
    assert drawn.empty_at == datetime(2025, 4, 5, 8, tzinfo=UTC)
    assert drawn.alarm_at == datetime(2025, 4, 2, tzinfo=UTC)
    assert drawn.empty_at < drawn.end <= drawn.empty_at + timedelta(days=4)
    # The alarm instant is itself a vertex: the line crosses the alarm line there.
    alarm_x = x_of(drawn.alarm_at, drawn.start, drawn.end)
    assert any(abs(x - alarm_x) < 0.06 and abs(y - y_of(2.0)) < 0.06 for x, y in points), (
        "no vertex at the alarm time and volume"
    )


def test_markers_for_due_booked_and_now_at_their_times():
    drawn = tc01_chart()
    root = parse_svg(str(drawn.svg))
    for kind, at, label in [
        ("due", DUE, "Refill due 25 Mar"),
        ("booked", BOOKED, "Booked refill 24 Mar"),
        ("now", NOW, "Now 10 Mar"),
    ]:
        group = root.find(f".//{SVG}g[@class='chart__marker chart__marker--{kind}']")
        assert group is not None, kind
        line = group.find(f"{SVG}line")
        text = group.find(f"{SVG}text")
        assert line is not None and text is not None
        assert float(line.get("x1", "nan")) == pytest.approx(
            x_of(at, drawn.start, drawn.end), abs=0.06
        )
        assert text.text == label
    assert drawn.hidden_markers == ()


def test_marker_outside_the_range_is_listed_not_drawn():
    late = datetime(2026, 1, 1, tzinfo=UTC)
    drawn = reservoir_chart(
        fill=tc01_fill(),
        low_reservoir_alarm_ml=2.0,
        capacity_ml=20.0,
        time_zone=ZONE,
        markers=[Marker("now", late)],
    )
    assert drawn.hidden_markers == (Marker("now", late),)
    assert "chart__marker--now" not in str(drawn.svg)


def test_date_axis_is_in_the_patients_zone():
    root = parse_svg(str(tc01_chart().svg))
    axis = root.find(f".//{SVG}g[@class='chart__x-axis']")
    assert axis is not None
    labels = [t.text for t in axis.iter(f"{SVG}text")]
    # Filled 2 Mar 19:00 in New York: the first tick is the next local midnight.
    assert labels[0] == "3 Mar"
    assert labels[-1] == "Date (America/New_York), from the fill on 2 Mar 2025"
    tick = axis.find(f"{SVG}line[2]")
    assert tick is not None
    midnight = datetime(2025, 3, 3, tzinfo=ZoneInfo(ZONE))
    drawn = tc01_chart()
    assert float(tick.get("x1", "nan")) == pytest.approx(
        x_of(midnight, drawn.start, drawn.end), abs=0.06
    )


def test_flex_steps_show_in_the_samples():
    """TC-06: 12.5 mcg/h by day, 25 mcg/h by night at 500 mcg/mL: an hour of night empties
    twice what an hour of day does (0.05 mL against 0.025 mL)."""
    fill = ReservoirFill(
        filled_at=FILL,
        reservoir_volume_ml=20.0,
        programs=FlexProgram(
            concentration_mcg_per_ml=500.0,
            steps=(FlexStep(time(6), 12.5), FlexStep(time(22), 25.0)),
        ),
        timezone=ZONE,
    )
    drawn = reservoir_chart(fill=fill, low_reservoir_alarm_ml=2.0, capacity_ml=20.0, time_zone=ZONE)
    volumes = dict(drawn.points)
    zone = ZoneInfo(ZONE)
    noon = datetime(2025, 3, 5, 12, tzinfo=zone).astimezone(UTC)
    night = datetime(2025, 3, 5, 23, tzinfo=zone).astimezone(UTC)
    hour = timedelta(hours=1)
    assert volumes[noon] - volumes[noon + hour] == pytest.approx(0.025)
    assert volumes[night] - volumes[night + hour] == pytest.approx(0.05)
    # The chart's alarm time is the engine projection's (the real schedule, across DST).
    projection = project_refill(
        fill=fill, low_reservoir_alarm_ml=2.0, refill_buffer_days=7, max_refill_interval_days=180
    )
    assert drawn.alarm_at == projection.low_reservoir_alarm_at
    assert drawn.empty_at == projection.empty_at


# --- On the patient page -------------------------------------------------------------------------


def test_patient_page_without_a_fill_shows_the_empty_state(client, world, implanted_pump):
    client.force_login(world.clinician)
    html = client.get(reverse("pumps:patient", args=[world.patient_a1.pk])).content.decode()
    assert "No fill recorded: nothing to project yet" in html
    assert "<svg" not in html


def test_patient_page_embeds_the_chart(client, world, implanted_pump):
    pump_program_create(
        actor=world.clinician,
        pump=implanted_pump,
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
        concentration_mcg_per_ml=D("500"),
        mode="simple",
        daily_dose_mcg=D("300"),
        reason="Maintenance",
    )
    reservoir_fill_record(
        actor=world.nurse,
        pump=implanted_pump,
        filled_at=FILL,
        volume_ml=D("20"),
        concentration_mcg_per_ml=D("500"),
        product=DrugProduct.objects.filter(
            concentration_mcg_per_ml=D("500"), use="pump_fill"
        ).first(),
    )
    client.force_login(world.clinician)
    html = client.get(reverse("pumps:patient", args=[world.patient_a1.pk])).content.decode()
    match = re.search(r"<svg.*?</svg>", html, flags=re.S)
    assert match is not None
    root = parse_svg(match.group(0))
    points = polyline_points(root)
    assert volume_of(points[0][1]) == pytest.approx(20.0, abs=0.01)
    # The stored refill-due time is marked; "now" (today) is long after this 2025 fill.
    assert root.find(f".//{SVG}g[@class='chart__marker chart__marker--due']") is not None
    assert "is outside the chart" in html
    assert "No fill recorded" not in html
    assert " style=" not in html and "<script" not in html
