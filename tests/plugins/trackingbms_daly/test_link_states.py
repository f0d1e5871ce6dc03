"""Fault injection end to end: simulator faults -> driver -> coordinator link state and stored readings."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest
from trackingbms_daly.simulator import DalySimulator

from hub.batteries import LinkState
from hub.core import Hub
from hub.faults import Fault
from hub.reading import Reading
from tests.helpers import HubFactory, wait_for

CONFIG = textwrap.dedent("""
    hub: {{data_dir: {data_dir}}}
    http: {{enabled: false}}
    logging: {{file: null}}
    simulators:
      - {{kind: daly, link: sim/bus, cells: 10, temps: 2, seed: 3, boards: 3}}
    batteries:
      - {{id: b1, driver: daly, port: sim/bus, address: 0x40, board: 1, poll_interval: 0.2,
          timeout: 0.25, retries: 1, asleep_after: 0}}
      - {{id: b2, driver: daly, port: sim/bus, address: 0x40, board: 2, poll_interval: 0.2,
          timeout: 0.25, retries: 1, asleep_after: 0}}
      - {{id: b3, driver: daly, port: sim/bus, address: 0x40, board: 3, poll_interval: 0.2,
          timeout: 0.25, retries: 1, asleep_after: 0}}
""")


def simulator(hub: Hub) -> DalySimulator:
    sim = hub.simulators[0]
    assert isinstance(sim, DalySimulator)
    return sim


def state(hub: Hub, battery: str) -> LinkState:
    assert hub.batteries is not None
    return hub.batteries.coordinators[battery].link_state()


async def stored(hub: Hub, battery: str) -> list[Reading]:
    return await hub.store.history(battery, None, None, 10_000)


def consistent(reading: Reading, cells: int = 10) -> bool:
    """A reading the simulated pack could have produced: right cell count, plausible values."""
    return (
        len(reading.cells) == cells
        and all(2.4 < v < 3.7 for v in reading.cells)
        and reading.voltage is not None
        and abs(sum(reading.cells) - reading.voltage) < 0.15
        and len(reading.temperatures) == 2
    )


async def settle(hub: Hub, battery: str, states: set[LinkState]) -> None:
    await wait_for(lambda: state(hub, battery) in states, timeout=20)


async def count_new(hub: Hub, battery: str, after: int, at_least: int = 2) -> list[Reading]:
    async def enough() -> list[Reading] | None:
        readings = await stored(hub, battery)
        return readings if len(readings) >= after + at_least else None

    result: list[Reading] = await wait_for(enough, timeout=20)
    return result


async def test_three_boards_on_one_rs485_port_are_all_read(start_hub: HubFactory) -> None:
    hub = await start_hub(CONFIG)
    for battery in ("b1", "b2", "b3"):
        readings = await count_new(hub, battery, 0, 1)
        assert all(consistent(r) for r in readings)
    values = {(await stored(hub, b))[-1].cells for b in ("b1", "b2", "b3")}
    assert len(values) == 3  # three different packs, not one board answered thrice


async def test_asleep_then_wakes_up_without_restart(start_hub: HubFactory) -> None:
    hub = await start_hub(CONFIG)
    sim = simulator(hub)
    for device in sim.devices:
        device.pack._profile = lambda t: 0.0  # no current: the board may fall asleep
    await count_new(hub, "b1", 0, 2)
    sim.faults.inject(Fault.ASLEEP)
    await settle(hub, "b1", {LinkState.ASLEEP})
    before = len(await stored(hub, "b1"))
    sim.faults.clear()
    await settle(hub, "b1", {LinkState.ONLINE})
    readings = await count_new(hub, "b1", before, 1)
    # Only the readings after the wake: a poll in flight when the test swapped the current profile
    # can pair a pack voltage under load with cells at rest (the internal-resistance lift).
    woken = readings[before:]
    assert woken and all(consistent(r) for r in woken), [r.to_dict() for r in woken if not consistent(r)]


async def test_silence_while_current_flows_is_offline_not_asleep(start_hub: HubFactory) -> None:
    hub = await start_hub(CONFIG)
    sim = simulator(hub)
    for device in sim.devices:
        device.pack._profile = lambda t: -30.0
    await count_new(hub, "b2", 0, 1)
    sim.faults.inject(Fault.ASLEEP)
    await settle(hub, "b2", {LinkState.OFFLINE})
    assert hub.registry.get("battery.b2").health.value == "failed"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fault", "times"),
    [
        (Fault.GARBAGE, -1),
        (Fault.BAD_CHECKSUM, 3),
        (Fault.TRUNCATED, 3),
        (Fault.LATE, 2),
        (Fault.JUNK_CELLS, -1),
        (Fault.ALL_CELL_FRAMES, -1),
    ],
)
async def test_faults_never_store_a_wrong_value(start_hub: HubFactory, fault: Fault, times: int) -> None:
    hub = await start_hub(CONFIG)
    sim = simulator(hub)
    sim.faults.late_delay = 0.4  # later than the 0.25 s timeout, inside the next exchange
    await count_new(hub, "b3", 0, 1)
    before = len(await stored(hub, "b3"))
    sim.faults.inject(fault, times)
    readings = await count_new(hub, "b3", before, 4)
    await settle(hub, "b3", {LinkState.ONLINE})
    assert sim.faults.applied.get(fault, 0) > 0
    bad = [r.to_dict() for r in readings if not consistent(r)]
    assert bad == []


@pytest.mark.parametrize("invert", [False, True])
async def test_current_sign_is_right_whatever_the_firmware(start_hub: HubFactory, invert: bool) -> None:
    hub = await start_hub(CONFIG)
    sim = simulator(hub)
    profile: Callable[[float], float] = lambda t: 25.0  # noqa: E731 - a charger delivering 25 A
    for device in sim.devices:
        device.pack._profile = profile
    if invert:
        sim.faults.inject(Fault.INVERTED_CURRENT)
    readings = await count_new(hub, "b1", 0, 3)
    assert readings[-1].current == pytest.approx(25.0)
    assert all(r.current is not None and r.current > 0 for r in readings)
