"""``trackingbms decode thingset``: text lines, hex binary messages and CAN frames, as the CLI prints them."""

from __future__ import annotations

import json

import pytest
from trackingbms_thingset.describe import decode_inputs

from hub.cli import main
from tests.plugins.trackingbms_thingset.harness import fixture, generated

MF = generated("can_mf_report_mLive_ids_values")
REPORT = generated("serial_text_report_mLive_with_crc")


def test_text_report_with_crc_is_named_and_read() -> None:
    [result] = decode_inputs([REPORT["line"].replace("\r\n", "\\r\\n")])  # the line end typed in a shell
    assert (result["mode"], result["type"], result["crc"], result["era"]) == ("text", "report", "valid", "2024")
    assert result["reading"]["voltage"] == 26.15 and result["reading"]["current"] == -1.23
    assert result["bms_state"] == "normal"


def test_bad_crc_is_an_error_entry() -> None:
    [result] = decode_inputs([REPORT["line"].replace("22BAC7F5", "00000000")])
    assert "CRC" in result["error"]


def test_captured_stream_with_log_line() -> None:
    # bms-firmware #29 lines pasted as one block: the log line is not ThingSet, the reports are.
    lines = fixture("captured_messages.json")["captures"][0]["lines"]
    results = decode_inputs(["\n".join(lines)])
    assert "error" in results[0]
    assert [r["era"] for r in results[1:]] == ["2022-05"] * 4
    assert results[2]["reading"]["voltage"] == 8.45
    assert results[2]["reading"]["alarms"][0]["code"] == "cell_voltage_high"


def test_responses_with_and_without_status_text() -> None:
    v05, v06 = decode_inputs([':85 Content. ["report","info"]', ':A3 "Item is read-only"'])
    assert (v05["status"], v05["status_name"], v05["status_text"], v05["payload"]) == (
        "0x85",
        "Content",
        "Content",
        ["report", "info"],
    )
    assert (v06["status_name"], v06["payload"]) == ("Forbidden", "Item is read-only")


def test_binary_hex_messages() -> None:
    spec = {e["name"]: e for e in fixture("spec_v0.6_binary_examples.json")["examples"]}
    update, errata = decode_inputs([spec["UPDATE"]["request_hex"], spec["FETCH names of a subset"]["response_hex"]])
    assert (update["function"], update["endpoint"], update["payload"]) == ("UPDATE", 4, {"0x60": False})
    assert "trailing" in errata["error"]
    [text] = decode_inputs(["3F 4D 65 61 73"])  # "?Meas" as hex: text mode by its first byte
    assert (text["mode"], text["path"]) == ("text", "Meas")


def test_multi_frame_can_report_is_reassembled() -> None:
    frames = [f"{int(f['id_hex'], 16):08X}#{f['data_hex'].replace(' ', '')}" for f in MF["frames"]]
    results = decode_inputs(frames)
    assert [r["frame"] for r in results[:2]] == ["first", "consecutive"] and results[-1]["frame"] == "last"
    assert all("message" not in r for r in results[:-1])
    message = results[-1]["message"]
    assert message["era"] == "2024" and message["endpoint"] == 0x31
    assert message["names"]["rPackVoltage_V"] == pytest.approx(26.15)
    assert message["reading"]["soc"] == 67.5 and len(message["reading"]["cells"]) == 8


def test_candump_formats_and_other_frames() -> None:
    single, legacy, claim = decode_inputs(
        ["can0  1E007C01   [5]  FA 42 87 00 00", "(1.0) can0 1F00717B#FA4161999A", "1312ABFE#"]
    )
    assert (single["name"], single["value"]) == ("rSOC_pct", 67.5)
    assert (legacy["name"], legacy["source"]) == ("rBat_V / Bat_V", 123)
    assert (claim["kind"], claim["target"]) == ("network management", 0xAB)


def test_cli_decode_prints_json_and_fails_on_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "thingset", "?Meas 77DB2B01#", "1E007101#FA41D13333", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["crc"] == "valid" and printed[1]["value"] == pytest.approx(26.15)
    assert main(["decode", "thingset_can", "not a frame", "--json"]) == 1
    assert "error" in json.loads(capsys.readouterr().out)[0]
