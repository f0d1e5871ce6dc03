"""Serial framing: CRC-32 suffix vectors, line ends, log lines in between, byte-by-byte splits and junk."""

from __future__ import annotations

import pytest
from trackingbms_thingset.errors import CrcError, NotThingSetError, ThingSetError
from trackingbms_thingset.framing import CrcState, LineFramer, crc32, decode_line, encode_line
from trackingbms_thingset.text import TextReport, parse_message

from tests.plugins.trackingbms_thingset.harness import fixture, generated

GENERATED = fixture("generated_examples.json")["examples"]
# Generated from the SDK's serial.c rules (fixtures README): "<msg> <CRC32 %08X>#".
REQUESTS = [e for e in GENERATED if e["name"] == "serial_text_request_with_crc"]
REPORT = generated("serial_text_report_mLive_with_crc")
# bms-firmware #29: a Zephyr log line and v0.5 reports without CRC on the same UART.
CAPTURE = fixture("captured_messages.json")["captures"][0]["lines"]


@pytest.mark.parametrize("example", REQUESTS, ids=lambda e: e["request"])
def test_request_crc_vectors(example: dict[str, str]) -> None:
    assert f"{crc32(example['request'].encode()):08X}" == example["crc32_hex"]
    assert encode_line(example["request"], crc=True) == example["line"].encode()
    message = decode_line(example["line"].encode())
    assert (message.text, message.crc) == (example["request"], CrcState.VALID)


def test_report_with_crc_and_cr_lf() -> None:
    line = REPORT["line"].encode()
    assert line.endswith(b" 22BAC7F5#\r\n")
    assert encode_line(REPORT["crc32_over"], crc=True, line_end=b"\r\n") == line
    message = decode_line(line)
    assert message.crc is CrcState.VALID and message.text == REPORT["crc32_over"]
    report = parse_message(message.text)
    assert isinstance(report, TextReport) and report.payload["Meas"]["rSOC_pct"] == 67.5


def test_wrong_crc_is_rejected() -> None:
    line = REPORT["line"].replace("22BAC7F5", "22BAC7F4").encode()
    with pytest.raises(CrcError):
        decode_line(line)


def test_lower_case_crc_is_accepted() -> None:
    assert decode_line(b"?Meas 77db2b01#\n").crc is CrcState.VALID


def test_missing_crc_is_accepted_unless_required() -> None:
    line = CAPTURE[2].encode()
    assert decode_line(line).crc is CrcState.ABSENT
    with pytest.raises(CrcError):
        decode_line(line, require_crc=True)


def test_log_line_is_not_thingset() -> None:
    with pytest.raises(NotThingSetError):
        decode_line(CAPTURE[0].encode())


def test_non_utf8_line_is_a_protocol_error() -> None:
    with pytest.raises(ThingSetError):
        decode_line(b"#mLive {\xff}\n")


def _stream() -> bytes:
    # The capture's log line and reports (LF, no CRC), then a current report (CR LF, CRC).
    return b"".join(line.encode() + b"\n" for line in CAPTURE) + str(REPORT["line"]).encode()


def _messages(framer: LineFramer, chunks: list[bytes]) -> list[str]:
    texts = []
    for chunk in chunks:
        for line in framer.feed(chunk):
            try:
                texts.append(decode_line(line.body).text)
            except NotThingSetError:
                continue
    return texts


def test_byte_by_byte_gives_the_same_lines() -> None:
    data = _stream()
    whole = _messages(LineFramer(), [data])
    assert len(whole) == len(CAPTURE) and whole[-1] == REPORT["crc32_over"]
    assert _messages(LineFramer(), [data[i : i + 1] for i in range(len(data))]) == whole
    assert _messages(LineFramer(), [data[i : i + 7] for i in range(0, len(data), 7)]) == whole


def test_junk_around_lines() -> None:
    junk = bytes(range(0x80, 0x100)) + b"\x00\x01\r"
    data = junk + b"\n" + _stream() + b"\n" + junk + b"\n" + REPORT["line"].encode() + junk
    texts = _messages(LineFramer(), [data])
    assert texts[0].startswith("#mSerial") and texts.count(REPORT["crc32_over"]) == 2


def test_overlong_line_is_dropped_and_the_next_one_kept() -> None:
    framer = LineFramer(max_line=100)
    lines = framer.feed(b"#" + b"x" * 500 + b"\n?Meas\n")
    assert [line.body for line in lines] == [b"?Meas"] and framer.dropped == 1


def test_partial_line_is_held_until_its_end() -> None:
    framer = LineFramer()
    assert framer.feed(b"?Me") == [] and framer.flush() == []
    assert [line.raw for line in framer.feed(b"as\r\n")] == [b"?Meas\r\n"]


def test_device_side_backspace_editing() -> None:
    framer = LineFramer(editing=True)
    assert [line.body for line in framer.feed(b"?Mx\x08eas\n")] == [b"?Meas"]


def test_encode_refuses_line_ends_in_messages() -> None:
    with pytest.raises(ThingSetError):
        encode_line("?Meas\n?Conf", crc=False)
