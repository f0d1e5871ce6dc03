"""The ``thingset`` driver against the simulator on a real pseudo-terminal: eras, modes, CRC and faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from trackingbms_thingset.eras import ERAS

from hub.faults import Fault
from hub.specs import DataError, LinkError
from tests.helpers import wait_for
from tests.plugins.trackingbms_thingset.harness import Factory, serial_bench

Bench = tuple[Factory, Factory]
FAST = {"report_period": 0.2}


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    async with serial_bench(tmp_path) as pair:
        yield pair


@pytest.mark.parametrize("era", list(ERAS))
@pytest.mark.parametrize("mode", ["report", "request"])
async def test_each_era_is_detected_and_read(bench: Bench, era: str, mode: str) -> None:
    simulators, drivers = bench
    sim = await simulators(era=era, cells=8, temps=2, **FAST)
    driver = await drivers(sim.link, mode=mode, cells=8, rated_capacity_ah=50)
    reading = await driver.poll()
    assert driver.era is ERAS[era]
    if (era, mode) == ("2021-05", "report"):
        assert reading.cells == ()  # v21.0 did not publish Cells_V on serial; report mode asks nothing
        reading = reading.replace(cells=(await (await drivers(sim.link, mode="auto", cells=8)).poll()).cells)
    assert len(reading.cells) == 8 and reading.voltage == pytest.approx(sum(reading.cells), abs=0.05)
    assert reading.soc == pytest.approx(60.0, abs=1) and reading.current is not None
    assert (reading.charge_mos, reading.discharge_mos) == (True, True)
    assert any(t.kind.value == "cell" for t in reading.temperatures)
    if mode == "report" and era != "2021-05":
        assert sim.requests == 0  # everything came from the live reports
    else:
        assert sim.requests >= 1


async def test_cells_without_a_count_drop_unused_channels(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(cells=5, channels=16, **FAST)
    reading = await (await drivers(sim.link, mode="request")).poll()
    assert len(reading.cells) == 5  # the 11 unused channels read about 0 V


async def test_nominal_capacity_is_read_once(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", capacity_ah=280, **FAST)
    driver = await drivers(sim.link, mode="report")
    first = await driver.poll()
    asked = sim.requests
    second = await driver.poll()
    assert first.rated_capacity_ah == 280.0 and second.remaining_capacity_ah is not None
    assert asked == 1 and sim.requests == 1


async def test_auto_mode_prefers_reports_and_falls_back_to_requests(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", **FAST)
    driver = await drivers(sim.link, report_max_age=1.0, rated_capacity_ah=100)
    await wait_for(lambda: driver.last_report is not None)
    await driver.poll()
    assert sim.requests == 0
    sim.device.reporting = False  # as "=_Reporting/mLive {"sEnable":false}" does
    loop = asyncio.get_running_loop()
    await wait_for(lambda: loop.time() - driver.last_report.at > 1.0)
    reading = await driver.poll()
    assert reading.voltage is not None and sim.requests == 1


async def test_reporting_switched_off_by_request(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", **FAST)
    driver = await drivers(sim.link, rated_capacity_ah=100)
    assert driver.session is not None
    response = await driver.session.request('=_Reporting/mLive {"sEnable":false}')
    assert response.status == 0x84 and sim.device.reporting is False


async def test_crc_is_verified_and_can_be_required(bench: Bench) -> None:
    simulators, drivers = bench
    crc_sim = await simulators(era="2024", **FAST)
    plain_sim = await simulators(era="2022-05", **FAST)
    required = await drivers(crc_sim.link, crc="on", mode="report", rated_capacity_ah=100)
    assert (await required.poll()).voltage is not None
    assert required.session is not None and required.session.device_crc is True
    refused = await drivers(plain_sim.link, crc="on", mode="report", report_max_age=0.6)
    with pytest.raises(LinkError):
        await refused.poll()  # every line lacks the CRC
    assert refused.session is not None and refused.session.stats.bad > 0


async def test_enforced_crc_is_found_by_the_auto_retry(bench: Bench) -> None:
    # CONFIG_THINGSET_SERIAL_ENFORCE_CRC drops requests without CRC silently (legacy.md §2.5).
    simulators, drivers = bench
    sim = await simulators(era="2024", reports=False, enforce_crc=True)
    # The first request without CRC goes unanswered: the timeout is that wait, generous for a loaded CI.
    auto = await drivers(sim.link, mode="request", timeout=1.5, rated_capacity_ah=100)
    assert (await auto.poll()).voltage is not None
    off = await drivers(sim.link, mode="request", crc="off", timeout=0.2, retries=1)
    with pytest.raises(LinkError):
        await off.poll()


async def test_bad_crc_lines_are_dropped(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", **FAST)
    sim.faults.inject(Fault.BAD_CHECKSUM)
    driver = await drivers(sim.link, mode="report", report_max_age=0.8, rated_capacity_ah=100)
    with pytest.raises(LinkError):
        await driver.poll()
    assert driver.session is not None and driver.session.stats.bad >= 1
    sim.faults.clear()
    assert (await driver.poll()).voltage is not None


async def test_corrupt_lines_without_crc_are_dropped(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2022-05", faults=["bad_checksum"], **FAST)
    driver = await drivers(sim.link, mode="report", report_max_age=0.8)
    with pytest.raises(LinkError):
        await driver.poll()
    assert driver.session is not None and driver.session.stats.bad >= 1


async def test_garbage_and_log_lines_are_skipped(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", faults=["garbage"], **FAST)
    driver = await drivers(sim.link, rated_capacity_ah=100)
    for _ in range(2):
        assert (await driver.poll()).voltage is not None
    assert driver.session is not None and driver.session.stats.foreign >= 2


async def test_a_truncated_line_costs_one_line(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", **FAST)
    driver = await drivers(sim.link, mode="report", rated_capacity_ah=100)
    await driver.poll()
    sim.faults.inject(Fault.TRUNCATED, times=1)
    await wait_for(lambda: sim.faults.applied.get(Fault.TRUNCATED) == 1)
    assert (await driver.poll()).voltage is not None
    assert driver.session is not None and driver.session.stats.bad >= 1  # the cut line ran into the next


async def test_silence_is_a_link_error(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", faults=["asleep"], **FAST)
    driver = await drivers(sim.link, timeout=0.2, retries=1)
    with pytest.raises(LinkError, match="no answer"):
        await driver.poll()


async def test_renamed_objects_switch_the_detected_era(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", **FAST)
    auto = await drivers(sim.link, mode="report", rated_capacity_ah=100)
    await auto.poll()
    assert auto.era is ERAS["2024"]
    sim.device.names_era = ERAS["2022-05"]  # a firmware of another era on the same port
    reading = await wait_for(lambda: _era_after_poll(auto, "2022-05"))
    assert reading.voltage is not None


async def _era_after_poll(driver: object, key: str) -> object:
    reading = await driver.poll()  # type: ignore[attr-defined]
    return reading if driver.era.key == key else None  # type: ignore[attr-defined]


async def test_fixed_era_refuses_another_eras_names(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", names_era="2022-05", **FAST)
    fixed = await drivers(sim.link, era="2024", mode="report", rated_capacity_ah=100)
    with pytest.raises(DataError, match="looks like era 2022-05"):
        await fixed.poll()
    matching = await drivers(sim.link, era="2022-05", mode="report")
    assert (await matching.poll()).voltage is not None


async def test_lost_port_is_a_link_error(bench: Bench) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", **FAST)
    driver = await drivers(sim.link, rated_capacity_ah=100, timeout=2.0, retries=0)
    await driver.poll()
    await sim.stop()
    with pytest.raises(LinkError):
        await driver.poll()


async def test_capture_records_the_raw_lines(bench: Bench, tmp_path: Path) -> None:
    simulators, drivers = bench
    sim = await simulators(era="2024", **FAST)
    driver = await drivers(sim.link, capture=True, mode="request", rated_capacity_ah=100)
    await driver.poll()
    await driver.close()
    path = tmp_path / "captures" / "pack0.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    sent = bytes.fromhex("".join(r["hex"] for r in records if r["dir"] == "tx"))
    assert sent.startswith(b"?Meas\n")
