"""Shared helpers of the ThingSet tests: fixture files, simulators and drivers built from config entries."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import voluptuous as vol
from trackingbms_thingset import registration as reg
from trackingbms_thingset.can.driver import ThingSetCanDriver
from trackingbms_thingset.can.simulator import ThingSetCanSimulator
from trackingbms_thingset.serial_driver import ThingSetSerialDriver
from trackingbms_thingset.simulator import ThingSetSimulator

from hub.batteries import battery_config
from hub.specs import DriverContext

# Copies of /work/shared/fixtures/thingset (see its README for sources and licences).
FIXTURES = Path(__file__).parents[2] / "fixtures" / "thingset"
Factory = Callable[..., Any]
_channels = itertools.count()


def fixture(name: str) -> Any:
    """One fixture file, parsed."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def generated(name: str) -> dict[str, Any]:
    """One example of generated_examples.json by name (the first of that name)."""
    return next(e for e in fixture("generated_examples.json")["examples"] if e["name"] == name)


def new_channel() -> str:
    """A virtual CAN channel no other test uses (virtual buses are process-wide)."""
    return f"thingset-test-{next(_channels)}"


@asynccontextmanager
async def serial_bench(tmp_path: Path) -> AsyncIterator[tuple[Factory, Factory]]:
    """(start a simulator, make a connected driver); everything is stopped at the end."""
    simulators: list[ThingSetSimulator] = []
    drivers: list[ThingSetSerialDriver] = []

    async def simulator(**options: Any) -> ThingSetSimulator:
        entry = vol.Schema(reg.SIMULATOR_SCHEMA)({"link": f"sim{len(simulators)}", "seed": 3, **options})
        sim = reg.create_simulator(entry, tmp_path)
        await sim.start()
        simulators.append(sim)
        return sim

    async def driver(port: str, **options: Any) -> ThingSetSerialDriver:
        entry = {
            "id": f"pack{len(drivers)}",
            "driver": "thingset",
            **vol.Schema(reg.BATTERY_SCHEMA)({"port": port, **options}),
        }
        made = reg.create_driver(battery_config(entry), DriverContext(tmp_path))
        await made.connect()
        drivers.append(made)
        return made

    try:
        yield simulator, driver
    finally:
        for made in drivers:
            await made.close()
        for sim in simulators:
            await sim.stop()


@asynccontextmanager
async def can_bench(tmp_path: Path) -> AsyncIterator[tuple[Factory, Factory, str]]:
    """(start a CAN simulator, make a connected CAN driver, the virtual channel)."""
    channel = new_channel()
    simulators: list[ThingSetCanSimulator] = []
    drivers: list[ThingSetCanDriver] = []

    async def simulator(**options: Any) -> ThingSetCanSimulator:
        entry = vol.Schema(reg.CAN_SIMULATOR_SCHEMA)({"channel": channel, "seed": 3, **options})
        sim = reg.create_can_simulator(entry, tmp_path)
        await sim.start()
        simulators.append(sim)
        return sim

    async def driver(**options: Any) -> ThingSetCanDriver:
        raw = {"interface": "virtual", "channel": channel, **options}
        entry = {"id": f"pack{len(drivers)}", "driver": "thingset_can", **vol.Schema(reg.CAN_BATTERY_SCHEMA)(raw)}
        made = reg.create_can_driver(battery_config(entry), DriverContext(tmp_path))
        await made.connect()
        drivers.append(made)
        return made

    try:
        yield simulator, driver, channel
    finally:
        for made in drivers:
            await made.close()
        for sim in simulators:
            await sim.stop()
