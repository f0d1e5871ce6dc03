"""candump text decoding: every CAN capture of the corpus, both candump formats, and the decode CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trackingbms_daly.can.candump import decode_candump, describe_can_frame, looks_like_candump, parse_candump_line
from trackingbms_daly.plugin import decode_hex

from hub.cli import main

FIXTURES = json.loads((Path(__file__).parents[3] / "fixtures/daly/frames.json").read_text())
CAN = [e for e in FIXTURES if e["protocol"] == "can"]
RESPONSES = [e for e in CAN if e["direction"] == "response"]
STATES = {"stationary": 0, "charging": 1, "discharging": 2}


def _id(entry: dict[str, Any]) -> str:
    return f"{entry['can_id']}|{entry['hex'][:8]}|{entry['source'][-30:]}"


def compact(entry: dict[str, Any]) -> str:
    return f"{int(entry['can_id'], 16):08X}#{entry['hex'].replace(' ', '')}"


def classic(entry: dict[str, Any]) -> str:
    return f"  can0  {int(entry['can_id'], 16):08X}   [8]  {entry['hex']}"


def _dio(fields: dict[str, Any]) -> int:
    bits = [*fields["digital_inputs"], *fields["digital_outputs"]]
    return sum(1 << i for i, on in enumerate(bits) if on)


def _fault_code(fields: dict[str, Any]) -> int:
    codes = [a["code"] for a in fields["alarms"] if a["code"].startswith("fault_code_")]
    return int(codes[0].removeprefix("fault_code_")) if codes else 0


# Fixture key -> how to read it from our decoded fields (the corpus names differ from ours).
FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "total_voltage_V": lambda f: f["voltage"],
    "acquired_voltage_V": lambda f: f["acquired_voltage"],
    "current_raw": lambda f: f["current_raw"],
    "current_A_(raw-30000)/10": lambda f: f["current"],
    "soc_pct": lambda f: f["soc"],
    "max_cell_mV": lambda f: f["max_mv"],
    "max_cell_no": lambda f: f["max_cell"],
    "min_cell_mV": lambda f: f["min_mv"],
    "min_cell_no": lambda f: f["min_cell"],
    "max_temp_C": lambda f: f["max_c"],
    "max_temp_sensor": lambda f: f["max_sensor"],
    "min_temp_C": lambda f: f["min_c"],
    "min_temp_sensor": lambda f: f["min_sensor"],
    "state": lambda f: f["state"],
    "charge_mos": lambda f: f["charge_mos"],
    "discharge_mos": lambda f: f["discharge_mos"],
    "bms_life_or_heartbeat": lambda f: f["heartbeat"],
    "remaining_capacity_mAh": lambda f: f["remaining_capacity_mah"],
    "cell_count": lambda f: f["cell_count"],
    "temp_sensor_count": lambda f: f["temperature_count"],
    "charger_connected": lambda f: f["charger_connected"],
    "load_connected": lambda f: f["load_connected"],
    "dio_bits": _dio,
    "cycles": lambda f: f["cycles"],
    "frame_no": lambda f: f["frame"],
    "cell_mV": lambda f: f["cells"],
    "active_faults": lambda f: [a["code"] for a in f["alarms"] if not a["code"].startswith("fault_code_")],
    "fault_code_byte7": _fault_code,
}
NORMALISE: dict[str, Callable[[Any], Any]] = {
    "state": lambda v: STATES[v] if isinstance(v, str) else v,
    "dio_bits": lambda v: int(v, 2),
}
# Keys describing the identifier or raw bytes rather than a decoded value.
ID_KEYS = {"can_id", "priority", "data_id", "target", "source", "raw"}


@pytest.mark.parametrize("entry", RESPONSES, ids=_id)
@pytest.mark.parametrize("render", [compact, classic])
def test_fixture_response_decodes_to_the_listed_values(entry: dict[str, Any], render: Callable[..., str]) -> None:
    # Real captures, cited per entry: entry["source"] (mr-manuel/venus-os_dbus-serialbattery#249).
    expected = entry["decoded"]
    [result] = decode_candump([render(entry)])
    assert "error" not in result, (result, entry["source"])
    assert (result["family"], result["direction"]) == ("a5-can", "response")
    assert (result["data_id"], result["board"], result["host"]) == (expected["data_id"], expected["source"], "0x40")
    fields = {k: v["value"] for k, v in result["fields"].items()}
    compared = 0
    for key, want in expected.items():
        if key in ID_KEYS or key not in FIELDS:
            continue
        got = FIELDS[key](fields)
        assert got == pytest.approx(NORMALISE.get(key, lambda v: v)(want)), f"{key}: {entry['source']}"
        compared += 1
    assert compared >= 2, entry["source"]


@pytest.mark.parametrize("entry", [e for e in CAN if e["direction"] == "request"], ids=_id)
def test_fixture_requests_decode_as_requests(entry: dict[str, Any]) -> None:
    # ai-republic/bms-to-inverter #34 and #81 logged these requests (entry["source"]).
    [result] = decode_candump([compact(entry)])
    assert result["direction"] == "request", entry["source"]
    assert (result["board"], result["data_id"]) == (entry["decoded"]["target"], entry["decoded"]["data_id"])
    assert result["fields"] == {}


def test_both_formats_and_timestamps_parse_alike() -> None:
    lines = [
        "18904001#0203000077240338",
        "can0  18904001   [8]  02 03 00 00 77 24 03 38",
        "(1700000000.123456) can0 18904001#02.03.00.00.77.24.03.38",
        " (000.000000)  can0  18904001   [8]  02 03 00 00 77 24 03 38",
    ]
    parsed = [parse_candump_line(line) for line in lines]
    assert {(p.can_id, p.extended, p.data) for p in parsed} == {(0x18904001, True, bytes.fromhex("0203000077240338"))}
    # The tomatensaus RS485 capture carries the same 8 bytes: 51.5 V, raw 30500, SOC 82.4 % (daly.md §1.4).
    [result] = decode_candump(lines[:1])
    assert result["fields"]["voltage"]["value"] == 51.5
    assert result["fields"]["soc"]["value"] == 82.4


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("123#0203000077240338", "29-bit"),  # a standard identifier
        ("18904001#0203", "DLC 2"),
        ("18FF1234#0000000000000000", "neither"),
        ("can0  18904001   [8]  02 03", "announces 8"),
        ("18904001#zz", "not a candump"),
        ("hello", "not a candump"),
    ],
)
def test_bad_lines_are_reported_not_raised(line: str, error: str) -> None:
    [result] = decode_candump([line])
    assert error in result["error"]
    json.dumps(result)


def test_a5_hex_is_not_mistaken_for_candump() -> None:
    assert not looks_like_candump("A5 01 90 08 02 03 00 00 77 24 03 38 19")
    assert not looks_like_candump("a5:01:90:08:02:03:00:00:77:24:03:38:19")
    assert looks_like_candump("18904001#0203000077240338")
    assert looks_like_candump("can0  18904001   [8]  02 03 00 00 77 24 03 38")


def test_the_daly_decoder_routes_candump_lines_and_keeps_a5_hex() -> None:
    results = decode_hex(["18904001#0203000077240338", "A5 01 90 08 02 03 00 00 77 24 03 38 19"])
    assert [r["family"] for r in results] == ["a5-can", "a5"]
    assert results[0]["fields"] == results[1]["fields"]


def test_decode_cli_prints_both(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["decode", "daly", "--json", "can0  18954002   [8]  01 0D 24 0D 24 0D 25 00"])
    assert code == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["fields"]["cells"]["value"] == [3364, 3364, 3365]
    assert main(["decode", "daly_can", "18944002#0802000000000136"]) == 0
    assert '"cell_count"' in capsys.readouterr().out


@given(can_id=st.integers(0, 2**32), data=st.binary(max_size=12), extended=st.booleans())
def test_describe_never_raises(can_id: int, data: bytes, extended: bool) -> None:
    result = describe_can_frame(can_id, data, extended)
    json.dumps(result)
    assert result["family"] == "a5-can"


@given(text=st.text(max_size=80))
def test_decode_candump_never_raises(text: str) -> None:
    [result] = decode_candump([text])
    assert result["input"] == text
