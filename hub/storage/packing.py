"""Packs a Reading into one compact row of scaled integers, and back."""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.reading import Alarm, AlarmLevel, BatteryState, Reading, Temperature, TemperatureKind

_LOGGER = logging.getLogger(__name__)
_KINDS = list(TemperatureKind)
_KIND_INDEX = {kind: i for i, kind in enumerate(_KINDS)}
_STATES = [None, *BatteryState]
_STATE_INDEX = {state: i for i, state in enumerate(_STATES)}
_TEMP = struct.Struct("<hBB")  # 0.1 °C, kind, 1-based sensor number
_CELL_STRUCTS = {n: struct.Struct(f"<{n}H") for n in range(1, 65)}  # built once, not per reading
_TEMP_STRUCTS = {n: struct.Struct("<" + "hBB" * n) for n in range(1, 17)}  # n sensors in one call

# Column order of the readings table after battery_pk.
COLUMNS = (
    "ts",
    "voltage",
    "current",
    "power",
    "soc",
    "soh",
    "flags",
    "cycles",
    "remaining_mah",
    "rated_mah",
    "cells",
    "temps",
    "balancing",
    "alarms",
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def to_millis(moment: datetime) -> int:
    """Whole milliseconds since the epoch, exactly (float seconds * 1000 can land 1 ms short)."""
    if moment.tzinfo is None:
        moment = moment.astimezone(UTC)  # naive means local time, as datetime.timestamp() reads it
    return (moment - _EPOCH) // _MILLISECOND


def _unscaled(value: int | None, scale: float) -> float | None:
    return None if value is None else value / scale


def _index(found: dict[Any, int], values: list[Any], value: Any) -> int:
    """Position of value in values: a dict lookup first (hot path), list.index for anything else
    equal to a member (a plain string), so an unknown value still raises ValueError."""
    index = found.get(value)
    return values.index(value) if index is None else index


def _flags(reading: Reading) -> int:
    # bits 0-1 charge MOS (0 unknown, 2 off, 3 on), bits 2-3 discharge MOS, bits 4-5 state index.
    charge, discharge = reading.charge_mos, reading.discharge_mos
    state = _STATE_INDEX.get(reading.state)
    return (
        (0 if charge is None else (3 if charge else 2))
        | (0 if discharge is None else (3 if discharge else 2)) << 2
        | (_STATES.index(reading.state) if state is None else state) << 4
    )


def _unflags(flags: int) -> tuple[bool | None, bool | None, BatteryState | None]:
    def untri(bits: int) -> bool | None:
        return None if bits == 0 else bits == 3

    return untri(flags & 3), untri(flags >> 2 & 3), _STATES[flags >> 4 & 3]


def pack_cells(cells: tuple[float, ...]) -> bytes | None:
    """Cell voltages as little-endian uint16 millivolts."""
    if not cells:
        return None
    millivolts = [round(v * 1000) for v in cells]
    packer = _CELL_STRUCTS.get(len(millivolts)) or struct.Struct(f"<{len(millivolts)}H")
    try:
        return packer.pack(*millivolts)
    except struct.error:  # rare: a value outside 0..65.535 V is clamped (checked only then: hot path)
        return packer.pack(*(min(65535, max(0, mv)) for mv in millivolts))


def cell_millivolts(blob: bytes | None) -> tuple[int, ...]:
    """The packed cell voltages as integer millivolts (what rollups reduce, without floats)."""
    if not blob:
        return ()
    count = len(blob) // 2
    return (_CELL_STRUCTS.get(count) or struct.Struct(f"<{count}H")).unpack(blob)


def temperature_tenths(blob: bytes | None) -> list[int]:
    """The packed temperatures as integer tenths of °C."""
    return [value for value, _, _ in _TEMP.iter_unpack(blob)] if blob else []


def unpack_cells(blob: bytes | None) -> tuple[float, ...]:
    """Inverse of :func:`pack_cells`."""
    if not blob:
        return ()
    return tuple(mv / 1000 for mv in cell_millivolts(blob))


def pack_temperatures(temps: tuple[Temperature, ...]) -> bytes | None:
    """Each sensor as int16 tenths of °C, a kind byte and its sensor number (absent ones leave gaps)."""
    if not temps:
        return None
    return b"".join([_TEMP.pack(round(t.value * 10), _index(_KIND_INDEX, _KINDS, t.kind), t.sensor) for t in temps])


def unpack_temperatures(blob: bytes | None) -> tuple[Temperature, ...]:
    """Inverse of :func:`pack_temperatures`."""
    if not blob:
        return ()
    return tuple(Temperature(value / 10, _KINDS[kind], sensor) for value, kind, sensor in _TEMP.iter_unpack(blob))


def to_row(reading: Reading) -> tuple[Any, ...]:
    """The column values of a reading, in COLUMNS order (the writer's own packing, without a pk)."""
    return _packed(reading, None)[0][1:]


def from_row(battery_id: str, row: tuple[Any, ...]) -> Reading:
    """Rebuild a reading (derived values recomputed) from its columns in COLUMNS order."""
    ts, voltage, current, power, soc, soh, flags, cycles, remaining, rated, cells, temps, bal, alarms = row
    charge_mos, discharge_mos, state = _unflags(flags or 0)
    return Reading(
        battery_id=battery_id,
        timestamp=datetime.fromtimestamp(ts / 1000, UTC),
        voltage=_unscaled(voltage, 100),
        current=_unscaled(current, 100),
        power=_unscaled(power, 10),
        soc=_unscaled(soc, 10),
        soh=_unscaled(soh, 10),
        cells=unpack_cells(cells),
        temperatures=unpack_temperatures(temps),
        charge_mos=charge_mos,
        discharge_mos=discharge_mos,
        balancing=tuple(bal) if bal else (),
        state=state,
        cycles=cycles,
        remaining_capacity_ah=_unscaled(remaining, 1000),
        rated_capacity_ah=_unscaled(rated, 1000),
        alarms=tuple(Alarm(c, t, AlarmLevel(lv)) for c, t, lv in json.loads(alarms)) if alarms else (),
    ).with_derived()


def pack_rows(tenant_id: str, readings: Sequence[Reading]) -> list[tuple[Any, ...]]:
    """Rows for a batch; a reading that cannot be packed is logged and left out, not the batch."""
    rows = []
    for reading in readings:
        try:
            rows.append((tenant_id, reading.battery_id, *to_row(reading)))
        except _UNPACKABLE as err:
            _dropped(reading, err)
    return rows


def _dropped(reading: Reading, err: Exception) -> None:
    _LOGGER.error(
        "Reading of %s at %s cannot be stored and is dropped: %s",
        reading.battery_id,
        reading.timestamp.isoformat(),
        err,
    )


_UNPACKABLE = (ValueError, OverflowError, struct.error, TypeError)
# The rollup metrics of a packed row (rollups.METRICS order), computed from the stored integers.
Metrics = tuple[float | None, ...]


def pack_batch(
    readings: Sequence[Reading], pks: dict[str, int], fits: Callable[[tuple[Any, ...]], bool] | None = None
) -> tuple[list[tuple[Any, ...]], dict[int, dict[int, Metrics]], list[str]]:
    """The writer's hot path, one call per batch: rows ``(battery_pk, *COLUMNS)`` for the insert,
    each battery's rollup metrics by stored time (of two readings with the same time the later
    wins, as INSERT OR REPLACE does), and the ids of packed readings with no pk in ``pks``.

    Rows and metrics equal ``pack_rows`` and ``rollups.sample_from_columns`` of its rows; a
    reading that cannot be packed, or whose row ``fits`` refuses (a backend's narrower columns),
    is logged and left out, as there.
    """
    rows: list[tuple[Any, ...]] = []
    metrics: dict[int, dict[int, Metrics]] = {}
    unknown: list[str] = []
    for reading in readings:
        pk = pks.get(reading.battery_id)
        try:
            row, values = _packed(reading, pk)
        except _UNPACKABLE as err:
            _dropped(reading, err)
            continue
        if fits is not None and not fits(row):
            _dropped(reading, ValueError("it holds a value out of range for the database's columns"))
            continue
        if pk is None:
            unknown.append(reading.battery_id)
            continue
        rows.append(row)
        found = metrics.get(pk)
        if found is None:
            found = metrics[pk] = {}
        found[row[1]] = values
    return rows, metrics, unknown


def _packed(reading: Reading, pk: int | None) -> tuple[tuple[Any, ...], Metrics]:
    """``(pk, *to_row(reading))`` and the row's rollup metrics in one pass (values as stored)."""
    voltage, current, power, soc, soh = reading.voltage, reading.current, reading.power, reading.soc, reading.soh
    volts = None if voltage is None else round(voltage * 100)
    amps = None if current is None else round(current * 100)
    watts = None if power is None else round(power * 10)
    cells, low, high = _cells(reading.cells)
    temps, hottest = _temperatures(reading.temperatures)
    remaining, rated = reading.remaining_capacity_ah, reading.rated_capacity_ah
    moment = reading.timestamp
    row = (
        pk,
        (moment - _EPOCH) // _MILLISECOND if moment.tzinfo is not None else to_millis(moment),
        volts,
        amps,
        watts,
        None if soc is None else round(soc * 10),
        None if soh is None else round(soh * 10),
        _flags(reading),
        reading.cycles,
        None if remaining is None else round(remaining * 1000),
        None if rated is None else round(rated * 1000),
        cells,
        temps,
        bytes(reading.balancing) if reading.balancing else None,
        json.dumps([[a.code, a.text, a.level.value] for a in reading.alarms]) if reading.alarms else None,
    )
    v = None if volts is None else volts / 100
    a = None if amps is None else amps / 100
    w = watts / 10 if watts is not None else (None if v is None or a is None else round(v * a, 3))
    delta = None if low is None or high is None else round(high - low, 4)
    return row, (v, a, w, None if row[5] is None else row[5] / 10, low, high, delta, hottest)


def _cells(cells: tuple[float, ...]) -> tuple[bytes | None, float | None, float | None]:
    """``pack_cells`` with the lowest and highest stored cell voltage (V)."""
    if not cells:
        return None, None, None
    millivolts = [round(v * 1000) for v in cells]
    packer = _CELL_STRUCTS.get(len(millivolts)) or struct.Struct(f"<{len(millivolts)}H")
    try:
        blob = packer.pack(*millivolts)
    except struct.error:  # as pack_cells: clamped only when a value does not fit
        millivolts = [min(65535, max(0, mv)) for mv in millivolts]
        blob = packer.pack(*millivolts)
    return blob, min(millivolts) / 1000, max(millivolts) / 1000


def _temperatures(temps: tuple[Temperature, ...]) -> tuple[bytes | None, float | None]:
    """``pack_temperatures`` with the highest stored temperature (°C)."""
    if not temps:
        return None, None
    packer = _TEMP_STRUCTS.get(len(temps))
    if packer is None:
        tenths = [round(t.value * 10) for t in temps]
        return pack_temperatures(temps), max(tenths) / 10
    flat: list[int] = []
    for t in temps:
        kind = _KIND_INDEX.get(t.kind)
        flat += (round(t.value * 10), _KINDS.index(t.kind) if kind is None else kind, t.sensor)
    # One struct of n sensors gives the same bytes as n joined _TEMP packs (no padding with "<").
    return packer.pack(*flat), max(flat[0::3]) / 10
