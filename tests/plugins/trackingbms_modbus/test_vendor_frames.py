"""The Seplos V3 document's own frames and a real bus capture, through the decoder and the map.

Frames: tests/fixtures/modbus/seplos_v3_frames.json (Seplos V0.3 §5 examples; syssi/esphome-seplos-bms
docs/pdus/v3 captures, see the README there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from trackingbms_modbus.assemble import assemble
from trackingbms_modbus.describe import decode_frames
from trackingbms_modbus.plan import Block, decode_block
from trackingbms_modbus.regmap import Function, load_map

from hub.cli import main
from hub.reading import TemperatureKind
from hub.specs import DataError

FRAMES: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "modbus" / "seplos_v3_frames.json").read_text(encoding="utf-8")
)
DOC = FRAMES["document"]
EXPECTED = FRAMES["expected"]


def payload(frame: str) -> bytes:
    raw = bytes.fromhex(frame.replace(" ", ""))
    return raw[3:-2]  # unit, function, byte count ... CRC


def words(frame: str) -> list[int]:
    data = payload(frame)
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def bits(frame: str) -> list[bool]:
    return [bool(byte >> i & 1) for byte in payload(frame) for i in range(8)]


def block_of(regmap_name: str, function: Function, start: int, count: int) -> Block:
    regmap = load_map(regmap_name)
    inside = tuple(
        r for r in regmap.registers if r.function == function and start <= r.address and r.end <= start + count
    )
    return Block(function, start, count, inside)


def test_pack_blocks_of_the_document_make_the_documented_reading() -> None:
    regmap = load_map("seplos_v3")
    values = {
        **decode_block(block_of("seplos_v3", Function.INPUT, 0x1000, 18), words(DOC["pia_response"])),
        **decode_block(block_of("seplos_v3", Function.INPUT, 0x1100, 26), words(DOC["pib_response"])),
        **decode_block(block_of("seplos_v3", Function.COILS, 0x1200, 144), bits(DOC["pic_response"])),
    }
    reading = assemble(regmap, values, "seplos")
    for field, value in EXPECTED["pia"].items():
        assert getattr(reading, field) == value, field
    assert list(reading.cells) == EXPECTED["pib_cells"]
    cell_temps = [t.value for t in reading.temperatures if t.kind == TemperatureKind.CELL]
    assert cell_temps == EXPECTED["pib_cell_temperatures"]
    assert [t.value for t in reading.temperatures if t.kind == TemperatureKind.AMBIENT] == [EXPECTED["pib_ambient"]]
    assert [t.value for t in reading.temperatures if t.kind == TemperatureKind.MOS] == [EXPECTED["pib_power"]]
    # PIC: FET byte 03 = charge and discharge on; system state 0x10 = standby (not an alarm).
    assert (reading.charge_mos, reading.discharge_mos, reading.alarms) == (True, True, ())
    assert reading.cell_max is not None and reading.cell_max.index == 1


def test_ems_blocks_use_low_word_first() -> None:
    values = decode_block(block_of("seplos_v3_ems", Function.INPUT, 0x2000, 26), words(DOC["eia_response"]))
    reading = assemble(load_map("seplos_v3_ems"), values)
    for field, value in EXPECTED["eia"].items():
        assert getattr(reading, field) == value, field


def test_a_raised_alarm_bit_becomes_an_alarm_with_its_level() -> None:
    regmap = load_map("seplos_v3")
    data = bits(DOC["pic_response"])
    data[0x1248 - 0x1200 + 1] = True  # voltage events bit 1: cell over-voltage protection
    values = decode_block(block_of("seplos_v3", Function.COILS, 0x1200, 144), data)
    (alarm,) = assemble(regmap, values).alarms
    assert (alarm.code, alarm.text, alarm.level.value) == (
        "cell_over_voltage_protection",
        "Cell over-voltage protection",
        "alarm",
    )


def test_sign_and_range_rules() -> None:
    regmap = load_map("seplos_v3")
    pia = words(DOC["pia_response"])
    pia[1] = 0xFA06  # -15.30 A on the wire
    values = decode_block(block_of("seplos_v3", Function.INPUT, 0x1000, 18), pia)
    assert assemble(regmap, values).current == -15.3
    assert assemble(regmap, values, current_sign="discharge_positive").current == 15.3
    pib = words(DOC["pib_response"])
    pib[3] = 0xFFFF  # 65.535 V: a corrupt answer, no reading
    values = decode_block(block_of("seplos_v3", Function.INPUT, 0x1100, 26), pib)
    with pytest.raises(DataError, match=r"cell_voltages = 65.535 V is outside \[0.0, 5.0\]"):
        assemble(regmap, values)


def test_decode_tool_pairs_requests_with_responses_and_names_values() -> None:
    results = decode_frames(["map=seplos_v3", DOC["pib_request"], DOC["pib_response"], DOC["eia_request"]])
    assert results[0] == {"input": "map=seplos_v3", "map": "seplos_v3", "entries": len(load_map("seplos_v3").registers)}
    assert results[1]["kind"] == "request" and results[1]["start"] == "0x1100" and results[1]["count"] == 26
    response = results[2]
    assert (response["crc"], response["kind"], response["start"]) == ("ok", "response", "0x1100")
    assert response["values"]["cell_temperatures"] == ["21.4 °C", "21.5 °C", "21.2 °C", "21.2 °C"]
    assert response["values"]["power_temperature"] == "21.6 °C"
    assert results[3]["start"] == "0x2000"


def test_decode_tool_on_the_bus_capture() -> None:
    captured = FRAMES["captured"]
    results = decode_frames(
        [
            "map=seplos_v3",
            "start=0x1200",
            captured["coils_unit1"],
            captured["exception_unit0"],
            captured["pib_unit1_as_captured"],
            "start=0x1100",
            captured["pib_unit1_repaired"],
        ]
    )
    coils = results[2]
    assert coils["unit"] == 1 and coils["values"]["fet_state"] == ["discharge_switch", "charge_switch"]
    assert coils["values"]["system_state"] == ["standby"]
    assert results[3] == {
        "input": captured["exception_unit0"],
        "transport": "rtu",
        "unit": 0,
        "function": 4,
        "crc": "ok",
        "kind": "exception",
        "exception": 2,
        "meaning": "illegal data address",
    }
    assert "CRC mismatch: the frame ends 56AB" in results[4]["error"]
    assert results[6]["values"]["cell_voltages"][0] == "3.303 V"


def test_decode_tool_reads_modbus_tcp_and_rejects_junk() -> None:
    # MBAP: transaction 1, protocol 0, length 6, unit 1, then the PDU (read 2 input registers at 0x1000).
    results = decode_frames(["000100000006 01 04 1000 0002", "zz", "01 04"])
    assert results[0]["transport"] == "tcp" and results[0]["start"] == "0x1000" and results[0]["count"] == 2
    assert results[1]["error"].startswith("not hex")
    assert "too short" in results[2]["error"]


def test_the_cli_decodes_with_a_map(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["decode", "modbus", "--json", "map=seplos_v3", DOC["pia_request"], DOC["pia_response"]])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out[2]["values"]["pack_voltage"] == "52.81 V"
    assert main(["decode", "modbus", FRAMES["captured"]["pib_unit1_as_captured"]]) == 1  # bad CRC: exit 1
