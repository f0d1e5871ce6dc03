"""The Daly A5 driver against the simulator over a real pseudo-terminal and the real serial stack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from trackingbms_daly.driver import DalyA5Driver
from trackingbms_daly.plugin import BATTERY_SCHEMA
from trackingbms_daly.simulator import SIMULATOR_SCHEMA, DalySimulator, create

from hub.batteries import battery_config
from hub.reading import BatteryState
from hub.specs import DriverContext, LinkError

Factory = Callable[..., Any]


@pytest.fixture
async def simulators(tmp_path: Path) -> AsyncIterator[Factory]:
    started: list[DalySimulator] = []

    async def start(**options: Any) -> DalySimulator:
        entry = vol.Schema(SIMULATOR_SCHEMA)({"link": f"sim{len(started)}", "seed": 7, **options})
        simulator = create(entry, tmp_path)
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.stop()


def make_driver(port: str, **options: Any) -> DalyA5Driver:
    entry = {"id": "pack", "driver": "daly", **vol.Schema(BATTERY_SCHEMA)({"port": port, **options})}
    return DalyA5Driver(battery_config(entry), DriverContext(Path("/")))


async def test_reads_a_full_reading(simulators: Factory) -> None:
    simulator = await simulators(cells=16, temps=3, capacity_ah=200)
    driver = make_driver(simulator.link)
    await driver.connect()
    try:
        reading = await driver.poll()
    finally:
        await driver.close()
    pack = simulator.device.pack
    assert len(reading.cells) == 16
    assert len(reading.temperatures) == 3
    assert reading.voltage == pytest.approx(sum(reading.cells), abs=0.1)
    assert reading.rated_capacity_ah == pytest.approx(200)
    assert reading.charge_mos is pack.charge_mos
    assert reading.cell_min is not None and reading.cell_min.voltage == min(reading.cells)
    assert reading.power == pytest.approx(reading.voltage * reading.current, abs=0.01)  # type: ignore[operator]


@pytest.mark.parametrize("answered", [0x40, 0x80])
async def test_probes_both_host_addresses(simulators: Factory, answered: int) -> None:
    simulator = await simulators(address=answered)
    driver = make_driver(simulator.link)
    await driver.connect()
    assert driver.host_address == answered
    assert len((await driver.poll()).cells) == 16
    await driver.close()


async def test_wrong_fixed_address_is_a_link_error(simulators: Factory) -> None:
    simulator = await simulators(address=0x80)
    driver = make_driver(simulator.link, address="0x40", timeout=0.1, retries=1)
    await driver.connect()
    with pytest.raises(LinkError, match="no answer to 0x94"):
        await driver.poll()
    await driver.close()


async def test_all_sixteen_cell_frames_are_truncated_to_the_pack(simulators: Factory) -> None:
    simulator = await simulators(cells=7, all_cell_frames=True)
    driver = make_driver(simulator.link)
    await driver.connect()
    assert len((await driver.poll()).cells) == 7
    await driver.close()


@pytest.mark.parametrize("invert", [False, True])
async def test_current_is_positive_while_charging(simulators: Factory, invert: bool) -> None:
    simulator = await simulators(invert_current=invert)
    simulator.device.pack._profile = lambda t: 20.0  # a charger delivering 20 A
    driver = make_driver(simulator.link)
    await driver.connect()
    reading = await driver.poll()
    await driver.close()
    assert reading.current == pytest.approx(20.0)
    assert reading.state is BatteryState.CHARGING


async def test_missing_port_is_a_link_error(tmp_path: Path) -> None:
    driver = make_driver(str(tmp_path / "nothing"))
    with pytest.raises(LinkError, match="cannot open"):
        await driver.connect()
