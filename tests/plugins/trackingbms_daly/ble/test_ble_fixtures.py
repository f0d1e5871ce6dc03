"""Every BLE frame of the fixture file decodes, also after travelling through the BLE link in pieces."""

from __future__ import annotations

from typing import Any

import pytest
from trackingbms_daly.a5.framing import A5Frame
from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus import d2
from trackingbms_daly.modbus.describe import describe_modbus
from trackingbms_daly.modbus.framing import ModbusFrame, Role
from trackingbms_daly.modbus.registers import registers_from

from tests.plugins.trackingbms_daly.ble.ble_harness import (
    BLE,
    BTSNOOP,
    air_with,
    entry_id,
    modbus_frames,
    open_link,
    raw,
    settle,
)

GOOD = [e for e in BLE if e["checksum_ok"] is True]
BAD = [e for e in BLE if e["checksum_ok"] is False]
MODBUS_ANSWERS = [e for e in GOOD if e["direction"] == "response" and e["frame_format"].startswith("modbus")]


def _role(entry: dict[str, Any]) -> Role:
    return Role.REQUEST if entry["direction"] == "request" else Role.ANSWER


def test_the_fixture_has_ble_frames_of_every_family() -> None:
    # 35 BLE entries: D2 from the official-app btsnoop and syssi captures, the app's A5 and 0x81 probes.
    assert len(BLE) >= 30
    assert {e["frame_format"] for e in BLE} == {"modbus-d2", "modbus-x81/x51", "a5"}
    assert len(BAD) == 2  # the bad echo D2 06 00 CF 00 01 1C 8A and the faker-comment typo (daly.md §5)


@pytest.mark.parametrize("entry", GOOD, ids=entry_id)
def test_every_good_ble_frame_parses(entry: dict[str, Any]) -> None:
    data = raw(entry)
    if entry["frame_format"] == "a5":
        frame = A5Frame.parse(data)  # the app's A5 probe (btsnoop), daly.md §0
        assert frame.raw == data
        return
    parsed = ModbusFrame.parse(data, _role(entry))
    assert parsed.raw == data
    assert f"0x{parsed.address:02X}" == entry["decoded"]["address"]


@pytest.mark.parametrize("entry", BAD, ids=entry_id)
def test_bad_crc_ble_frames_are_rejected(entry: dict[str, Any]) -> None:
    with pytest.raises(DalyProtocolError, match="CRC"):
        ModbusFrame.parse(raw(entry), _role(entry))


@pytest.mark.parametrize("entry", MODBUS_ANSWERS, ids=entry_id)
def test_every_ble_answer_is_described(entry: dict[str, Any]) -> None:
    described = describe_modbus(raw(entry))
    assert "error" not in described, described


STATUS_62 = [e for e in MODBUS_ANSWERS if "cell_mV" in e["decoded"] and e["decoded"]["byte_count"] == 124]


@pytest.mark.parametrize("entry", STATUS_62, ids=entry_id)
def test_62_register_status_answers_decode_to_the_fixture_values(entry: dict[str, Any]) -> None:
    frame = ModbusFrame.parse(raw(entry))
    status = d2.decode_status(registers_from(0, frame.registers()))
    decoded = entry["decoded"]
    assert list(status.cells_mv) == decoded["cell_mV"]
    assert status.voltage == pytest.approx(decoded["total_voltage_V"])
    assert status.soc == pytest.approx(decoded["soc_pct"])


@pytest.mark.parametrize("mtu", [1, 20, 244])
@pytest.mark.parametrize("entry", MODBUS_ANSWERS, ids=entry_id)
async def test_every_ble_answer_survives_the_link_at_any_mtu(entry: dict[str, Any], mtu: int) -> None:
    air, device = air_with()
    link = await open_link(air)
    data = raw(entry)
    device.central.notify([data[i : i + mtu] for i in range(0, len(data), mtu)])
    frames = await modbus_frames(link, {data[0]})
    assert [f.raw for f in frames] == [data]
    await link.close()


async def test_the_apps_three_joined_answers_come_apart() -> None:
    # btsnoop: "D2 03 12 ... 47 6E D2 03 22 ... DC E0 D2 03 18 ... 91 DC" in ONE notification (daly.md §3.4).
    snoop = [e for e in MODBUS_ANSWERS if e["source"].startswith(BTSNOOP)]
    parts = [raw(next(e for e in snoop if e["hex"].startswith(head))) for head in ("D2 03 12", "D2 03 22", "D2 03 18")]
    air, device = air_with()
    link = await open_link(air)
    device.central.notify([b"".join(parts)])
    await settle()
    frames = await modbus_frames(link, {0xD2})
    assert [f.raw for f in frames] == parts
    await link.close()
