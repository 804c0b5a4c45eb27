"""Property tests (hypothesis) of the projection, the DST model, bridges and units."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.engine.boluses import Bolus, concentration_change
from dosing.engine.delivery import delivered_between
from dosing.engine.programs import FlexProgram, FlexStep, SimpleProgram
from dosing.engine.projection import ProgramChange, ReservoirFill, ReservoirTimeline, project_refill
from dosing.engine.timezones import resolve_local_time
from dosing.engine.units import parse_quantity

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)

DST_ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
]
FLAT_ZONES = ["UTC", "Asia/Kolkata", "Asia/Tokyo"]

doses = st.floats(min_value=20, max_value=2000, allow_nan=False)
concentrations = st.sampled_from([500.0, 1000.0, 2000.0])
volumes = st.floats(min_value=3, max_value=40, allow_nan=False)
instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1)).map(  # noqa: DTZ001
    lambda d: d.replace(tzinfo=UTC)
)
clock_times = st.builds(
    time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]), st.sampled_from([0, 0, 17])
)
rates = st.floats(min_value=0.5, max_value=60, allow_nan=False)


@st.composite
def flex_programs(draw, concentration=None):
    starts = draw(st.lists(clock_times, min_size=1, max_size=6, unique=True))
    steps = tuple(FlexStep(start, draw(rates)) for start in starts)
    return FlexProgram(concentration_mcg_per_ml=concentration or draw(concentrations), steps=steps)


def _project(fill: ReservoirFill, buffer: float = 7.0):
    return project_refill(
        fill=fill,
        low_reservoir_alarm_ml=2.0,
        refill_buffer_days=buffer,
        max_refill_interval_days=180.0,
    )


@PROPERTY_SETTINGS
@given(low=doses, extra=st.floats(0, 1000), conc=concentrations, volume=volumes, at=instants)
def test_higher_dose_never_gives_a_later_alarm(low, extra, conc, volume, at):
    a = _project(
        ReservoirFill(
            filled_at=at,
            reservoir_volume_ml=volume,
            programs=SimpleProgram(concentration_mcg_per_ml=conc, daily_dose_mcg=low),
        )
    )
    b = _project(
        ReservoirFill(
            filled_at=at,
            reservoir_volume_ml=volume,
            programs=SimpleProgram(concentration_mcg_per_ml=conc, daily_dose_mcg=low + extra),
        )
    )
    assert b.low_reservoir_alarm_at <= a.low_reservoir_alarm_at


@PROPERTY_SETTINGS
@given(
    program=flex_programs(),
    factor=st.floats(1, 3),
    zone=st.sampled_from(DST_ZONES + FLAT_ZONES),
    volume=volumes,
    at=instants,
)
def test_higher_flex_rates_never_give_a_later_alarm(program, factor, zone, volume, at):
    faster = FlexProgram(
        concentration_mcg_per_ml=program.concentration_mcg_per_ml,
        steps=tuple(FlexStep(s.start, s.rate_mcg_per_hour * factor) for s in program.steps),
    )
    a = _project(
        ReservoirFill(filled_at=at, reservoir_volume_ml=volume, programs=program, timezone=zone)
    )
    b = _project(
        ReservoirFill(filled_at=at, reservoir_volume_ml=volume, programs=faster, timezone=zone)
    )
    assert b.low_reservoir_alarm_at <= a.low_reservoir_alarm_at + timedelta(microseconds=1)


@PROPERTY_SETTINGS
@given(
    dose=doses,
    conc=concentrations,
    more=st.sampled_from([1.0, 2.0, 4.0]),
    volume=volumes,
    at=instants,
)
def test_higher_concentration_never_gives_an_earlier_alarm(dose, conc, more, volume, at):
    a = _project(
        ReservoirFill(
            filled_at=at,
            reservoir_volume_ml=volume,
            programs=SimpleProgram(concentration_mcg_per_ml=conc, daily_dose_mcg=dose),
        )
    )
    b = _project(
        ReservoirFill(
            filled_at=at,
            reservoir_volume_ml=volume,
            programs=SimpleProgram(concentration_mcg_per_ml=conc * more, daily_dose_mcg=dose),
        )
    )
    assert b.low_reservoir_alarm_at >= a.low_reservoir_alarm_at


@PROPERTY_SETTINGS
@given(program=flex_programs(), zone=st.sampled_from(FLAT_ZONES), start=instants)
def test_any_whole_day_without_dst_delivers_the_daily_volume(program, zone, start):
    delivered = delivered_between(
        program=program, start=start, end=start + timedelta(hours=24), timezone=zone
    )
    nominal = program.nominal_daily_dose_mcg
    assert delivered.dose_mcg == pytest.approx(nominal, rel=1e-9)
    assert delivered.volume_ml == pytest.approx(
        nominal / program.concentration_mcg_per_ml, rel=1e-9
    )


@PROPERTY_SETTINGS
@given(
    dose=doses,
    conc=concentrations,
    volume=volumes,
    at=instants,
    buffer=st.floats(0, 30),
    program=flex_programs(),
    flex=st.booleans(),
)
def test_refill_due_never_after_alarm_minus_buffer_nor_stability_limit(
    dose, conc, volume, at, buffer, program, flex
):
    chosen = program if flex else SimpleProgram(concentration_mcg_per_ml=conc, daily_dose_mcg=dose)
    result = _project(
        ReservoirFill(
            filled_at=at, reservoir_volume_ml=volume, programs=chosen, timezone="Europe/London"
        ),
        buffer=buffer,
    )
    by_alarm = result.low_reservoir_alarm_at - timedelta(days=buffer)
    assert result.refill_due_at <= by_alarm
    assert result.refill_due_at <= at + timedelta(days=180)
    assert result.refill_due_at in (by_alarm, at + timedelta(days=180))
    assert result.low_reservoir_alarm_at <= result.empty_at


@PROPERTY_SETTINGS
@given(
    old=st.sampled_from([50.0, 500.0, 1000.0, 2000.0]),
    new=st.sampled_from([500.0, 1000.0, 2000.0]),
    dose=doses,
    dead=st.floats(0.01, 1.0),
)
def test_bridge_delivers_the_dead_volume_at_the_old_concentration_and_rate(old, new, dose, dead):
    change = concentration_change(
        old_concentration_mcg_per_ml=old,
        new_concentration_mcg_per_ml=new,
        daily_dose_mcg=dose,
        dead_volume_ml=dead,
    )
    assert change.bridge_required == (old != new)
    if change.bridge_bolus is None:
        return
    bridge = change.bridge_bolus
    assert bridge.volume_ml == pytest.approx(dead, rel=1e-12)
    assert bridge.drug_mcg == pytest.approx(dead * old, rel=1e-12)
    # the prescribed mcg/day continues during the bridge
    assert bridge.drug_mcg / (bridge.duration_hours / 24) == pytest.approx(dose, rel=1e-12)
    assert change.without_bridge.drug_mcg == pytest.approx(bridge.drug_mcg, rel=1e-12)


@PROPERTY_SETTINGS
@given(
    first=flex_programs(concentration=500.0),
    second_dose=doses,
    zone=st.sampled_from(DST_ZONES),
    at=instants,
    change_after_h=st.floats(1, 24 * 60),
    bolus_after_h=st.floats(0, 24 * 30),
    bolus_hours=st.sampled_from([0.0, 0.5, 5.2, 30.0]),
    replaces=st.booleans(),
    offsets_h=st.lists(st.floats(0, 24 * 200), min_size=2, max_size=30),
)
def test_projected_volume_never_increases(
    first, second_dose, zone, at, change_after_h, bolus_after_h, bolus_hours, replaces, offsets_h
):
    fill = ReservoirFill(
        filled_at=at,
        reservoir_volume_ml=20,
        programs=[
            ProgramChange(at - timedelta(days=3), first),
            ProgramChange(
                at + timedelta(hours=change_after_h),
                SimpleProgram(concentration_mcg_per_ml=500, daily_dose_mcg=second_dose),
            ),
        ],
        timezone=zone,
        boluses=[
            Bolus(
                start=at + timedelta(hours=bolus_after_h),
                volume_ml=0.3,
                duration_hours=bolus_hours,
                replaces_basal=replaces and bolus_hours > 0,
            )
        ],
    )
    timeline = ReservoirTimeline(fill)
    volumes_in_time = [timeline.volume_at(at + timedelta(hours=h)) for h in sorted(offsets_h)]
    assert all(b <= a + 1e-12 for a, b in zip(volumes_in_time, volumes_in_time[1:], strict=False))
    alarm = timeline.time_at_volume(2.0)
    # the alarm is the first instant at or below 2 mL (an instant bolus may jump past it)
    assert timeline.volume_at(alarm) <= 2.0 + 1e-6
    assert timeline.volume_at(alarm - timedelta(milliseconds=1)) >= 2.0 - 1e-6


def _reference_delivered_mcg(
    program: FlexProgram, zone: str, start: datetime, end: datetime
) -> float:
    """Brute force: resolve every step start of every local day with the documented rules."""
    events = []
    day = (start - timedelta(days=3)).date()
    while day <= (end + timedelta(days=3)).date():
        for index, step in enumerate(program.steps):
            instant = resolve_local_time(day=day, clock=step.start, timezone=zone)
            events.append((instant, day, index, step.rate_mcg_per_hour))
        day += timedelta(days=1)
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    total = 0.0
    for (instant, _, _, rate), following in zip(events, events[1:], strict=False):
        a, b = max(instant, start), min(following[0], end)
        if b > a:
            total += rate * (b - a).total_seconds() / 3600
    return total


@settings(max_examples=250, deadline=None)
@given(
    program=flex_programs(),
    zone=st.sampled_from(DST_ZONES + FLAT_ZONES),
    start=instants,
    hours=st.floats(0, 24 * 4),
)
def test_fast_dst_model_matches_step_by_step_reference(program, zone, start, hours):
    end = start + timedelta(hours=hours)
    fast = delivered_between(program=program, start=start, end=end, timezone=zone).dose_mcg
    assert fast == pytest.approx(_reference_delivered_mcg(program, zone, start, end), abs=1e-6)


@PROPERTY_SETTINGS
@given(dose=doses, conc=concentrations, volume=volumes, at=instants)
def test_constant_rate_fast_path_matches_general_timeline(dose, conc, volume, at):
    program = SimpleProgram(concentration_mcg_per_ml=conc, daily_dose_mcg=dose)
    fill = ReservoirFill(filled_at=at, reservoir_volume_ml=volume, programs=program)
    general = ReservoirFill(
        filled_at=at,
        reservoir_volume_ml=volume,
        programs=[
            ProgramChange(at - timedelta(days=1), program),
            ProgramChange(at + timedelta(days=9000), program),
        ],
    )
    assert abs(_project(fill).empty_at - _project(general).empty_at) <= timedelta(microseconds=1)


@PROPERTY_SETTINGS
@given(value=st.decimals(min_value="0.001", max_value="5000", places=3))
def test_mass_units_agree(value):
    mcg = parse_quantity(f"{value} mcg/day", field="daily_dose", canonical_unit="mcg/day")
    for text in (
        f"{value} µg/day",
        f"{value} ug/day",
        f"{value / 1000} mg/day",
        f"{value / 24} mcg/h",
    ):
        assert parse_quantity(text, field="daily_dose", canonical_unit="mcg/day") == pytest.approx(
            mcg, rel=1e-12
        )
