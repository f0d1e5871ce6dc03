"""Text log lines (candump, PCAN-View) and the ``trackingbms decode foxbms`` tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trackingbms_foxbms.textlog import CanLine, decode_lines, parse_line

from hub.cli import main
from tests.plugins.trackingbms_foxbms.conftest import FIXTURES

TRACE = FIXTURES / "test_log_pcan.txt"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("233#05100A1C00A004D2", CanLine(0x233, False, bytes.fromhex("05100A1C00A004D2"))),
        ("(1700000000.5) can0 250#00.77.08.B8.39.C3.8E.03", CanLine(0x250, False, bytes.fromhex("007708B839C38E03"))),
        ("can0  233   [8]  05 10 0A 1C 00 A0 04 D2", CanLine(0x233, False, bytes.fromhex("05100A1C00A004D2"))),
        ("  vcan0  18904001   [2]  01 02", CanLine(0x18904001, True, b"\x01\x02")),
        ("210#", CanLine(0x210, False, b"")),
        (
            "Timestamp:      132.164063        ID: 0525    S Rx                DL:  6    04 03 00 00 00 d2",
            CanLine(0x525, False, bytes.fromhex("0403000000d2")),
        ),
    ],
)
def test_parse_line(text: str, expected: CanLine) -> None:
    assert parse_line(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("05100A1C00A004D2", "not a CAN log line"),
        ("can0  233   [8]  05 10", "length 8 announced"),
        ("Timestamp: 1.0  ID: 0220  S Rx  DL: 8  03 08", "length 8 announced"),
        ("233#R", "remote frame"),
        ("233#0G", "not a CAN log line"),
    ],
)
def test_parse_line_rejects(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_line(text)


def test_every_trace_line_parses() -> None:
    lines = TRACE.read_text().splitlines()
    parsed = [parse_line(t) for t in lines]
    assert len(parsed) == 301
    assert {p.can_id for p in parsed} >= {0x220, 0x221, 0x525, 0x526, 0x528}
    assert not any(p.extended for p in parsed)


def test_decode_a_file_with_the_dbc_switch(tmp_path: Path) -> None:
    results = decode_lines([f"@{TRACE}"])
    assert len(results) == 301
    errors = {r["can_id"] for r in results if "error" in r}
    assert errors == {*(f"0x{i:03X}" for i in range(0x246, 0x250)), "0x251", "0x35C", "0x35D"}
    state = next(r for r in results if r["can_id"] == "0x220")
    assert state["signals"]["BmsState"] == "IDLE"
    listed = tmp_path / "frames.txt"
    listed.write_text("# comment\n\n240#00770 8B839C38E03\n")
    old = decode_lines(["dbc=v1.6", "240#007708B839C38E03", "dbc=current", "240#007708B839C38E03", f"@{listed}"])
    assert old[0]["message"] == "foxBMS_CellVoltages"
    assert [v["valid"] for v in old[0]["values"]] == [False, False, False, True]  # v1.6: 1 means invalid
    assert old[1]["message"] == "f_StringState"
    assert "error" in old[2]


def test_cell_frames_list_their_cells() -> None:
    (result,) = decode_lines(["250#007708B839C38E03"])
    assert result["values"] == [
        {"number": 1, "voltage": 3.601, "valid": True},
        {"number": 2, "voltage": 3.598, "valid": True},
        {"number": 3, "voltage": 3.612, "valid": True},
        {"number": 4, "voltage": 3.587, "valid": False},
    ]
    (temps,) = decode_lines(["260#003F18191A1BFB17"])
    assert [v["temperature"] for v in temps["values"]] == [24, 25, 26, 27, -5, 23]


def test_a_bad_dbc_switch_is_reported(tmp_path: Path) -> None:
    results = decode_lines([f"dbc={tmp_path / 'none.dbc'}", "233#05100A1C00A004D2"])
    assert "cannot load" in results[0]["error"]
    assert results[1]["message"] == "f_PackValuesP0"  # the previous (default) DBC stays


def test_cli_decode_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["decode", "foxbms", "233#05100A1C00A004D2", "can0  235   [8]  8A 23 08 72 27 C5 00 20", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["signals"] == {"BatteryVoltage": 64.8, "BusVoltage": 64.7, "Power": 0.8, "Current": 12.34}
    assert out[1]["signals"]["Soh"] == 98.5
    assert main(["decode", "foxbms", "35C#0000000000000000"]) == 1  # an error result: exit status 1
    assert "not in the current DBC" in capsys.readouterr().out
