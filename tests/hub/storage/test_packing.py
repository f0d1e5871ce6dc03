"""Tests for packing readings into scaled-integer rows and back."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hub.reading import Alarm, AlarmLevel, BatteryState, Reading, Temperature, TemperatureKind
from hub.storage.packing import (
    COLUMNS,
    from_row,
    pack_batch,
    pack_cells,
    pack_rows,
    pack_temperatures,
    to_row,
    unpack_cells,
    unpack_temperatures,
)
from hub.storage.rollups import sample_from_columns

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def on_grid(low: int, high: int, scale: int) -> st.SearchStrategy[float]:
    """Values exactly representable at a storage scale (e.g. 10 mV steps for scale 100)."""
    return st.integers(low, high).map(lambda n: n / scale)


def maybe(strategy: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
    return st.none() | strategy


# Whole milliseconds between 2000 and 2100: the ts column's resolution.
timestamps = st.integers(946_684_800_000, 4_102_444_800_000).map(lambda ms: EPOCH + timedelta(milliseconds=ms))


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    temps = draw(st.lists(st.tuples(on_grid(-400, 1500, 10), st.sampled_from(TemperatureKind)), max_size=16))
    return Reading(
        battery_id="pack",
        timestamp=draw(timestamps),
        voltage=draw(maybe(on_grid(0, 200_000, 100))),
        current=draw(maybe(on_grid(-1_000_000, 1_000_000, 100))),
        power=draw(maybe(on_grid(-10_000_000, 10_000_000, 10))),
        soc=draw(maybe(on_grid(0, 1000, 10))),
        soh=draw(maybe(on_grid(0, 1000, 10))),
        cells=tuple(draw(st.lists(on_grid(0, 65_535, 1000), max_size=48))),
        temperatures=tuple(Temperature(v, kind, i + 1) for i, (v, kind) in enumerate(temps)),
        charge_mos=draw(st.none() | st.booleans()),
        discharge_mos=draw(st.none() | st.booleans()),
        balancing=tuple(draw(st.lists(st.integers(1, 48), max_size=48))),
        state=draw(st.none() | st.sampled_from(BatteryState)),
        cycles=draw(st.none() | st.integers(0, 2**31)),
        remaining_capacity_ah=draw(maybe(on_grid(0, 10_000_000, 1000))),
        rated_capacity_ah=draw(maybe(on_grid(0, 10_000_000, 1000))),
        alarms=tuple(draw(st.lists(st.builds(Alarm, st.text(), st.text(), st.sampled_from(AlarmLevel)), max_size=5))),
    )


# float seconds * 1000 of this time is 1088485130132.9999: it must still be stored as ...133.
AWKWARD_MILLISECOND = EPOCH + timedelta(milliseconds=1_088_485_130_133)


@given(readings())
@example(Reading("pack", timestamp=AWKWARD_MILLISECOND))
def test_round_trip_within_documented_scales(reading: Reading) -> None:
    row = to_row(reading)
    assert len(row) == len(COLUMNS)
    # Derived values are not stored; they are recomputed when a row is read back.
    assert from_row("pack", row) == reading.with_derived()


@given(readings())
@example(Reading("pack", timestamp=AWKWARD_MILLISECOND))
def test_row_values_fit_sqlite_columns(reading: Reading) -> None:
    row = to_row(reading)
    ts = row[0]
    assert ts == (reading.timestamp - EPOCH) // timedelta(milliseconds=1)
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE TABLE r ({', '.join(COLUMNS)})")
    db.execute(f"INSERT INTO r VALUES ({', '.join('?' * len(COLUMNS))})", row)
    assert from_row("pack", db.execute("SELECT * FROM r").fetchone()) == reading.with_derived()


@given(
    st.floats(0, 2000, allow_nan=False),
    st.floats(-10_000, 10_000, allow_nan=False),
    st.floats(0, 100, allow_nan=False),
    st.floats(0, 65.535, allow_nan=False),
    st.floats(-40, 150, allow_nan=False),
)
def test_off_grid_values_round_to_the_nearest_step(
    voltage: float, current: float, soc: float, cell: float, temperature: float
) -> None:
    reading = Reading(
        "pack",
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        voltage=voltage,
        current=current,
        soc=soc,
        cells=(cell,),
        temperatures=(Temperature(temperature),),
    )
    back = from_row("pack", to_row(reading))
    assert back.voltage == pytest.approx(voltage, abs=0.005 + 1e-9)  # 10 mV
    assert back.current == pytest.approx(current, abs=0.005 + 1e-9)  # 10 mA
    assert back.soc == pytest.approx(soc, abs=0.05 + 1e-9)  # 0.1 %
    assert back.cells[0] == pytest.approx(cell, abs=0.0005 + 1e-9)  # 1 mV
    assert back.temperatures[0].value == pytest.approx(temperature, abs=0.05 + 1e-9)  # 0.1 °C


def test_sub_millisecond_time_is_truncated_to_the_millisecond() -> None:
    reading = Reading("pack", timestamp=datetime(2024, 5, 1, 12, 0, 0, 123_999, tzinfo=UTC))
    assert from_row("pack", to_row(reading)).timestamp == datetime(2024, 5, 1, 12, 0, 0, 123_000, tzinfo=UTC)


def test_absent_values_stay_absent() -> None:
    reading = Reading("pack", timestamp=datetime(2024, 1, 1, tzinfo=UTC))
    row = to_row(reading)
    assert row[1:] == (None, None, None, None, None, 0, None, None, None, None, None, None, None)
    assert from_row("pack", row) == reading


def test_cells_are_uint16_millivolts_clamped() -> None:
    blob = pack_cells((3.3, 0.0, 70.0, -1.0))
    assert blob is not None
    assert len(blob) == 8
    assert unpack_cells(blob) == (3.3, 0.0, 65.535, 0.0)
    assert pack_cells(()) is None
    assert unpack_cells(None) == ()


def test_temperature_sensor_numbers_survive_absent_sensors() -> None:
    # Sensor 2 is absent (raw 0 on a Daly, daly.md §1.4): sensor 3 must stay sensor 3.
    temps = (Temperature(-12.3, TemperatureKind.CELL, 1), Temperature(45.6, TemperatureKind.MOS, 3))
    blob = pack_temperatures(temps)
    assert blob is not None
    assert len(blob) == 8
    assert unpack_temperatures(blob) == temps
    assert pack_temperatures(()) is None


def test_alarms_are_stored_as_json() -> None:
    reading = Reading(
        "pack",
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        alarms=(Alarm("cell_high", "Cell voltage high", AlarmLevel.ALARM),),
    )
    row = to_row(reading)
    assert json.loads(row[COLUMNS.index("alarms")]) == [["cell_high", "Cell voltage high", "alarm"]]
    assert from_row("pack", row).alarms == reading.alarms


def off_grid_readings(battery_ids: list[str]) -> st.SearchStrategy[Reading]:
    """Readings as drivers give them: any floats (NaN, out of range), cells to be clamped, any sensor count."""
    number = st.none() | st.floats(-1e6, 1e6) | st.sampled_from([float("nan"), float("inf")])
    temps = st.lists(st.builds(Temperature, st.floats(-4000, 4000), st.sampled_from(TemperatureKind)), max_size=20)
    return st.builds(
        Reading,
        st.sampled_from(battery_ids),
        timestamp=st.integers(0, 40).map(lambda s: EPOCH + timedelta(seconds=s, microseconds=7)),
        voltage=number,
        current=number,
        power=number,
        soc=number,
        cells=st.lists(st.floats(-1, 70), max_size=70).map(tuple),
        temperatures=temps.map(tuple),
        state=st.none() | st.sampled_from(BatteryState),
    )


@given(st.lists(off_grid_readings(["a", "b", "gone"]), max_size=30))
def test_batch_packing_equals_rows_and_samples_one_by_one(batch: list[Reading]) -> None:
    # The writer's one-pass packing must store exactly what to_row stores and roll up exactly
    # what the stored columns give (sample_from_columns), whatever a driver sends.
    pks = {"a": 1, "b": 2}
    rows, metrics, unknown = pack_batch(batch, pks)
    expected = pack_rows("t", batch)
    assert rows == [(pks[r[1]], *r[2:]) for r in expected if r[1] in pks]
    assert unknown == [r[1] for r in expected if r[1] not in pks]
    samples: dict[int, dict[int, tuple[float | None, ...]]] = {}
    for r in expected:
        if r[1] in pks:  # of two readings with the same stored time the later wins, as INSERT OR REPLACE
            samples.setdefault(pks[r[1]], {})[r[2]] = sample_from_columns(*r[2:7], r[12], r[13]).values
    assert metrics == samples
