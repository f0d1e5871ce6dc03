"""Tests for the normalized reading: derived values, states and the JSON-ready form."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.reading import (
    Alarm,
    AlarmLevel,
    BatteryState,
    CellExtreme,
    Reading,
    Temperature,
    TemperatureKind,
    state_from_current,
)

NOW = datetime(2024, 6, 1, 12, 30, 15, 250000, tzinfo=UTC)


def test_with_derived_fills_power_extremes_delta_and_state() -> None:
    reading = Reading("pack", timestamp=NOW, voltage=52.0, current=-10.5, cells=(3.30, 3.28, 3.35, 3.28)).with_derived()
    assert reading.power == pytest.approx(-546.0)
    assert reading.cell_min == CellExtreme(3.28, 2)  # 1-based, first of equal cells
    assert reading.cell_max == CellExtreme(3.35, 3)
    assert reading.cell_delta == pytest.approx(0.07)
    assert reading.state == BatteryState.DISCHARGING


def test_single_cell_is_both_extremes_with_zero_delta() -> None:
    reading = Reading("pack", cells=(3.2,)).with_derived()
    assert reading.cell_min == reading.cell_max == CellExtreme(3.2, 1)
    assert reading.cell_delta == 0


def test_with_derived_keeps_what_the_driver_reported() -> None:
    reported = Reading(
        "pack",
        voltage=52.0,
        current=10.0,
        power=500.0,
        cells=(3.30, 3.20),
        cell_min=CellExtreme(3.19, 9),
        cell_max=CellExtreme(3.31, 7),
        cell_delta=0.12,
        state=BatteryState.IDLE,
    )
    assert reported.with_derived() == reported


@pytest.mark.parametrize(
    ("current", "state"),
    [
        (50.0, BatteryState.CHARGING),
        (0.21, BatteryState.CHARGING),
        (0.2, BatteryState.IDLE),
        (0.0, BatteryState.IDLE),
        (-0.2, BatteryState.IDLE),
        (-0.21, BatteryState.DISCHARGING),
        (-80.0, BatteryState.DISCHARGING),
    ],
)
def test_state_follows_current_sign_with_an_idle_band(current: float, state: BatteryState) -> None:
    assert state_from_current(current) == state
    assert Reading("pack", current=current).with_derived().state == state


def test_absent_values_stay_none() -> None:
    bare = Reading("pack", timestamp=NOW)
    derived = bare.with_derived()
    assert derived == bare
    assert (derived.power, derived.state, derived.cell_min, derived.cell_max, derived.cell_delta) == (
        None,
        None,
        None,
        None,
        None,
    )
    # Power needs both voltage and current; nothing is invented from one of them.
    assert Reading("pack", voltage=52.0).with_derived().power is None
    assert Reading("pack", current=3.0).with_derived().power is None
    as_dict = bare.to_dict()
    for key in ("voltage", "current", "power", "soc", "soh", "cell_min", "cell_max", "state", "cycles"):
        assert as_dict[key] is None, key
    assert Reading.from_dict(as_dict) == bare


def test_to_dict_uses_design_field_names_and_utc_z() -> None:
    reading = Reading(
        "pack",
        timestamp=NOW,
        voltage=53.1,
        current=2.5,
        temperatures=(Temperature(24.5, TemperatureKind.MOS, 2),),
        alarms=(Alarm("cell_overvoltage_l1", "Cell voltage high", AlarmLevel.WARNING),),
    ).with_derived()
    data = json.loads(json.dumps(reading.to_dict()))
    assert data["timestamp"] == "2024-06-01T12:30:15.250000Z"
    assert data["state"] == "charging"
    assert data["temperatures"] == [{"value": 24.5, "kind": "mos", "sensor": 2}]
    assert data["alarms"] == [{"code": "cell_overvoltage_l1", "text": "Cell voltage high", "level": "warning"}]


_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
_maybe_float = st.none() | _floats


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    cells = tuple(draw(st.lists(st.floats(0, 5, allow_nan=False), max_size=24)))
    extremes = st.none() | st.builds(CellExtreme, _floats, st.integers(1, 48))
    return Reading(
        battery_id=draw(st.text(min_size=1, max_size=20)),
        timestamp=draw(st.datetimes(timezones=st.just(UTC))),
        voltage=draw(_maybe_float),
        current=draw(_maybe_float),
        power=draw(_maybe_float),
        soc=draw(_maybe_float),
        soh=draw(_maybe_float),
        cells=cells,
        temperatures=tuple(
            draw(
                st.lists(
                    st.builds(Temperature, _floats, st.sampled_from(TemperatureKind), st.integers(1, 16)),
                    max_size=8,
                )
            )
        ),
        cell_min=draw(extremes),
        cell_max=draw(extremes),
        cell_delta=draw(_maybe_float),
        charge_mos=draw(st.none() | st.booleans()),
        discharge_mos=draw(st.none() | st.booleans()),
        balancing=tuple(draw(st.lists(st.integers(1, 48), max_size=4))),
        state=draw(st.none() | st.sampled_from(BatteryState)),
        cycles=draw(st.none() | st.integers(0, 100_000)),
        remaining_capacity_ah=draw(_maybe_float),
        rated_capacity_ah=draw(_maybe_float),
        alarms=tuple(draw(st.lists(st.builds(Alarm, st.text(), st.text(), st.sampled_from(AlarmLevel)), max_size=4))),
    )


@given(readings())
def test_to_dict_from_dict_round_trip(reading: Reading) -> None:
    assert Reading.from_dict(reading.to_dict()) == reading


@given(readings())
def test_round_trip_survives_json(reading: Reading) -> None:
    assert Reading.from_dict(json.loads(json.dumps(reading.to_dict()))) == reading


def test_replace_returns_a_changed_copy() -> None:
    original = Reading("pack", voltage=50.0)
    changed = original.replace(battery_id="other")
    assert (original.battery_id, changed.battery_id, changed.voltage) == ("pack", "other", 50.0)


@given(readings())
def test_the_derived_copy_is_the_reading_a_constructor_builds(reading: Reading) -> None:
    # The derived copy must equal, hash and freeze like any Reading built by its constructor.
    derived = reading.with_derived()
    expected = dataclasses.replace(
        reading,
        power=derived.power,
        state=derived.state,
        cell_min=derived.cell_min,
        cell_max=derived.cell_max,
        cell_delta=derived.cell_delta,
    )
    assert type(derived) is Reading
    assert [getattr(derived, f.name) for f in dataclasses.fields(Reading)] == [
        getattr(expected, f.name) for f in dataclasses.fields(Reading)
    ]
    assert derived == expected and hash(derived) == hash(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        derived.power = 1.0  # type: ignore[misc]
