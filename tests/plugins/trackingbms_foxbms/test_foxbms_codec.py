"""Single-frame decoding and encoding against cantools, the real PCAN trace and the generated frames."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trackingbms_foxbms.codec import decode_frame, describe_frame, encode_frame
from trackingbms_foxbms.dbc import FoxbmsDbc
from trackingbms_foxbms.errors import FoxbmsProtocolError
from trackingbms_foxbms.textlog import parse_line

from tests.plugins.trackingbms_foxbms.conftest import FIXTURES

# The generated frames of the v1.11.0 layout (shared/fixtures/foxbms/example_frames_generated.json).
EXAMPLES: list[dict[str, Any]] = json.loads((FIXTURES / "example_frames_generated.json").read_text())["frames"]
# The real trace foxBMS committed as tools/dbc/test_log.txt (shared/fixtures/foxbms/test_log_pcan.txt).
TRACE = (FIXTURES / "test_log_pcan.txt").read_text().splitlines()


def test_the_fixtures_are_complete() -> None:
    assert len(EXAMPLES) == 16
    assert len(TRACE) == 301


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e['id_hex']}-{e['data_hex']}" for e in EXAMPLES])
def test_generated_frames_decode_to_their_listed_values(current: FoxbmsDbc, example: dict[str, Any]) -> None:
    described = describe_frame(current, example["id"], bytes.fromhex(example["data_hex"]))
    assert described["message"] == example["name"]
    assert set(described["signals"]) == set(example["decoded"])
    for name, expected in example["decoded"].items():
        got = described["signals"][name]
        if isinstance(expected, str):
            assert got == expected, name
        else:
            assert got == pytest.approx(expected, abs=1e-9), name


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e['id_hex']}-{e['data_hex']}" for e in EXAMPLES])
def test_generated_frames_encode_back_byte_for_byte(current: FoxbmsDbc, example: dict[str, Any]) -> None:
    data = bytes.fromhex(example["data_hex"])
    frame = decode_frame(current, example["id"], data)
    assert frame.role is not None
    values = {k: v for k, v in frame.signals.items() if not k.endswith("_Mux")}
    assert encode_frame(current, frame.role, values, frame.mux) == (example["id"], data)


def test_real_trace_decodes_exactly_as_cantools_does(current: FoxbmsDbc) -> None:
    decoded = rejected = 0
    for text in TRACE:
        line = parse_line(text)
        try:
            expected = current.db.decode_message(line.can_id, line.data, decode_choices=False)
        except Exception:  # cantools cannot decode it: neither may we, with our own error only
            with pytest.raises(FoxbmsProtocolError):
                decode_frame(current, line.can_id, line.data, line.extended)
            rejected += 1
            continue
        frame = decode_frame(current, line.can_id, line.data, line.extended)
        assert frame.signals == expected, text
        assert frame.message == current.db.get_message_by_frame_id(line.can_id).name
        decoded += 1
    # 0x220, 0x221, 0x240-0x245, 0x250, 0x525/0x526/0x528 are in the DBC; 0x246-0x24F, 0x251 and
    # 0x35C/0x35D are not (shared/fixtures/foxbms/README.md).
    assert (decoded, rejected) == (158, 143)


def test_real_trace_bms_state_frame(current: FoxbmsDbc) -> None:
    # 0x220 03 08 00 01 ... -> BmsState IDLE, EmergencyShutoff active (legacy.md §1.9).
    frame = next(parse_line(t) for t in TRACE if "ID: 0220" in t)
    signals = describe_frame(current, frame.can_id, frame.data)["signals"]
    assert signals["BmsState"] == "IDLE"
    assert signals["EmergencyShutoff"] == "Active"
    assert signals["CanTimingError"] == "Error"


def test_real_trace_with_the_old_dbc_matches_cantools_too(old: FoxbmsDbc) -> None:
    for text in TRACE:
        line = parse_line(text)
        try:
            expected = old.db.decode_message(line.can_id, line.data, decode_choices=False)
        except Exception:
            with pytest.raises(FoxbmsProtocolError):
                decode_frame(old, line.can_id, line.data)
            continue
        assert decode_frame(old, line.can_id, line.data).signals == expected


def test_roles_and_multiplexers(current: FoxbmsDbc) -> None:
    cells = decode_frame(current, 0x250, bytes.fromhex("043682B418000000"))
    assert (cells.role, cells.mux) == ("cell_voltages", 4)
    assert cells.signals["CellVoltage_016"] == 3333
    pack = decode_frame(current, 0x233, bytes.fromhex("05100A1C00A004D2"))
    assert (pack.role, pack.mux) == ("pack_values", None)
    sensor = decode_frame(current, 0x521, bytes(6))  # in the DBC, but not a foxBMS role
    assert sensor.role is None


def test_strings_beyond_string0_decode_with_string0_layout(current: FoxbmsDbc) -> None:
    # The DBC defines only String0; the firmware sends every string with the same layout.
    data = bytes.fromhex("00CA8809A4002800")
    with pytest.raises(Exception):  # noqa: B017, PT011 - cantools itself refuses mux 1
        current.db.decode_message(0x243, bytes([0x20]) + data[1:])
    string1 = decode_frame(current, 0x243, bytes([0x20]) + data[1:])
    string0 = decode_frame(current, 0x243, data)
    assert string1.mux == 1
    assert string1.signals == {**string0.signals, "f_StringValuesP0_Mux": 1}
    assert describe_frame(current, 0x243, bytes([0x20]) + data[1:])["signals"]["f_StringValuesP0_Mux"] == "String1"
    assert encode_frame(current, "string_values", {"Voltage": 64.81, "Current": 12.34, "Power": 0.8}, 1) == (
        0x243,
        bytes([0x20]) + data[1:],
    )


def test_cell_frames_with_undefined_mux_are_rejected(current: FoxbmsDbc) -> None:
    with pytest.raises(FoxbmsProtocolError, match="multiplexer"):
        decode_frame(current, 0x250, bytes([54]) + bytes(7))  # the DBC stops at mux 53


@pytest.mark.parametrize(
    ("can_id", "data", "extended", "match"),
    [
        (0x233, bytes(7), False, "7 data bytes"),
        (0x233, bytes(9), False, "9 data bytes"),
        (0x35C, bytes(8), False, "not in the current DBC"),
        (0x233, bytes(8), True, "11-bit"),
        (0x800, bytes(8), False, "11-bit"),
    ],
)
def test_protocol_errors(current: FoxbmsDbc, can_id: int, data: bytes, extended: bool, match: str) -> None:
    with pytest.raises(FoxbmsProtocolError, match=match):
        decode_frame(current, can_id, data, extended)


def test_encoding_clamps_to_what_the_bits_carry(current: FoxbmsDbc) -> None:
    _, data = encode_frame(current, "pack_values", {"BatteryVoltage": 99999.0, "Current": -99999.0})
    frame = decode_frame(current, 0x233, data)
    assert frame.signals["BatteryVoltage"] == pytest.approx(1638.3)  # 15-bit signed x 0.1
    assert frame.signals["Current"] == pytest.approx(-655.36)  # 17-bit signed x 0.01
    with pytest.raises(FoxbmsProtocolError, match="no signals"):
        encode_frame(current, "pack_values", {"Nonsense": 1})
    with pytest.raises(FoxbmsProtocolError, match="no system_state"):
        encode_frame(_old(current), "system_state", {})


def _old(current: FoxbmsDbc) -> FoxbmsDbc:
    from trackingbms_foxbms.dbc import BUNDLED, Layout, load_dbc

    return load_dbc(BUNDLED[Layout.V1_6], Layout.V1_6)


# Identifiers of both layouts plus random ones: most fuzz cases hit a real message.
_IDS = st.one_of(
    st.sampled_from([0x210, 0x219, 0x220, 0x221, 0x222, 0x233, 0x235, 0x240, 0x243, 0x245, 0x250, 0x260, 0x281]),
    st.integers(min_value=0, max_value=0x1FFFFFFF),
)


@settings(max_examples=400, deadline=None)
@given(can_id=_IDS, data=st.binary(min_size=0, max_size=8), extended=st.booleans())
def test_fuzzing_raises_only_the_protocol_error(current: FoxbmsDbc, can_id: int, data: bytes, extended: bool) -> None:
    for dbc in (current, _old(current)):
        try:
            frame = decode_frame(dbc, can_id, data, extended)
        except FoxbmsProtocolError:
            continue
        assert all(isinstance(v, float) for v in frame.signals.values())
        describe_frame(dbc, can_id, data, extended)  # decodable frames can always be described
