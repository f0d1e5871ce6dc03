"""Tests for A5 frames and the resynchronising A5Framer against real captured streams."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trackingbms_daly.a5.framing import FRAME_LEN, START, A5Frame, A5Framer, build_frame, checksum
from trackingbms_daly.errors import DalyProtocolError

FIXTURES = json.loads((Path(__file__).parents[2] / "fixtures/daly/frames.json").read_text())
A5_ENTRIES = [e for e in FIXTURES if e["frame_format"] == "a5"]
GOOD = [e for e in A5_ENTRIES if e["checksum_ok"] is True]
FLAGGED_BAD = [e for e in FIXTURES if e["checksum_ok"] is False]
TRUNCATED = [e for e in A5_ENTRIES if e["checksum_ok"] is None]


def _id(entry: dict[str, Any]) -> str:
    return f"{entry['hex'][:14]}|{entry['source'][:60]}"


def _raw(entry: dict[str, Any]) -> bytes:
    return bytes.fromhex(entry["hex"])


def _feed_all(data: bytes, cuts: list[int] | None = None) -> tuple[list[A5Frame], A5Framer]:
    """Feed ``data`` split at ``cuts`` (or byte by byte), then flush."""
    framer = A5Framer()
    bounds = sorted(set(cuts)) if cuts is not None else list(range(len(data)))
    frames: list[A5Frame] = []
    last = 0
    for cut in [*bounds, len(data)]:
        frames += framer.feed(data[last:cut])
        last = max(last, cut)
    return frames + framer.flush(), framer


def _from_source(fragment: str) -> list[dict[str, Any]]:
    return [e for e in A5_ENTRIES if fragment in e["source"]]


# --- single frames ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry", GOOD, ids=_id)
def test_fixture_frame_parses_and_reencodes(entry: dict[str, Any]) -> None:
    raw = _raw(entry)
    frame = A5Frame.parse(raw)
    assert f"0x{frame.data_id:02X}" == entry["decoded"]["data_id"], entry["source"]
    if "address" in entry["decoded"]:
        assert frame.address == int(entry["decoded"]["address"], 16), entry["source"]
    assert frame.raw == raw
    assert _feed_all(raw)[0] == [frame]


@pytest.mark.parametrize("entry", FLAGGED_BAD, ids=_id)
def test_flagged_bad_checksum_entries_are_rejected(entry: dict[str, Any]) -> None:
    # These are the corpus's D2 negative vectors (daly.md §5); A5 must refuse them too.
    with pytest.raises(DalyProtocolError):
        A5Frame.parse(_raw(entry))


@pytest.mark.parametrize("entry", GOOD, ids=_id)
def test_fixture_frame_with_damaged_checksum_is_rejected(entry: dict[str, Any]) -> None:
    raw = bytearray(_raw(entry))
    raw[-1] = (raw[-1] + 1) & 0xFF
    with pytest.raises(DalyProtocolError, match="checksum"):
        A5Frame.parse(bytes(raw))
    assert _feed_all(bytes(raw))[0] == [], entry["source"]


def test_request_checksums_follow_the_documented_shortcut() -> None:
    # daly.md §1.2: zero-data requests sum to (0xED + id) for host 0x40, (0x2D + id) for 0x80.
    for data_id in range(0x90, 0x99):
        assert build_frame(0x40, data_id)[-1] == (0xED + data_id) & 0xFF
        assert build_frame(0x80, data_id)[-1] == (0x2D + data_id) & 0xFF


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (bytes.fromhex("A5 01 90 08 00 00 00 00 00 00 00 00"), "13 bytes"),
        (bytes.fromhex("A6 01 90 08 00 00 00 00 00 00 00 00 3E"), "starts"),
        (bytes.fromhex("A5 01 90 07 00 00 00 00 00 00 00 00 3D"), "length byte"),
        (bytes.fromhex("A5 01 90 08 00 00 00 00 00 00 00 00 00"), "checksum"),
    ],
)
def test_parse_rejects_malformed_frames(raw: bytes, message: str) -> None:
    with pytest.raises(DalyProtocolError, match=message):
        A5Frame.parse(raw)


@pytest.mark.parametrize(
    ("address", "data_id", "data"),
    [(0x40, 0x90, bytes(7)), (0x40, 0x90, bytes(9)), (256, 0x90, bytes(8)), (0x40, -1, bytes(8))],
)
def test_build_frame_and_a5frame_validate_their_fields(address: int, data_id: int, data: bytes) -> None:
    with pytest.raises(DalyProtocolError):
        build_frame(address, data_id, data)
    with pytest.raises(DalyProtocolError):
        A5Frame(address, data_id, data)


def test_checksum_is_the_low_byte_of_the_sum() -> None:
    assert checksum(bytes([0xFF, 0xFF, 0x03])) == 0x01
    assert checksum(b"") == 0


# --- streams from the corpus -------------------------------------------------------------------


def test_louisvdw_165_truncated_frame_five_then_frame_six_and_a_late_0x90() -> None:
    # https://github.com/Louisvdw/dbus-serialbattery/issues/165: frame 5 arrived as 9 bytes,
    # frame 6 followed at once, and a late 0x90 answer ended the buffer (daly.md §1.5).
    entries = _from_source("dbus-serialbattery/issues/165")
    stream = b"".join(_raw(e) for e in entries)
    expected = [A5Frame.parse(_raw(e)) for e in entries if e["checksum_ok"]]
    for cuts in (None, [], [9 * 13 // 2], [4 * 13 + 4, 4 * 13 + 9]):
        frames, framer = _feed_all(stream, cuts)
        assert frames == expected
        assert framer.skipped_bytes == 9
    assert [f.data[0] for f in expected if f.data_id == 0x95] == [1, 2, 3, 4, 6]
    assert expected[-1].data_id == 0x90


@pytest.mark.parametrize("truncated", TRUNCATED, ids=_id)
@pytest.mark.parametrize("follower", GOOD, ids=_id)
def test_truncated_entry_never_swallows_the_next_frame(truncated: dict[str, Any], follower: dict[str, Any]) -> None:
    frames, _ = _feed_all(_raw(truncated) + _raw(follower), cuts=[])
    assert frames == [A5Frame.parse(_raw(follower))], truncated["source"]


def test_mpp_solar_16_frame_burst_then_0x90_in_random_splits() -> None:
    # mpp-solar's 0x95 test response: all 16 frames for a 16S pack (daly.md §1.4 0x95).
    burst = [e for e in _from_source("mpp-solar:mppsolar") if e["decoded"]["data_id"] == "0x95"]
    late = next(e for e in _from_source("mpp-solar:mppsolar") if e["decoded"]["data_id"] == "0x90")
    stream = b"".join(_raw(e) for e in [*burst, late])
    expected = [A5Frame.parse(_raw(e)) for e in [*burst, late]]
    rng = random.Random(165)
    for _ in range(50):
        cuts = [rng.randrange(len(stream)) for _ in range(rng.randrange(10))]
        assert _feed_all(stream, cuts)[0] == expected
    assert len(expected) == 17


# --- synthetic streams -------------------------------------------------------------------------

FRAME_A = build_frame(0x01, 0x95, bytes.fromhex("01 0D 16 0D 14 0D 0D 60"))
FRAME_B = build_frame(0x01, 0x95, bytes.fromhex("02 0D 18 0D 1C 0D 22 60"))
FRAME_C = build_frame(0x01, 0x90, bytes.fromhex("02 1C 00 00 76 56 02 86"))


def test_byte_by_byte_equals_one_chunk() -> None:
    stream = FRAME_A + FRAME_B + FRAME_C
    assert _feed_all(stream)[0] == _feed_all(stream, [])[0] == [A5Frame.parse(f) for f in (FRAME_A, FRAME_B, FRAME_C)]


def test_junk_between_frames_is_skipped_and_counted() -> None:
    junk = bytes(range(0x10, 0x40))
    frames, framer = _feed_all(junk + FRAME_A + junk + FRAME_B + junk, cuts=[7, 30, 70])
    assert frames == [A5Frame.parse(FRAME_A), A5Frame.parse(FRAME_B)]
    assert framer.skipped_bytes == 3 * len(junk)


@pytest.mark.parametrize("length", range(1, FRAME_LEN))
def test_every_truncation_followed_by_a_complete_frame(length: int) -> None:
    frames, framer = _feed_all(FRAME_A[:length] + FRAME_B)
    assert frames == [A5Frame.parse(FRAME_B)]
    assert framer.skipped_bytes == length


def test_truncated_frame_is_rejected_even_when_its_checksum_happens_to_fit() -> None:
    # Build a 9-byte stub whose 13-byte window (stub + next header) has a valid checksum:
    # only the overlap rule can reject it.
    nxt = build_frame(0x01, 0x95, bytes.fromhex("06 0D 32 0D 34 0D 31 90"))
    stub = bytearray(bytes.fromhex("A5 01 95 08 05 0D 30 0D 00"))
    stub[8] = (nxt[3] - checksum(bytes(stub[:8]) + nxt[:3])) & 0xFF
    assert checksum(bytes(stub) + nxt[:3]) == nxt[3]
    for cuts in (None, []):
        assert _feed_all(bytes(stub) + nxt, cuts)[0] == [A5Frame.parse(nxt)]


def test_frame_with_a_header_lookalike_at_its_end_waits_then_flush_emits_it() -> None:
    # d6 = A5 and d7 = the address: the next 3 bytes could start an overlapping frame.
    frame = build_frame(0x01, 0x91, bytes.fromhex("0D 00 0F 0C FE 01 A5 01"))
    framer = A5Framer()
    assert framer.feed(frame) == []
    assert framer.pending == FRAME_LEN
    assert framer.flush() == [A5Frame.parse(frame)]
    assert framer.pending == 0
    # Followed by a real frame the lookalike is disproved and both come out at once.
    framer.reset()
    assert framer.feed(frame + FRAME_A) == [A5Frame.parse(frame), A5Frame.parse(FRAME_A)]


def test_reset_drops_pending_bytes() -> None:
    framer = A5Framer()
    assert framer.feed(FRAME_A[:7]) == []
    framer.reset()
    assert framer.pending == 0
    assert framer.feed(FRAME_A[7:]) == []
    assert framer.flush() == []


def test_flush_drops_an_incomplete_tail() -> None:
    framer = A5Framer()
    assert framer.feed(FRAME_A + FRAME_B[:5]) == [A5Frame.parse(FRAME_A)]
    assert framer.flush() == []
    assert framer.skipped_bytes == 5
    assert framer.feed(FRAME_C) == [A5Frame.parse(FRAME_C)]


def test_megabytes_of_junk_do_not_grow_the_buffer() -> None:
    framer = A5Framer()
    for _ in range(100):
        assert framer.feed(bytes([START, 0x01, 0x95, 0x08]) * 4096) == []
        assert framer.pending <= 15


# --- properties --------------------------------------------------------------------------------

_NO_START = st.binary(max_size=20).map(lambda b: b.replace(bytes([START]), b""))


_NOT_START = st.integers(0, 255).filter(lambda b: b != START)


@st.composite
def _clean_frames(draw: st.DrawFn, address: int | None = None) -> bytes:
    """A valid frame with no 0xA5 after its start byte (so nothing inside it looks like a start)."""
    addr = address if address is not None else draw(_NOT_START)
    data = bytes(draw(st.lists(_NOT_START, min_size=8, max_size=8)))
    frame = build_frame(addr, draw(_NOT_START), data)
    if frame[-1] == START:  # only the checksum can still be 0xA5; nudge d0 to change it
        frame = build_frame(addr, frame[2], bytes([data[0] ^ 0x01, *data[1:]]))
    return frame


@st.composite
def _damaged_streams(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    frames = draw(st.lists(_clean_frames(), max_size=8))
    parts: list[bytes] = []
    for frame in frames:
        parts.append(draw(_NO_START))
        if draw(st.booleans()):
            # A frame cut short by the same BMS, as in Louisvdw #165.
            stub = draw(_clean_frames(address=frame[1]))
            parts.append(stub[: draw(st.integers(1, FRAME_LEN - 1))])
        parts.append(frame)
    parts.append(draw(_NO_START))
    return frames, b"".join(parts)


_CUTS = st.lists(st.integers(0, 400), max_size=30)
_STREAMY = st.lists(
    st.one_of(
        st.binary(max_size=16),
        st.sampled_from([bytes([START]), bytes([START, 0x01]), b"\x08", bytes([START, 0x01, 0x95, 0x08])]),
        _clean_frames(),
        _clean_frames(address=0x01).map(lambda f: f[: FRAME_LEN // 2]),
    ),
    max_size=20,
).map(b"".join)


@given(data=st.binary(max_size=300), cuts=_CUTS)
def test_property_arbitrary_bytes_never_raise_and_frames_always_parse(data: bytes, cuts: list[int]) -> None:
    framer = A5Framer()
    last, frames = 0, []
    for cut in sorted(c for c in cuts if c <= len(data)):
        frames += framer.feed(data[last:cut])
        assert framer.pending <= 15
        last = cut
    frames += framer.feed(data[last:]) + framer.flush()
    for frame in frames:
        assert A5Frame.parse(frame.raw) == frame


@given(case=_damaged_streams(), cuts=_CUTS)
def test_property_valid_frames_survive_junk_and_truncation(case: tuple[list[bytes], bytes], cuts: list[int]) -> None:
    frames, stream = case
    got, _ = _feed_all(stream, [c for c in cuts if c <= len(stream)])
    assert [f.raw for f in got] == frames


@given(stream=_STREAMY, cuts=_CUTS)
def test_property_output_does_not_depend_on_chunking(stream: bytes, cuts: list[int]) -> None:
    whole, whole_framer = _feed_all(stream, [])
    split, split_framer = _feed_all(stream, [c for c in cuts if c <= len(stream)])
    assert split == whole
    assert split_framer.skipped_bytes == whole_framer.skipped_bytes
    # Every byte is either part of an emitted frame or counted as skipped.
    assert whole_framer.skipped_bytes + FRAME_LEN * len(whole) == len(stream)
