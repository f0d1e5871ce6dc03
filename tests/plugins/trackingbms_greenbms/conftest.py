"""Fixtures: Green-BMS simulators on real pseudo-terminals and drivers reading them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from trackingbms_greenbms.driver import GreenBmsDriver
from trackingbms_greenbms.plugin import BATTERY_SCHEMA
from trackingbms_greenbms.simulator import SIMULATOR_SCHEMA, GreenBmsSimulator, create

from hub.batteries import battery_config
from hub.specs import DriverContext

SimulatorFactory = Callable[..., Awaitable[GreenBmsSimulator]]
DriverFactory = Callable[..., GreenBmsDriver]
# Fast clocks so tests do not wait out the firmware's 400 ms lines and 15 s keep-alive window.
FAST = {"line_interval": 0.02, "heartbeat_interval": 0.25, "keepalive_timeout": 5.0}


@pytest.fixture
async def simulators(tmp_path: Path) -> AsyncIterator[SimulatorFactory]:
    """Start simulators (seeded, fast clocks unless overridden); all are stopped at the end."""
    started: list[GreenBmsSimulator] = []

    async def start(**options: Any) -> GreenBmsSimulator:
        entry = vol.Schema(SIMULATOR_SCHEMA)({"link": f"sim{len(started)}", "seed": 7, **FAST, **options})
        simulator = create(entry, tmp_path)
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.stop()


@pytest.fixture
async def drivers(tmp_path: Path) -> AsyncIterator[DriverFactory]:
    """Drivers on a port (short timeout); all are closed at the end."""
    made: list[GreenBmsDriver] = []

    def make(port: str, **options: Any) -> GreenBmsDriver:
        validated = vol.Schema(BATTERY_SCHEMA)({"port": port, "timeout": 1.0, **options})
        driver = GreenBmsDriver(
            battery_config({"id": "pack", "driver": "greenbms", **validated}), DriverContext(tmp_path)
        )
        made.append(driver)
        return driver

    yield make
    for driver in made:
        await driver.close()
