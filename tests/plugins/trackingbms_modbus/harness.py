"""Shared helpers: a real pymodbus simulator serving a map, and drivers pointed at it."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import voluptuous as vol
from trackingbms_modbus.driver import ModbusDriver
from trackingbms_modbus.options import BATTERY_SCHEMA
from trackingbms_modbus.regmap.model import ARRAY_FIELDS, SCALAR_FIELDS
from trackingbms_modbus.simconfig import SIMULATOR_SCHEMA, create
from trackingbms_modbus.simulator import ModbusSimulator

from hub.reading import Reading
from hub.specs import BatteryConfig, DriverContext


@asynccontextmanager
async def simulator(tmp_path: Path, **options: Any) -> AsyncIterator[ModbusSimulator]:
    """A started simulator (TCP on a free local port unless ``link`` is given)."""
    sim = create(vol.Schema(SIMULATOR_SCHEMA)({"seed": 7, **options}), tmp_path)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def battery_entry(sim: ModbusSimulator, **options: Any) -> dict[str, Any]:
    """A validated battery entry for the simulator's map and link."""
    # A generous answer timeout: the simulator shares the test's event loop, which a loaded CI
    # machine can stall for a while; tests of timeouts set their own.
    entry: dict[str, Any] = {"map": sim.device.regmap.path, "timeout": 3.0, "retries": 1, **options}
    if sim.transport == "tcp":
        entry.setdefault("host", sim.host)
        entry.setdefault("port", sim.port)
    else:
        entry.setdefault("port", sim.link)
    result: dict[str, Any] = vol.Schema(BATTERY_SCHEMA)(entry)
    return result


def make_driver(entry: dict[str, Any], context: DriverContext, battery_id: str = "b1") -> ModbusDriver:
    """A driver for a validated entry."""
    return ModbusDriver(BatteryConfig(battery_id, battery_id, "modbus", 1.0, entry), context)


def assert_round_trip(reading: Reading, sim: ModbusSimulator, slave_index: int = 0) -> None:
    """Every field the map fills equals what the simulator encoded, within the entry's scale."""
    device = sim.devices[slave_index]
    regmap = device.regmap
    snapshot = device.snapshot
    assert snapshot is not None
    for register in regmap.registers:
        if register.target is None:
            continue
        expected = device.values[register.name]
        tolerance = abs(register.scale) / 2 + 1e-6
        field = register.target.field
        if field in SCALAR_FIELDS:
            sign = -1.0 if regmap.current_sign == "discharge_positive" and field in ("current", "power") else 1.0
            _close(getattr(reading, field), sign * expected, tolerance, register.name)
        elif field == "cells":
            in_use = expected[: len(snapshot.cell_voltages) - register.target.start + 1]
            got = reading.cells[register.target.start - 1 : register.target.start - 1 + len(in_use)]
            assert len(got) == len(in_use), register.name
            for value, want in zip(got, in_use, strict=True):
                _close(value, want, tolerance, register.name)
        elif field in ARRAY_FIELDS:
            kinds = [t for t in reading.temperatures if t.kind == register.kind]
            for want in (v for v in expected if v is not None):
                assert any(math.isclose(t.value, want, abs_tol=tolerance) for t in kinds), (register.name, want)
    assert len(reading.cells) == len(snapshot.cell_voltages) or not any(
        r.target is not None and r.target.field == "cells" for r in regmap.registers
    )


def _close(got: Any, want: Any, tolerance: float, name: str) -> None:
    assert got is not None, name
    assert math.isclose(float(got), float(want), abs_tol=tolerance), (name, got, want)
