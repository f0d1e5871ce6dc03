"""CRC-16/MODBUS, Daly Modbus-style frames, builders and the resynchronising framer against the captures."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus.crc import append_crc, crc16_modbus, crc_bytes, has_valid_crc
from trackingbms_daly.modbus.framing import (
    MAX_FRAME_LEN,
    ModbusFrame,
    ModbusFramer,
    Role,
    build_exception,
    build_read_answer,
    build_read_request,
    build_write_multiple,
    build_write_multiple_answer,
    build_write_single,
    x81_answer_address,
    x81_request_address,
)

from tests.plugins.trackingbms_daly.modbus.modbus_vectors import (
    BAD,
    BLUE_80,
    BLUE_SOURCE,
    BTSNOOP,
    ESS_ALARMS,
    ESS_BALANCER,
    FIXTURES,
    GOOD,
    MODBUS,
    entry_id,
    raw,
    role,
)

ADDRESSES = {0xD2, 0x51, 0x52, 0x53}


def _feed(data: bytes, cuts: list[int], role: Role = Role.ANSWER) -> list[ModbusFrame]:
    framer = ModbusFramer(ADDRESSES | {0x81}, role)
    frames: list[ModbusFrame] = []
    last = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        frames += framer.feed(data[last:cut])
        last = max(last, cut)
    return frames + framer.flush()


# --- CRC --------------------------------------------------------------------------------------


def test_crc_check_value() -> None:
    # The catalogue check value of CRC-16/MODBUS.
    assert crc16_modbus(b"123456789") == 0x4B37


@pytest.mark.parametrize(
    ("body", "crc"),
    [
        ("D2 03 00 00 00 3E", "D7 B9"),  # daly.md §0, aiobmsble's D2 probe
        ("81 03 00 00 00 40", "5B FA"),  # daly.md §0, the 0x81 probe
        ("D2 03 00 00 00 50", "56 55"),  # daly.md §3.2: the faker comment's 44 74 is wrong
        ("81 03 00 41 00 3E", "8B CE"),  # daly.md §3.3 RT2
        ("81 03 01 78 00 4A", "5A 18"),  # daly.md §3.3 version block
    ],
)
def test_crc_known_vectors(body: str, crc: str) -> None:
    assert crc_bytes(bytes.fromhex(body)) == bytes.fromhex(crc)
    assert has_valid_crc(append_crc(bytes.fromhex(body)))


@pytest.mark.parametrize("entry", MODBUS, ids=entry_id)
def test_fixture_checksum_flag_matches_crc(entry: dict[str, Any]) -> None:
    assert has_valid_crc(raw(entry)) is entry["checksum_ok"], entry["source"]


# --- single frames ----------------------------------------------------------------------------


@pytest.mark.parametrize("entry", GOOD, ids=entry_id)
def test_fixture_frame_parses_and_reencodes(entry: dict[str, Any]) -> None:
    data = raw(entry)
    frame = ModbusFrame.parse(data, role(entry))
    decoded = entry["decoded"]
    assert frame.address == int(decoded["address"], 16), entry["source"]
    assert frame.function == int(decoded["function"], 16), entry["source"]
    assert frame.raw == data
    if "start_register" in decoded:
        assert frame.register == int(decoded["start_register"], 16), entry["source"]
        assert frame.value == decoded["count"], entry["source"]
    if "register" in decoded:
        assert frame.register == int(decoded["register"], 16), entry["source"]
        assert frame.value == int(decoded["value_or_count"], 16), entry["source"]
    if "byte_count" in decoded:
        assert 2 * len(frame.registers()) == decoded["byte_count"], entry["source"]
    if "registers" in decoded and isinstance(decoded["registers"], list):
        assert [f"0x{v:04X}" for v in frame.registers()] == decoded["registers"], entry["source"]
    values = decoded.get("values_(Daly layout, no byte-count)")
    if values is not None:
        assert [f"0x{v:04X}" for v in frame.registers()] == values, entry["source"]
    assert _feed(data, list(range(len(data))), role(entry)) == [frame]


@pytest.mark.parametrize("entry", BAD, ids=entry_id)
def test_negative_vectors_are_rejected(entry: dict[str, Any]) -> None:
    data = raw(entry)
    with pytest.raises(DalyProtocolError, match="CRC"):
        ModbusFrame.parse(data, role(entry))
    assert _feed(data, [], role(entry)) == [], entry["source"]


def test_builders_reproduce_the_captured_requests() -> None:
    # daly.md §0 probes, §3.1 document 0x10 example and btsnoop RTC write, §3.2 write echo.
    assert build_read_request(0xD2, 0, 62) == bytes.fromhex("D2 03 00 00 00 3E D7 B9")
    assert build_read_request(x81_request_address(1), 0, 64) == bytes.fromhex("81 03 00 00 00 40 5B FA")
    assert build_write_multiple(0xD2, 0x0C, [1, 2]) == bytes.fromhex("D2 10 00 0C 00 02 00 01 00 02 7D 65")
    assert build_write_multiple(0xD2, 0xD4, [0x180B, 0x0709, 0x341C]) == bytes.fromhex(
        "D2 10 00 D4 00 03 18 0B 07 09 34 1C F7 D8"
    )
    assert build_write_multiple_answer(0xD2, 0x0C, 2) == bytes.fromhex("D2 10 00 0C 00 02 92 68")
    assert build_write_single(0xD2, 0xCF, 1) == bytes.fromhex("D2 06 00 CF 00 01 6B 96")
    assert build_read_answer(0xD2, [1]) == bytes.fromhex("D2 03 02 00 01 FC 56")
    assert build_read_answer(x81_answer_address(1), [0xFFFF]) == bytes.fromhex(ESS_BALANCER)


def test_exception_frames_are_five_bytes() -> None:
    data = build_exception(0x51, 0x03, 2)
    assert len(data) == 5 and data[1] == 0x83
    frame = ModbusFrame.parse(data)
    assert frame.is_exception and frame.exception_code == 2
    assert _feed(b"\x00\x11" + data, [1, 3]) == [frame]


@pytest.mark.parametrize(
    "build",
    [
        lambda: build_read_request(0xD2, 0, 0),
        lambda: build_read_request(0xD2, 0x10000, 1),
        lambda: build_read_request(0x100, 0, 1),
        lambda: build_write_single(0xD2, 0xA5, -1),
        lambda: build_write_multiple(0xD2, 0, []),
        lambda: build_read_answer(0xD2, [0x10000]),
        lambda: x81_request_address(16),
    ],
)
def test_builders_refuse_what_does_not_fit(build: Any) -> None:
    with pytest.raises(DalyProtocolError):
        build()


# --- the stream framer ------------------------------------------------------------------------


def test_btsnoop_notification_with_three_answers_splits() -> None:
    # One BLE notification held three D2 answers back to back (daly.md §3.4, entries 90-92).
    parts = [raw(e) for e in FIXTURES if "THREE responses" in e.get("notes", "")]
    assert len(parts) == 3 and all(BTSNOOP in e["source"] for e in FIXTURES if "THREE" in e.get("notes", ""))
    frames = _feed(b"".join(parts), [])
    assert [f.raw for f in frames] == parts


def test_data_bytes_equal_to_the_address_do_not_split_a_frame() -> None:
    blue = bytes.fromhex(BLUE_80)  # BLUE_SOURCE
    assert blue.count(0xD2) >= 4, BLUE_SOURCE
    for cuts in ([], list(range(len(blue))), [4, 5, 6, 100]):
        frames = _feed(blue, cuts)
        assert [f.raw for f in frames] == [blue]
        assert len(frames[0].registers()) == 80


def test_junk_before_between_and_after_frames_is_skipped() -> None:
    # Two real 0x51 answers (ESS_SOURCE) with junk and false starts around them.
    one, two = bytes.fromhex(ESS_BALANCER), bytes.fromhex(ESS_ALARMS)
    junk = bytes([0x00, 0x13, 0x51, 0x99, 0xD2, 0x03, 0x04, 0x01])  # includes false starts
    stream = junk + one + junk + two + junk
    assert [f.raw for f in _feed(stream, [])] == [one, two]
    assert [f.raw for f in _feed(stream, list(range(len(stream))))] == [one, two]


def test_truncated_frame_does_not_swallow_the_next() -> None:
    one, two = bytes.fromhex(ESS_ALARMS), bytes.fromhex(ESS_BALANCER)
    stream = one[:15] + two
    assert [f.raw for f in _feed(stream, [])] == [two]


def test_bad_crc_echo_then_good_echo() -> None:
    # btsnoop: the app's write was echoed with a bad CRC, re-sent, then echoed correctly (§3.4).
    bad, good = (raw(e) for e in MODBUS if e["hex"].startswith("D2 06 00 CF 00 01") and e["direction"] == "response")
    frames = _feed(bad + good, [])
    assert [f.raw for f in frames] == [good]


def test_waiting_candidate_is_decided_by_flush_and_buffer_stays_bounded() -> None:
    framer = ModbusFramer({0xD2})
    assert framer.feed(bytes.fromhex("D2 03 F0") + bytes(100)) == []
    assert 0 < framer.pending <= MAX_FRAME_LEN
    good = bytes.fromhex("D2 03 02 00 01 FC 56")
    assert framer.feed(good) == []  # still inside the false candidate's claimed length
    assert [f.raw for f in framer.flush()] == [good]
    assert framer.pending == 0
    for _ in range(50):
        framer.feed(bytes([0xD2, 0x03, 0xFA]) + bytes(60))
        assert framer.pending <= MAX_FRAME_LEN


def test_request_framer_reads_daly_0x10_lengths() -> None:
    rtc = bytes.fromhex("D2 10 00 D4 00 03 18 0B 07 09 34 1C F7 D8")
    read = build_read_request(0xD2, 0, 62)
    frames = _feed(read + rtc + read, [3, 9, 17], Role.REQUEST)
    assert [f.raw for f in frames] == [read, rtc, read]
    assert frames[1].registers() == (0x180B, 0x0709, 0x341C)


_STREAM = b"".join(
    bytes.fromhex(h)
    for h in (ESS_BALANCER, ESS_ALARMS, "D2 06 00 CF 00 00 AA 56", "00 D2 03 99", BLUE_80, "D2 10 00 0C 00 02 92 68")
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(_STREAM)), max_size=40))
def test_chunking_never_changes_the_frames(cuts: list[int]) -> None:
    assert _feed(_STREAM, cuts) == _feed(_STREAM, [])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_arbitrary_bytes_chunking_invariance(data: bytes, cuts: list[int]) -> None:
    for side in Role:
        framer = ModbusFramer(ADDRESSES, side)
        assert _feed(data, cuts, side) == _feed(data, [], side)
        for frame in framer.feed(data) + framer.flush():
            assert has_valid_crc(frame.raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(list(Role)))
def test_parse_raises_nothing_but_the_protocol_error(data: bytes, role: Role) -> None:
    try:
        frame = ModbusFrame.parse(data, role)
    except DalyProtocolError:
        return
    assert frame.raw == data
    frame.registers()
