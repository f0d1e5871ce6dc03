"""The daly_ble driver end to end over the fake bleak client: A5, D2 and 0x81 to a Reading, and BLE trouble."""

from __future__ import annotations

from typing import Any

import pytest
from trackingbms_daly.a5.framing import A5Frame

from hub.reading import Reading
from hub.specs import LinkError
from tests.helpers import wait_for
from tests.plugins.trackingbms_daly.ble.ble_harness import ADDRESS, air_with, make_driver


def _sane(reading: Reading, cells: int) -> None:
    assert len(reading.cells) == cells
    assert all(2.5 <= v <= 3.65 for v in reading.cells)
    assert reading.voltage is not None
    assert abs(sum(reading.cells) - reading.voltage) < 0.15
    assert reading.soc is not None
    assert 0 <= reading.soc <= 100


@pytest.mark.parametrize("protocol", ["d2", "x81", "a5"])
@pytest.mark.parametrize("mtu", [20, 244])
async def test_each_family_reads_end_to_end_to_a_reading(protocol: str, mtu: int) -> None:
    air, _ = air_with(protocol, mtu=mtu, cells=16, temps=2)
    driver = make_driver(air, protocol=protocol)
    await driver.connect()
    reading = await driver.poll()
    _sane(reading, 16)
    assert len([t for t in reading.temperatures if t.kind.value == "cell"]) == 2
    assert reading.battery_id == "pack"
    await driver.close()


@pytest.mark.parametrize("protocol", ["d2", "x81", "a5"])
async def test_auto_finds_the_family(protocol: str) -> None:
    air, _ = air_with(protocol, cells=8)
    driver = make_driver(air)  # protocol: auto tries D2, 0x81, then A5 (daly.md §0)
    await driver.connect()
    assert driver.protocol == protocol
    _sane(await driver.poll(), 8)
    await driver.close()


async def test_a5_over_ble_gets_all_16_cell_frames_and_3_temperature_frames() -> None:
    # Over BT the BMS returns all 16 frames for 0x95 and 3 for 0x96 (python-daly-bms, daly.md §3.5).
    air, device = air_with("a5", cells=16, temps=2, mtu=20)
    answers: list[A5Frame] = []
    respond = device.respond

    def recording(request: bytes) -> list[bytes]:
        frames = respond(request)
        answers.extend(A5Frame.parse(f) for f in frames)
        return frames

    device.respond = recording
    driver = make_driver(air, protocol="a5")
    await driver.connect()
    reading = await driver.poll()
    assert sum(1 for f in answers if f.data_id == 0x95) == 16
    assert sum(1 for f in answers if f.data_id == 0x96) == 3
    assert all(w[1] == 0x80 for w in device.writes)  # host address 0x80 on the BT path
    _sane(reading, 16)
    # The trailing frames 7..16 of one poll never spoil the next one.
    _sane(await driver.poll(), 16)
    await driver.close()


async def test_held_answers_arriving_joined_with_the_next_are_sorted_out() -> None:
    air, _ = air_with("d2", hold_answers=2, mtu=20)
    driver = make_driver(air, protocol="d2", retries=2)
    await driver.connect()
    _sane(await driver.poll(), 16)
    await driver.close()


async def test_release_mode_disconnects_between_polls() -> None:
    air, device = air_with("d2")
    driver = make_driver(air, release=True)
    for _ in range(3):
        _sane(await driver.poll(), 16)
        assert device.central is None  # the phone app could connect now
        phone = air.client(ADDRESS)
        await phone.connect()
        await phone.disconnect()
    assert driver.link.connects == 3
    assert driver.protocol == "d2"  # detected once, kept across the reconnects
    await driver.close()


async def test_a_disconnect_fails_one_poll_and_the_next_reconnects() -> None:
    air, device = air_with("x81")
    driver = make_driver(air, protocol="x81")
    await driver.connect()
    _sane(await driver.poll(), 16)
    device.drop_after_writes = 1  # the next write drops the link unanswered
    with pytest.raises(LinkError):
        await driver.poll()
    _sane(await driver.poll(), 16)
    assert (driver.link.connects, driver.link.disconnects, device.connects) == (2, 1, 2)
    await driver.close()


async def test_notify_not_permitted_still_reads_through_ff01() -> None:
    air, _ = air_with("d2", notify_not_permitted=True)
    driver = make_driver(air)
    _sane(await driver.poll(), 16)
    assert driver.link.pair is not None
    assert driver.link.pair.notify.startswith("0000ff01")
    await driver.close()


async def test_cloud_mode_is_reported_clearly() -> None:
    # A module bound to Daly Cloud over WiFi neither advertises nor connects (syssi #39, daly.md §3.4).
    air, _ = air_with("d2", advertising=False, connectable=False)
    driver = make_driver(air)
    driver.link.backoff = 0.0
    with pytest.raises(LinkError, match="not found") as caught:
        await driver.connect()
    assert "Daly Cloud" in str(caught.value)


async def test_a_module_that_connects_but_never_answers_says_so() -> None:
    air, device = air_with("d2")
    device.respond = lambda request: []
    driver = make_driver(air)
    with pytest.raises(LinkError, match="no Daly D2, 0x81 or A5 answer"):
        await driver.connect()
    assert device.central is None  # the module is let go


async def test_a_bad_crc_echo_is_retried_and_the_write_confirmed() -> None:
    # The app's D2 06 00 CF 00 01 got the bad echo ... 1C 8A and simply re-sent (btsnoop, daly.md §3.4).
    air, device = air_with("d2", bad_echoes=1)
    driver = make_driver(air, protocol="d2")
    await driver.connect()
    result: dict[str, Any] = await driver.control("charge_mos", False)
    assert result["confirmed"] is True
    assert result["attempts"] == 2
    assert device.board.pack.charge_mos is False
    await driver.close()


async def test_a5_controls_go_through_the_a5_driver() -> None:
    air, device = air_with("a5")
    driver = make_driver(air, protocol="a5")
    await driver.connect()
    assert driver.supported_controls == {"charge_mos", "discharge_mos", "soc", "restart"}
    result = await driver.control("discharge_mos", False)
    assert result["confirmed"] is True
    assert device.board.pack.discharge_mos is False
    await driver.close()


async def test_keep_alive_pings_between_polls() -> None:
    air, device = air_with("d2")
    driver = make_driver(air, protocol="d2", keep_alive=1.0)
    await driver.connect()
    assert driver.keep_alive is not None
    driver.keep_alive.interval = 0.02  # the schema's minimum is 1 s; the test need not wait that long
    writes = len(device.writes)
    await wait_for(lambda: driver.keep_alive is not None and driver.keep_alive.pings >= 2, timeout=5)
    assert len(device.writes) > writes
    await driver.close()
    assert device.central is None


async def test_a_reconnect_tries_the_family_found_before_first() -> None:
    air, device = air_with("a5")
    driver = make_driver(air)
    await driver.connect()
    await driver.close()
    assert device.central is None
    before = len(device.writes)
    await driver.connect()
    assert device.writes[before][0] == 0xA5  # no D2 / 0x81 probes on the way back to an A5 dongle
    await driver.close()
