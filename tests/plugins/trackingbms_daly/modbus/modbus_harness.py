"""Shared helpers of the Modbus driver tests: simulators on ptys, drivers, and a pack-consistency check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from trackingbms_daly.modbus.driver import DalyModbusDriver
from trackingbms_daly.modbus.registration import BATTERY_SCHEMA
from trackingbms_daly.modbus.simulator import SIMULATOR_SCHEMA, DalyModbusSimulator, create

from hub.batteries import battery_config
from hub.reading import BatteryState, Reading
from hub.specs import DriverContext

Factory = Callable[..., Any]


@asynccontextmanager
async def simulator_factory(tmp_path: Path) -> AsyncIterator[Factory]:
    """Start simulators from ``simulators`` entries; all are stopped at the end."""
    started: list[DalyModbusSimulator] = []

    async def start(**options: Any) -> DalyModbusSimulator:
        entry = vol.Schema(SIMULATOR_SCHEMA)({"link": f"sim{len(started)}", "seed": 5, **options})
        simulator = create(entry, tmp_path)
        await simulator.start()
        started.append(simulator)
        return simulator

    try:
        yield start
    finally:
        for simulator in started:
            await simulator.stop()


def make_driver(port: str, *, context: DriverContext | None = None, **options: Any) -> DalyModbusDriver:
    """A driver for a validated ``daly_modbus`` battery entry."""
    entry = {"id": "pack", "driver": "daly_modbus", **vol.Schema(BATTERY_SCHEMA)({"port": port, **options})}
    return DalyModbusDriver(battery_config(entry), context or DriverContext(Path("/")))


async def read_once(driver: DalyModbusDriver) -> Reading:
    """Connect, poll once, close."""
    await driver.connect()
    try:
        return await driver.poll()
    finally:
        await driver.close()


def assert_matches_pack(reading: Reading, simulator: DalyModbusSimulator, board: int = 0) -> None:
    """The reading is one the simulated pack produced: cells, SOC, MOSFETs and the current's sign."""
    snap = simulator.devices[board].pack.snapshot()
    assert reading.cells == pytest.approx(snap.cell_voltages, abs=0.004)
    assert reading.soc == pytest.approx(snap.soc, abs=0.3)
    assert reading.voltage == pytest.approx(sum(reading.cells), abs=0.1)
    assert (reading.charge_mos, reading.discharge_mos) == (snap.charge_mos, snap.discharge_mos)
    assert reading.current is not None
    if abs(snap.current) > 1.5:
        assert (reading.current > 0) == (snap.current > 0)
        assert reading.state == (BatteryState.CHARGING if snap.current > 0 else BatteryState.DISCHARGING)
