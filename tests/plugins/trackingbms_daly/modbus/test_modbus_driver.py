"""The Daly Modbus driver end to end against the D2 / 0x81 simulators over real pseudo-terminals."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.reading import TemperatureKind
from hub.specs import DriverContext, LinkError
from tests.plugins.trackingbms_daly.modbus.modbus_harness import (
    Factory,
    assert_matches_pack,
    make_driver,
    read_once,
    simulator_factory,
)


@pytest.fixture
async def simulators(tmp_path: Path) -> AsyncIterator[Factory]:
    async with simulator_factory(tmp_path) as start:
        yield start


# --- reading ----------------------------------------------------------------------------------


async def test_d2_reading(simulators: Factory) -> None:
    simulator = await simulators(protocol="d2", cells=16, temps=2, capacity_ah=280)
    driver = make_driver(simulator.link, protocol="d2")
    reading = await read_once(driver)
    assert_matches_pack(reading, simulator)
    kinds = [t.kind for t in reading.temperatures]
    assert kinds == [TemperatureKind.CELL, TemperatureKind.CELL, TemperatureKind.MOS]
    assert reading.rated_capacity_ah == 280.0
    assert driver.mos_temperature_enabled is True


async def test_d2_eighty_registers(simulators: Factory) -> None:
    simulator = await simulators(protocol="d2", cells=4, temps=1)
    reading = await read_once(make_driver(simulator.link, protocol="d2", registers=80))
    assert_matches_pack(reading, simulator)
    assert [t.kind for t in reading.temperatures] == [TemperatureKind.CELL, TemperatureKind.MOS]


async def test_x81_reading(simulators: Factory) -> None:
    simulator = await simulators(protocol="x81", cells=40, temps=4)
    reading = await read_once(make_driver(simulator.link, protocol="x81"))
    assert len(reading.cells) == 40
    assert_matches_pack(reading, simulator)
    assert sum(t.kind is TemperatureKind.CELL for t in reading.temperatures) == 4


@pytest.mark.parametrize("family", ["d2", "x81"])
async def test_auto_detection(simulators: Factory, family: str) -> None:
    simulator = await simulators(protocol=family, cells=8)
    driver = make_driver(simulator.link, timeout=0.2, retries=0)
    await driver.connect()
    try:
        assert driver.protocol == family
        assert_matches_pack(await driver.poll(), simulator)
    finally:
        await driver.close()


async def test_three_x81_boards_on_one_port_read_in_one_cycle(simulators: Factory) -> None:
    simulator = await simulators(protocol="x81", boards=3, cells=10)
    for device, soc in zip(simulator.devices, (20.0, 50.0, 80.0), strict=True):
        device.pack.set_soc(soc)
    context = DriverContext(Path("/"))
    drivers = [make_driver(simulator.link, context=context, protocol="x81", board=n) for n in (1, 2, 3)]
    for driver in drivers:
        await driver.connect()
    assert context.ports.users(simulator.link) == 3
    try:
        readings = await asyncio.gather(*(driver.poll() for driver in drivers))
    finally:
        for driver in drivers:
            await driver.close()
    for board, reading in enumerate(readings):
        assert_matches_pack(reading, simulator, board)
    assert [round(r.soc or 0) for r in readings] == [20, 50, 80]


async def test_missing_mos_sensor_is_asked_once(simulators: Factory) -> None:
    simulator = await simulators(protocol="d2", mos_sensor=False)
    driver = make_driver(simulator.link, protocol="d2")
    await driver.connect()
    try:
        first = await driver.poll()
        assert driver.mos_temperature_enabled is False
        before = simulator.requests
        second = await driver.poll()
    finally:
        await driver.close()
    assert simulator.requests - before == 1  # the status block only
    for reading in (first, second):
        assert all(t.kind is TemperatureKind.CELL for t in reading.temperatures)


async def test_discharge_positive_firmware_is_corrected(simulators: Factory) -> None:
    simulator = await simulators(protocol="x81", invert_current=True)
    driver = make_driver(simulator.link, protocol="x81")
    await driver.connect()
    try:
        for _ in range(3):
            assert_matches_pack(await driver.poll(), simulator)
    finally:
        await driver.close()


async def test_cli_read_prints_json(simulators: Factory) -> None:
    simulator = await simulators(protocol="x81", boards=2, cells=6)
    command = [sys.executable, "-m", "hub", "read", "daly_modbus", "--port", simulator.link, "--board", "2", "--json"]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    assert process.returncode == 0
    data = json.loads(out)
    assert len(data["cells"]) == 6 and data["battery_id"] == "cli"


async def test_missing_port_is_a_link_error(tmp_path: Path) -> None:
    with pytest.raises(LinkError):
        await make_driver(str(tmp_path / "nothing")).connect()
