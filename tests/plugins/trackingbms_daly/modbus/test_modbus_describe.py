"""``trackingbms decode daly`` recognises D2 and 0x81/0x51 frames next to A5 ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trackingbms_daly.modbus.describe import describe_modbus, looks_like_modbus
from trackingbms_daly.plugin import decode_hex

from hub.cli import main
from tests.plugins.trackingbms_daly.modbus.modbus_vectors import (
    BAD,
    ESS_RT1,
    ESS_SOURCE,
    ESS_VERSION,
    FIXTURES,
    GOOD,
    entry_id,
)


@pytest.mark.parametrize("entry", GOOD, ids=entry_id)
def test_fixture_frames_are_described(entry: dict[str, Any]) -> None:
    [result] = decode_hex([entry["hex"]])
    decoded = entry["decoded"]
    assert "error" not in result, (result, entry["source"])
    assert result["family"] == ("d2" if entry["frame_format"] == "modbus-d2" else "x81")
    assert result["address"] == decoded["address"]
    assert result["function"] == decoded["function"]
    assert entry["direction"] in result["direction"], entry["source"]
    if "start_register" in decoded:
        assert (result["start_register"], result["count"]) == (decoded["start_register"], decoded["count"])
    if isinstance(decoded.get("registers"), list):
        assert result["registers"] == decoded["registers"]


@pytest.mark.parametrize("entry", BAD, ids=entry_id)
def test_bad_crc_frames_report_an_error(entry: dict[str, Any]) -> None:
    [result] = decode_hex([entry["hex"]])
    assert "CRC" in result["error"], entry["source"]


def test_status_answer_lists_the_pack_fields_with_units() -> None:
    entry = next(e for e in GOOD if "cell_mV" in e["decoded"] and e["decoded"]["cell_count"] == 16)
    [result] = decode_hex([entry["hex"]])
    fields = result["fields"]
    assert fields["voltage"] == {"value": entry["decoded"]["total_voltage_V"], "unit": "V"}
    assert fields["cell_16"]["unit"] == "mV" and "cell_17" not in fields
    assert fields["current"]["unit"] == "A" and result["alarms"] == []


def test_x81_answers_are_described_with_dots_as_separators() -> None:
    # The ESS dump writes bytes as "51.03.80..." (ESS_SOURCE).
    [rt1, version] = decode_hex([ESS_RT1.replace(" ", "."), ESS_VERSION])
    assert rt1["family"] == "x81" and rt1["direction"] == "response" and rt1["board"] == 1, ESS_SOURCE
    assert rt1["fields"]["soc"] == {"value": 86.4, "unit": "%"}
    assert rt1["fields"]["current"]["value"] == -8.9
    assert version["fields"]["serial_number"]["value"] == "210LC210900005"


def test_a5_frames_still_go_to_the_a5_decoder() -> None:
    a5 = next(e for e in FIXTURES if e["frame_format"] == "a5" and e["checksum_ok"])
    [result] = decode_hex([a5["hex"]])
    assert result["family"] == "a5", a5["source"]


def test_exception_and_write_frames() -> None:
    assert describe_modbus(bytes.fromhex("51 83 02 C0 E0")) == {
        "family": "x81",
        "direction": "response",
        "address": "0x51",
        "function": "0x83",
        "board": 1,
        "exception_code": 2,
        "exception": "illegal data address",
    }
    write = describe_modbus(bytes.fromhex("D2 06 00 A5 00 01 4B 8A"))
    assert write["meaning"] == "charge MOS switch" and write["value"] == 1


def test_cli_decode_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "daly", "D2 03 00 00 00 3E D7 B9", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["block"] == "status" and result["family"] == "d2"
    assert main(["decode", "daly_modbus", "81 03 00 41 00 3E 8B CE"]) == 0
    assert json.loads(capsys.readouterr().out)["block"] == "rt2"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_describe_never_raises(data: bytes) -> None:
    result = describe_modbus(data)
    assert "family" in result
    if looks_like_modbus(data):
        assert decode_hex([data.hex()])[0]["family"] == result["family"]
