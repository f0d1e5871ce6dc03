"""The ``thingset_can`` driver against simulated nodes on python-can's in-process ``virtual`` bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import can
import pytest
from trackingbms_thingset.can.ids import parse_id
from trackingbms_thingset.objects import CanReports, Kind

from hub.faults import Fault
from hub.simulation import PackModel
from hub.specs import LinkError
from tests.helpers import wait_for
from tests.plugins.trackingbms_thingset.harness import Factory, can_bench

FAST = {"report_period": 0.2}


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[tuple[Factory, Factory]]:
    async with can_bench(tmp_path) as (simulators, drivers, _):
        yield simulators, drivers


async def _reading(driver: Any) -> Any:
    async def attempt() -> Any:
        try:
            return await driver.poll()
        except LinkError:
            return None

    return await wait_for(attempt, timeout=60.0)  # virtual CAN under a loaded 2-core CI machine


@pytest.mark.parametrize(
    ("era", "reports", "node"),
    [
        ("2024", CanReports.MULTI_FRAME, 1),
        ("2023", CanReports.SINGLE_FRAME, 1),
        ("2022-05", CanReports.LEGACY, 10),
        ("2021-05", CanReports.LEGACY, 10),
    ],
)
async def test_each_eras_reports_make_a_reading(
    bench: tuple[Factory, Factory], era: str, reports: CanReports, node: int
) -> None:
    simulators, drivers = bench
    sim = await simulators(era=era, cells=8, **FAST)
    driver = await drivers(cells=8, rated_capacity_ah=100)
    reading = await _reading(driver)
    assert driver.node == node and driver.nodes[node].reports is reports
    # Before 2024 the cell voltages do not fit a frame: the driver asked for them over ISO-TP.
    assert len(reading.cells) == 8 and reading.voltage == pytest.approx(sum(reading.cells), abs=0.05)
    assert reading.current is not None and reading.soc == pytest.approx(60, abs=1)
    assert (sim.requests >= 1) is (era != "2024")


async def test_cells_are_not_requested_when_told_not_to(bench: tuple[Factory, Factory]) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2023", **FAST)
    reading = await _reading(await drivers(request_cells=False, rated_capacity_ah=100))
    assert reading.cells == () and reading.voltage is not None and sim.requests == 0


async def test_nominal_capacity_is_asked_once(bench: tuple[Factory, Factory]) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", capacity_ah=230, **FAST)
    driver = await drivers()
    reading = await _reading(driver)
    await driver.poll()
    assert reading.rated_capacity_ah == 230.0 and sim.requests == 1


async def test_nodes_are_told_apart(bench: tuple[Factory, Factory]) -> None:
    simulators, drivers = bench
    first = await simulators(era="2024", node=1, seed=1, soc=20, **FAST)
    second = await simulators(era="2024", node=2, seed=2, soc=90, **FAST)
    auto = await drivers(rated_capacity_ah=100)
    chosen = await drivers(node=2, rated_capacity_ah=100)
    await wait_for(lambda: len(auto.nodes) == 2)
    either, high = await _reading(auto), await _reading(chosen)
    low = await _reading(await drivers(node=1, rated_capacity_ah=100))
    assert low.soc == pytest.approx(20, abs=1) and high.soc == pytest.approx(90, abs=1)
    # Auto picks one of the two (the one that published most) and sticks to it.
    assert auto.node in (1, 2) and either.soc == pytest.approx(low.soc if auto.node == 1 else high.soc, abs=1)
    assert first.reports > 0 and second.reports > 0


async def test_silent_node_is_a_link_error(bench: tuple[Factory, Factory]) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", **FAST)
    driver = await drivers(report_max_age=0.6, rated_capacity_ah=100)
    await _reading(driver)
    sim.faults.inject(Fault.ASLEEP)
    loop_time = driver.nodes[1].last
    await wait_for(lambda: driver.nodes[1].last == loop_time and sim.faults.applied.get(Fault.ASLEEP, 0) >= 4)
    with pytest.raises(LinkError, match="no fresh reports"):
        await driver.poll()


async def test_lost_frames_drop_the_multi_frame_report(bench: tuple[Factory, Factory]) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", faults=["bad_checksum"], **FAST)
    driver = await drivers(rated_capacity_ah=100)
    await wait_for(lambda: driver.assembler.dropped >= 2)
    with pytest.raises(LinkError):
        await driver.poll()
    sim.faults.clear()
    assert (await _reading(driver)).voltage is not None


async def test_garbage_frames_are_ignored(bench: tuple[Factory, Factory]) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", faults=["garbage"], **FAST)
    driver = await drivers(rated_capacity_ah=100)
    await wait_for(lambda: sim.faults.applied.get(Fault.GARBAGE, 0) >= 5)
    reading = await _reading(driver)
    assert reading.voltage is not None and driver.node == 1  # stray frames never make a better node


async def test_era_override_names_the_ids(bench: tuple[Factory, Factory]) -> None:
    # 0x72 is Bat_A (current) in 2022: with the right era the current is read from it.
    simulators, drivers = bench
    sim = await simulators(era="2022-05", **FAST)
    sim.device.pack = PackModel(cells=8, seed=1, current_profile=lambda _: -12.5)  # a steady discharge
    driver = await drivers(era="2022-05", request_cells=False)

    async def discharging() -> Any:
        reading = await _reading(driver)
        return reading if reading.current == -12.5 else None

    reading = await wait_for(discharging)
    assert reading.voltage == pytest.approx(8 * 3.3, abs=0.3)  # 0x71, not 0x72


async def test_a_reading_waits_for_a_full_round_of_single_frame_reports(bench: tuple[Factory, Factory]) -> None:
    # One object per frame: a poll between the first frames of a round must not build a reading
    # that lacks the objects still to come (it did under CI load: a reading without current).
    simulators, drivers = bench
    sim = await simulators(era="2023", report_period=60)  # frames are fed by hand below
    driver = await drivers(request_cells=False, rated_capacity_ah=100, report_max_age=30)
    current_id = sim.device.era.by_kind(Kind.CURRENT).id
    frames = [can.Message(arbitration_id=i, data=d, is_extended_id=True) for i, d in sim.binary.single_frames(1)]
    before_current = [m for m in frames if parse_id(m.arbitration_id).data_id != current_id][:3]
    for message in before_current:
        driver._on_message(message)
    poll = asyncio.create_task(driver.poll())
    await asyncio.sleep(0.3)
    assert not poll.done()  # no object has come twice yet: the round is not complete
    for message in frames:
        driver._on_message(message)
    reading = await asyncio.wait_for(poll, 10)
    assert reading.current is not None and reading.soc == pytest.approx(60, abs=1)
