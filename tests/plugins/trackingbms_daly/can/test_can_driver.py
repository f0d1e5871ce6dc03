"""The Daly CAN driver against simulated boards on python-can's in-process ``virtual`` interface."""

from __future__ import annotations

import asyncio
import itertools
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from trackingbms_daly.a5.device import DalyA5Device
from trackingbms_daly.can.bus import BusConfig, registry_for
from trackingbms_daly.can.driver import DalyCanDriver
from trackingbms_daly.can.registration import BATTERY_SCHEMA, SIMULATOR_SCHEMA
from trackingbms_daly.can.simulator import Burst, CanBoard, DalyCanBoards, DalyCanSimulator, create

from hub.batteries import battery_config
from hub.faults import Fault
from hub.reading import BatteryState
from hub.simulation import PackModel
from hub.specs import DataError, DriverContext, LinkError
from tests.helpers import HubFactory, wait_for

Factory = Callable[..., Any]
_channels = itertools.count()


@pytest.fixture
def channel() -> str:
    """A virtual channel no other test uses (virtual buses are shared process-wide)."""
    return f"daly-can-test-{next(_channels)}"


@pytest.fixture
async def simulators(channel: str) -> AsyncIterator[Factory]:
    started: list[DalyCanSimulator] = []

    async def start(**options: Any) -> DalyCanSimulator:
        entry = vol.Schema(SIMULATOR_SCHEMA)({"interface": "virtual", "channel": channel, "seed": 7, **options})
        simulator = create(entry, Path("/"))
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.stop()


@pytest.fixture
async def drivers(channel: str) -> AsyncIterator[Factory]:
    made: list[DalyCanDriver] = []
    context = DriverContext(Path("/"))

    async def make(**options: Any) -> DalyCanDriver:
        entry = vol.Schema(BATTERY_SCHEMA)({"interface": "virtual", "channel": channel, **options})
        driver = DalyCanDriver(battery_config({"id": f"pack{len(made)}", "driver": "daly_can", **entry}), context)
        made.append(driver)
        await driver.connect()
        return driver

    yield make
    for driver in made:
        await driver.close()


async def test_reads_a_full_reading(simulators: Factory, drivers: Factory) -> None:
    simulator = await simulators(cells=16, temps=3, capacity_ah=200)
    driver = await drivers(timeout=5)  # generous: a complete answer ends the wait, a retry would count
    reading = await driver.poll()
    pack = simulator.boards.boards[1].device.pack
    assert len(reading.cells) == 16
    assert [t.sensor for t in reading.temperatures] == [1, 2, 3]
    assert reading.voltage == pytest.approx(sum(reading.cells), abs=0.1)
    assert reading.rated_capacity_ah == pytest.approx(200)
    assert reading.charge_mos is pack.charge_mos
    assert reading.cycles == 0
    assert reading.cell_max is not None and reading.cell_max.voltage == max(reading.cells)
    # One request per data id: 0x94, 0x90, 0x93, 0x95, 0x96, 0x97, 0x98 and 0x50 (asked once).
    assert simulator.boards.requests == 8
    await driver.poll()
    assert simulator.boards.requests == 15


async def test_two_boards_share_one_bus_and_are_read_in_one_cycle(simulators: Factory, drivers: Factory) -> None:
    simulator = await simulators(boards=2, board=0x0B, cells=8, temps=1)  # issue #215 has boards 0x0B and 0x0E
    first, second = await drivers(board=0x0B, timeout=5), await drivers(board=0x0C, timeout=5)
    assert first.bus is second.bus
    assert registry_for(first.context).users(first.options.bus) == 2
    one, two = await asyncio.gather(first.poll(), second.poll())
    assert len(one.cells) == len(two.cells) == 8
    assert one.cells != two.cells  # each board has its own pack
    assert simulator.boards.requests == 16  # both complete with no retry
    await first.close()
    assert registry_for(second.context).users(second.options.bus) == 1
    assert len((await second.poll()).cells) == 8


async def test_a_failed_bus_is_reopened_on_the_next_poll(simulators: Factory, drivers: Factory) -> None:
    await simulators()
    driver = await drivers()
    assert driver.bus is not None
    driver.bus.link._failed(OSError("adapter unplugged"))  # what the listener reports from its thread
    with pytest.raises(LinkError, match="unplugged"):
        await driver.bus.send([(0x18900140, bytes(8))])
    assert len((await driver.poll()).cells) == 16
    assert driver.bus.link.is_open


def test_each_hub_context_has_its_own_bus_registry() -> None:
    context = DriverContext(Path("/"))
    assert registry_for(context) is registry_for(context)
    assert registry_for(context) is not registry_for(DriverContext(Path("/")))


async def test_an_absent_board_is_a_link_error(simulators: Factory, drivers: Factory) -> None:
    await simulators()
    driver = await drivers(board=5, timeout=0.1, retries=1)
    with pytest.raises(LinkError, match="no answer from board 5"):
        await driver.poll()


async def test_an_asleep_board_is_a_link_error_until_it_wakes(simulators: Factory, drivers: Factory) -> None:
    simulator = await simulators(faults=["asleep"])
    driver = await drivers(timeout=0.1, retries=1)
    with pytest.raises(LinkError):
        await driver.poll()
    simulator.faults.clear()
    assert len((await driver.poll()).cells) == 16


async def test_late_answers_are_a_link_error(simulators: Factory, drivers: Factory) -> None:
    simulator = await simulators(faults=["late"])
    simulator.faults.late_delay = 30.0  # far beyond the poll; stop() cancels them
    driver = await drivers(timeout=0.1, retries=0)
    with pytest.raises(LinkError):
        await driver.poll()


def _charging_board(address: int = 1, **device: Any) -> CanBoard:
    pack = PackModel(cells=4, temps=1, seed=3, current_profile=lambda _: 20.0)
    return CanBoard(address, DalyA5Device(pack, host_addresses=frozenset({0x80}), **device))


async def _serve(channel: str, *boards: CanBoard) -> DalyCanSimulator:
    simulator = DalyCanSimulator(DalyCanBoards(list(boards), seed=1), bus=BusConfig("virtual", channel))
    await simulator.start()
    return simulator


async def test_inverted_current_is_still_positive_while_charging(channel: str, drivers: Factory) -> None:
    simulator = await _serve(channel, _charging_board())
    try:
        simulator.faults.inject(Fault.INVERTED_CURRENT)
        driver = await drivers()
        reading = await driver.poll()
        assert reading.state is BatteryState.CHARGING
        assert reading.current == pytest.approx(20.0)
        assert driver.sign.charge_positive_on_wire is False  # learned from 0x93 (daly.md §1.8)
        simulator.faults.clear()
        assert (await driver.poll()).current == pytest.approx(20.0)
    finally:
        await simulator.stop()


async def test_a_fixed_sign_is_not_overridden(channel: str, drivers: Factory) -> None:
    simulator = await _serve(channel, _charging_board(invert_current=True))
    try:
        driver = await drivers(current_sign="charge_positive")
        assert (await driver.poll()).current == pytest.approx(-20.0)
    finally:
        await simulator.stop()


@pytest.mark.parametrize("faults", [["junk_cells"], ["all_cell_frames"], ["junk_cells", "all_cell_frames"]])
async def test_cell_frame_quirks_still_give_the_pack(simulators: Factory, drivers: Factory, faults: list[str]) -> None:
    simulator = await simulators(cells=4, temps=1, faults=faults)
    driver = await drivers()
    reading = await driver.poll()
    assert len(reading.cells) == 4
    assert all(3.0 < v < 3.6 for v in reading.cells)  # no 3.142 V junk cell
    assert simulator.faults.applied.keys() >= {Fault(f) for f in faults}
    assert len((await driver.poll()).cells) == 4  # leftover frames of the 16-frame burst do no harm


async def test_garbage_frames_on_the_bus_are_ignored(simulators: Factory, drivers: Factory) -> None:
    simulator = await simulators(faults=["garbage"])
    driver = await drivers()
    assert len((await driver.poll()).cells) == 16
    assert driver.bus is not None and driver.bus.ignored >= 3 * simulator.boards.requests


@pytest.mark.parametrize("fault", ["bad_checksum", "truncated"])
async def test_a_lost_frame_is_asked_for_again(simulators: Factory, drivers: Factory, fault: str) -> None:
    simulator = await simulators()
    simulator.faults.inject(fault, times=1)  # a CAN frame with a CRC error is dropped by the controller
    driver = await drivers(timeout=0.2)
    assert len((await driver.poll()).cells) == 16
    assert simulator.boards.requests > 8


class _LosesCellFrame2(DalyCanBoards):
    """Boards whose second 0x95 frame never makes it (as in Louisvdw #165, daly.md §1.5)."""

    def answer(self, can_id: int, data: bytes, extended: bool = True) -> Burst | None:
        burst = super().answer(can_id, data, extended)
        if burst is None:
            return None
        kept = tuple(f for f in burst.frames if not (f[0] >> 16 & 0xFF == 0x95 and f[1][0] == 2))
        return Burst(kept, burst.delay)


async def test_a_frame_lost_every_time_is_a_data_error(channel: str, drivers: Factory) -> None:
    simulator = DalyCanSimulator(_LosesCellFrame2([_charging_board()]), bus=BusConfig("virtual", channel))
    await simulator.start()
    try:
        driver = await drivers(timeout=0.1, retries=1)
        with pytest.raises(DataError, match=r"0x95: frames \[2\] missing"):
            await driver.poll()
    finally:
        await simulator.stop()


async def test_an_unknown_interface_is_a_link_error(drivers: Factory) -> None:
    with pytest.raises(LinkError, match="cannot open CAN"):
        await drivers(interface="no-such-interface")


async def test_the_hub_reads_a_simulated_can_battery(start_hub: HubFactory) -> None:
    config = textwrap.dedent("""
        hub: {{data_dir: {data_dir}}}
        http: {{port: 0}}
        logging: {{file: null}}
        simulators:
          - {{kind: daly_can, interface: virtual, channel: hub-can-test, boards: 2, cells: 4, temps: 1, seed: 2}}
        batteries:
          - {{id: first, driver: daly_can, interface: virtual, channel: hub-can-test, board: 1, poll_interval: 0.2}}
          - {{id: second, driver: daly_can, interface: virtual, channel: hub-can-test, board: 2, poll_interval: 0.2}}
    """)
    hub = await start_hub(config)
    batteries = hub.batteries
    assert batteries is not None
    await wait_for(lambda: {"first", "second"} <= batteries.latest.keys())
    assert all(len(r.cells) == 4 for r in batteries.latest.values())
