"""The foxBMS driver against the simulator on python-can's in-process ``virtual`` bus."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import can
import pytest
import voluptuous as vol
from trackingbms_foxbms import simulator
from trackingbms_foxbms.dbc import Layout

from hub.simulation import PackModel
from hub.specs import DataError, LinkError
from tests.helpers import wait_for
from tests.plugins.trackingbms_foxbms.conftest import Factory, Recorder


def charging(amps: float) -> PackModel:
    """A pack with a constant current (positive = charging in the pack model)."""
    return PackModel(cells=18, temps=8, seed=3, current_profile=lambda t: amps)


async def test_reads_complete_readings(simulators: Factory, drivers: Factory) -> None:
    sim = await simulators(cells=18, temps=8)
    driver = await drivers(cells=18, temps=8)
    first = await driver.poll()
    second = await driver.poll()
    assert second.timestamp > first.timestamp  # each poll hands out a newer assembled reading
    for reading in (first, second):
        assert len(reading.cells) == 18
        assert [t.sensor for t in reading.temperatures] == list(range(1, 9))
        assert reading.voltage == pytest.approx(sum(reading.cells), abs=0.15)  # 0.1 V resolution
        assert reading.soc == pytest.approx(60.0, abs=1)
        assert reading.charge_mos is True
        assert not reading.alarms
    assert driver.dbc is not None and driver.dbc.layout is Layout.CURRENT
    assert driver.extra["bms_state_name"] == "NORMAL"
    assert driver.strings[0]["connected"] == 1.0
    details = driver.details()
    assert details["pack"]["bms_state_name"] == "NORMAL"
    assert list(details["strings"]) == ["0"]
    assert details["strings"]["0"]["connected"] == 1.0
    assert details["strings"]["0"]["voltage"] == pytest.approx(second.voltage, abs=0.2)
    assert details["strings"]["0"]["soc_min"] == pytest.approx(60.0, abs=1)
    assert driver.undecodable == 0
    assert sim.sent > 0


@pytest.mark.parametrize(
    ("bms_sign", "driver_sign", "expected"),
    [
        ("discharge_positive", "discharge_positive", 20.0),  # the foxBMS default build
        ("charge_positive", "charge_positive", 20.0),  # BS_POSITIVE_DISCHARGE_CURRENT = false
        ("charge_positive", "discharge_positive", -20.0),  # a mismatch shows as the wrong sign
    ],
)
async def test_current_is_positive_while_charging(
    drivers: Factory, channel: str, bms_sign: str, driver_sign: str, expected: float
) -> None:
    sim = simulator.create(
        vol.Schema(simulator.SIMULATOR_SCHEMA)({"channel": channel, "period": 0.02, "current_sign": bms_sign}),
        Path("/"),
    )
    sim.packs = [charging(20.0)]
    await sim.start()
    try:
        driver = await drivers(current_sign=driver_sign)
        reading = await driver.poll()
        assert reading.current == pytest.approx(expected, abs=0.11)
        assert reading.power is not None and (reading.power > 0) == (expected > 0)
    finally:
        await sim.stop()


async def test_listen_only_by_default(simulators: Factory, drivers: Factory, recorder: Recorder) -> None:
    sim = await simulators()
    driver = await drivers()
    for _ in range(3):
        await driver.poll()
    await sim.stop()
    # The recorder is a separate client on the bus: it sees exactly the simulator's frames.
    await wait_for(lambda: len(recorder.frames) >= sim.sent)
    assert len(recorder.frames) == sim.sent
    assert sim.received == []  # the simulator, another client, never heard anything from the hub
    assert driver.sent == 0
    assert 0x210 not in recorder.ids()


async def test_state_request_only_when_configured(simulators: Factory, drivers: Factory, recorder: Recorder) -> None:
    sim = await simulators()
    request = {"mode": "normal", "balancing": True, "balancing_threshold": 10}
    driver = await drivers(dbc_version="current", send_state_request=request)
    await wait_for(lambda: len(recorder.with_id(0x210)) >= 3)
    # The fixture's example request: NORMAL, balancing on, 10 mV (example_frames_generated.json).
    assert {bytes(m.data).hex().upper() for m in recorder.with_id(0x210)} == {"01010A0000000000"}
    assert all(not m.is_extended_id for m in recorder.with_id(0x210))
    await wait_for(lambda: any(can_id == 0x210 for can_id, _ in sim.received))
    assert len((await driver.poll()).cells) == 18  # listening goes on while sending
    await driver.close()  # stops the sender: every request sent reaches the recorder, no more follow
    await wait_for(lambda: len(recorder.with_id(0x210)) == driver.sent)
    assert driver.sent >= 3


async def test_state_request_of_the_old_layout(simulators: Factory, drivers: Factory, recorder: Recorder) -> None:
    await simulators(dbc_version="v1.6")
    await drivers(firmware="1.6.0", send_state_request={"mode": "standby"})
    await wait_for(lambda: len(recorder.with_id(0x230)) >= 2)
    assert {bytes(m.data) for m in recorder.with_id(0x230)} == {bytes(8)}
    assert not recorder.with_id(0x210)


async def test_silence_is_a_link_error(drivers: Factory) -> None:
    driver = await drivers(timeout=0.3)
    with pytest.raises(LinkError, match="no CAN frame"):
        await driver.poll()


async def test_a_sleeping_bms_is_a_link_error(simulators: Factory, drivers: Factory) -> None:
    sim = await simulators()
    driver = await drivers(timeout=1)
    await wait_for(lambda: _reading_or_none(driver), timeout=30)
    sim.faults.inject("asleep")

    async def poll_on() -> None:
        # Before the silence is a full timeout long, a poll may still hand out the last reading or
        # say the round is incomplete (frames came within the timeout): on a loaded machine the
        # frames of the last cycle can arrive late. Only a LinkError ends this.
        for _ in range(10):
            with contextlib.suppress(DataError):
                await driver.poll()

    with pytest.raises(LinkError, match="no CAN frame"):
        await poll_on()


async def _reading_or_none(driver: Any) -> Any:
    try:
        return await driver.poll()
    except (DataError, LinkError):
        return None


async def test_the_wrong_layout_is_a_data_error(simulators: Factory, drivers: Factory) -> None:
    await simulators()
    driver = await drivers(dbc_version="v1.6", timeout=1)
    with pytest.raises(DataError, match=r"no pack values .*undecodable frames"):
        await driver.poll()


async def test_traffic_of_no_known_layout_is_a_data_error(drivers: Factory, channel: str) -> None:
    # 0x220 (BmsState in both layouts) says nothing about the layout (dbc.LayoutDetector).
    bus = can.Bus(interface="virtual", channel=channel)
    task = bus.send_periodic(can.Message(arbitration_id=0x220, is_extended_id=False, data=bytes(8)), 0.02)
    try:
        driver = await drivers(timeout=0.5)
        with pytest.raises(DataError, match="none from a known foxBMS layout"):
            await driver.poll()
        assert driver.frames > 0
    finally:
        task.stop()
        bus.shutdown()


async def test_the_old_layout_is_recognised(simulators: Factory, drivers: Factory) -> None:
    await simulators(dbc_version="v1.6", cells=12, temps=3, invalid_cells=[5])
    driver = await drivers()
    reading = await driver.poll()
    assert driver.dbc is not None and driver.dbc.layout is Layout.V1_6
    assert len(reading.cells) == 12
    assert len(reading.temperatures) == 3
    assert [a.text for a in reading.alarms] == ["Cell voltage measurement invalid (foxBMS flag): 5"]


@pytest.mark.parametrize(("firmware", "invalid"), [("1.7", [2]), (None, [1, 3, 4, 5, 6])])
async def test_the_flag_meaning_of_v1_7(
    simulators: Factory, drivers: Factory, firmware: str | None, invalid: list[int]
) -> None:
    await simulators(firmware="1.7", cells=6, temps=0, invalid_cells=[2])
    driver = await drivers(**({"firmware": firmware} if firmware else {}))
    alarm = next(a for a in (await driver.poll()).alarms if a.code == "cell_voltage_invalid")
    assert alarm.text.endswith(": " + ", ".join(map(str, invalid)))


async def test_missing_cell_frames(simulators: Factory, drivers: Factory) -> None:
    await simulators(faults=["truncated"])
    # 100 broadcast cycles per timeout: every other frame has come by then, even on a loaded machine.
    strict = await drivers(cells=18, timeout=2.0)
    with pytest.raises(DataError, match="cell voltage frames missing: mux 4"):
        await strict.poll()
    partial = await drivers(cells=18, timeout=2.0, partial=True)
    reading = await partial.poll()
    assert reading.cells == ()
    assert reading.voltage is not None
    assert [a.code for a in reading.alarms] == ["cells_incomplete"]


async def test_bad_values_are_a_data_error(simulators: Factory, drivers: Factory) -> None:
    await simulators(faults=["junk_cells"])
    driver = await drivers()
    with pytest.raises(DataError, match="8191 mV flagged valid"):
        await driver.poll()


async def test_foreign_and_corrupt_frames_are_ignored(simulators: Factory, drivers: Factory) -> None:
    await simulators(faults=["garbage", "bad_checksum"])
    driver = await drivers()
    assert len((await driver.poll()).cells) == 18
    assert len((await driver.poll()).cells) == 18
    assert driver.undecodable > 0
    assert driver.last_error is not None


async def test_strings_and_their_alarms(simulators: Factory, drivers: Factory) -> None:
    await simulators(strings=2, cells=6, temps=2, flags=["deep_discharge", "bms_general_warning"])
    driver = await drivers()
    reading = await driver.poll()
    assert len(reading.cells) == 12  # cells are numbered across strings, as the firmware does
    assert len(reading.temperatures) == 4
    assert sorted(driver.strings) == [0, 1]
    assert {a.text for a in reading.alarms} == {
        "BMS general warning",
        "String 0: Deep discharge detected",
        "String 1: Deep discharge detected",
    }


async def test_a_failed_bus_is_reopened_on_the_next_poll(simulators: Factory, drivers: Factory) -> None:
    await simulators()
    driver = await drivers()
    driver.link._failed(OSError("adapter unplugged"))  # what the listener reports from its thread
    assert not driver.link.is_open
    assert len((await driver.poll()).cells) == 18
    assert driver.link.is_open


async def test_an_interface_that_cannot_open_is_a_link_error(drivers: Factory) -> None:
    with pytest.raises(LinkError, match="cannot open CAN"):
        await drivers(interface="no-such-interface")
