"""Hypothesis: framer and decoders never raise anything but ThingSetError, and splitting never changes lines."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trackingbms_thingset.binary import decode_binary
from trackingbms_thingset.can.isotp import IsoTpReceiver
from trackingbms_thingset.can.reports import MultiFrameAssembler, decode_single, split_report
from trackingbms_thingset.describe import decode_inputs
from trackingbms_thingset.eras import ERAS
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.framing import LineFramer, decode_line, encode_line
from trackingbms_thingset.text import dumps, parse_message
from trackingbms_thingset.values import build_reading, flatten, measures_from_ids, measures_from_names

from tests.plugins.trackingbms_thingset.harness import generated

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REPORT = generated("serial_text_report_mLive_with_crc")["line"].encode()
STARTS = st.sampled_from(list("?=+-!@#:"))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
CBOR = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.binary(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.integers(0, 300) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _lines(data: bytes, chunks: list[int]) -> list[bytes]:
    framer = LineFramer()
    out: list[bytes] = []
    position = 0
    for size in [*chunks, len(data)]:
        out += [line.raw for line in framer.feed(data[position : position + size])]
        position += size
    return out


@FUZZ
@given(st.binary(max_size=400))
def test_serial_path_raises_only_protocol_errors(data: bytes) -> None:
    for line in LineFramer().feed(data + b"\n"):
        with contextlib.suppress(ThingSetError):
            parse_message(decode_line(line.body).text)


@FUZZ
@given(STARTS, st.text(max_size=200))
def test_text_parser_raises_only_protocol_errors(start: str, rest: str) -> None:
    with contextlib.suppress(ThingSetError):
        parse_message(start + rest)


@FUZZ
@given(st.sampled_from(["#mLive ", ":85 ", "=Conf ", "?Meas "]), JSON)
def test_json_payloads_round_trip_through_dumps(prefix: str, payload: Any) -> None:
    with contextlib.suppress(ThingSetError):  # e.g. a report whose payload is not an object
        parse_message(prefix + dumps(payload))


@FUZZ
@given(st.binary(max_size=60), st.lists(st.integers(1, 40), max_size=10))
def test_splitting_never_changes_the_lines(junk: bytes, chunks: list[int]) -> None:
    data = junk + b"\n" + REPORT + junk.replace(b"\n", b"") + b"\n" + REPORT
    assert _lines(data, chunks) == _lines(data, [])
    assert REPORT in _lines(data, chunks)


@FUZZ
@given(st.binary(max_size=120))
def test_binary_decoder_raises_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ThingSetError):
        decode_binary(data)


@FUZZ
@given(st.sampled_from([0x01, 0x02, 0x05, 0x07, 0x1F, 0x85, 0xA4]), st.lists(CBOR, max_size=3))
def test_binary_decoder_on_well_formed_cbor(code: int, items: list[Any]) -> None:
    data = bytes([code]) + b"".join(cbor2.dumps(item) for item in items)
    with contextlib.suppress(ThingSetError):
        decode_binary(data)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 0x1FFFFFFF), st.binary(max_size=8)), max_size=40))
def test_can_decoders_raise_only_protocol_errors(frames: list[tuple[int, bytes]]) -> None:
    assembler = MultiFrameAssembler()
    receiver = IsoTpReceiver(block_size=8)
    for can_id, data in frames:
        assembler.feed(can_id, data)
        with contextlib.suppress(ThingSetError):
            decode_single(can_id, data)
        with contextlib.suppress(ThingSetError):
            receiver.feed(data)


@FUZZ
@given(st.binary(min_size=1, max_size=300), st.integers(1, 253), st.integers(0, 3))
def test_split_and_reassemble_any_report(message: bytes, source: int, msg_no: int) -> None:
    assembler = MultiFrameAssembler()
    done = [r for r in (assembler.feed(*f) for f in split_report(message, source, msg_no)) if r is not None]
    assert done == [(source, message)]


@FUZZ
@given(st.lists(st.text(max_size=80) | st.binary(max_size=30).map(bytes.hex), max_size=4))
def test_decode_tool_always_returns_json(inputs: list[str]) -> None:
    results = decode_inputs(inputs)
    json.dumps(results)
    assert all("input" in result for result in results)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(ERAS["2024"].names | ERAS["2022-05"].names)), JSON, max_size=10))
def test_readings_from_any_values(values: dict[str, Any]) -> None:
    for era in (ERAS["2024"], ERAS["2022-05"]):
        with contextlib.suppress(ThingSetError):
            build_reading("pack", measures_from_names(era, flatten(values)), cells=None)


@FUZZ
@given(st.dictionaries(st.integers(0x70, 0x9F), CBOR, max_size=10), st.integers(0, 40))
def test_readings_from_any_ids(values: dict[int, Any], cells: int) -> None:
    with contextlib.suppress(ThingSetError):
        build_reading("pack", measures_from_ids(ERAS["2023"], values), cells=cells or None)


@FUZZ
@given(st.text(max_size=60), st.booleans())
def test_encode_decode_line_round_trip(message: str, crc: bool) -> None:
    try:
        line = encode_line("?" + message, crc)
    except ThingSetError:
        assert "\n" in message or "\r" in message or any(0xD800 <= ord(c) <= 0xDFFF for c in message)
        return
    assert decode_line(line).text == "?" + message
