"""Human-readable description of any A5 frame for the ``decode`` CLI (daly.md §1.3-§1.6)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from trackingbms_daly.a5.alarms import decode_failures
from trackingbms_daly.a5.codec import (
    CELL_EXTREMES,
    COMMAND_NAMES,
    MAX_CELLS,
    MOSFET_STATUS,
    PACK_STATUS,
    STATUS_INFO,
    TEMPERATURE_EXTREMES,
    assemble_temperatures,
    decode_balancing,
    decode_cell_extremes,
    decode_cell_frame,
    decode_mosfet_status,
    decode_pack_status,
    decode_rated_capacity,
    decode_status_info,
    decode_temperature_extremes,
    decode_temperature_frame,
)
from trackingbms_daly.a5.framing import A5Frame, Table
from trackingbms_daly.errors import DalyProtocolError

__all__ = ["decode_frame"]

# Host addresses of [V1.0]/[V1.2] (0x20, 0x40, 0x80) plus the multi-drop range 0x40-0x4F
# (mr-manuel docs, daly.md §1.3); board answers carry the board number 0x01-0x10 instead.
_HOST_ADDRESSES = frozenset({0x20, 0x80, *range(0x40, 0x50)})
_Described = dict[str, tuple[Any, str | None]]


def _describe(obj: Any, table: Table) -> _Described:
    units = {f.name: f.unit for f in table}
    return {f.name: (getattr(obj, f.name), units.get(f.name)) for f in dataclasses.fields(obj)}


def _describe_text(data: bytes) -> _Described:
    # 0x63 answers are [frame#, 7 ASCII] (mpp-solar #113).
    return {"frame": (data[0], None), "text": (data[1:].decode("ascii", "replace"), None)}


def _describe_cells(data: bytes) -> _Described:
    number, cells = decode_cell_frame(data)
    return {"frame": (number, None), "cells": (cells, "mV")}


def _describe_temperatures(data: bytes) -> _Described:
    number, raws = decode_temperature_frame(data)
    return {"frame": (number, None), "temperatures": (assemble_temperatures({1: raws}, 7), "°C")}


def _describe_alarms(data: bytes) -> _Described:
    alarms = [{"code": a.code, "text": a.text, "level": a.level.value} for a in decode_failures(data)]
    return {"alarms": (alarms, None)}


def _describe_capacity(data: bytes) -> _Described:
    capacity, cell_voltage = decode_rated_capacity(data)
    return {"rated_capacity": (capacity, "Ah"), "nominal_cell_voltage": (cell_voltage, "V")}


_DESCRIBERS: dict[int, Callable[[bytes], _Described]] = {
    0x90: lambda d: _describe(decode_pack_status(d), PACK_STATUS),
    0x91: lambda d: _describe(decode_cell_extremes(d), CELL_EXTREMES),
    0x92: lambda d: _describe(decode_temperature_extremes(d), TEMPERATURE_EXTREMES),
    0x93: lambda d: _describe(decode_mosfet_status(d), MOSFET_STATUS),
    0x94: lambda d: _describe(decode_status_info(d), STATUS_INFO),
    0x95: _describe_cells,
    0x96: _describe_temperatures,
    0x97: lambda d: {"balancing": (decode_balancing(d, MAX_CELLS), None)},
    0x98: _describe_alarms,
    0x50: _describe_capacity,
    0x63: _describe_text,
    # Write answers echo the requested state in d0; d1-d7 are stale (python-daly-bms #3).
    0xD9: lambda d: {"on": (bool(d[0]), None)},
    0xDA: lambda d: {"on": (bool(d[0]), None)},
    0x21: lambda d: {"result": (d[0], None)},  # mr-manuel treats d0 == 1 as success
}


def decode_frame(frame: A5Frame) -> dict[str, object]:
    """Describe any A5 frame as JSON-ready data for the ``decode`` CLI; never raises."""
    request = frame.address in _HOST_ADDRESSES
    result: dict[str, object] = {
        "family": "a5",
        "direction": "request" if request else "response",
        "address": f"0x{frame.address:02X}",
        "data_id": f"0x{frame.data_id:02X}",
        "command": COMMAND_NAMES.get(frame.data_id, "unknown"),
        "data": frame.data.hex(" ").upper(),
        "fields": {},
    }
    describe = None if request else _DESCRIBERS.get(frame.data_id)
    if describe is not None:
        try:
            described = describe(frame.data)
        except DalyProtocolError as exc:
            result["error"] = str(exc)
        else:
            result["fields"] = {k: {"value": _plain(v), "unit": u} for k, (v, u) in described.items()}
    return result


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
