"""Green-BMS framing: lines and tokens from the fixture lines, split anywhere, with junk around them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trackingbms_greenbms.errors import GreenBmsProtocolError
from trackingbms_greenbms.framing import MAX_LINE, CommandFramer, Line, LineFramer, command, parse_line, to_int
from trackingbms_greenbms.messages import decode_line

# Generated from the firmware's println statements (tests/fixtures/green-bms/README.md).
FIXTURE = json.loads((Path(__file__).parents[2] / "fixtures/green-bms/bluetooth_protocol.json").read_text())
LINES = [entry["line"].encode() for entry in FIXTURE["generated_lines"]]
STREAM = b"".join(line + b"\r\n" for line in LINES)
# Hypothesis runs without per-example deadlines here: the test machine is shared and often loaded.


def feed_split(data: bytes, cuts: list[int]) -> list[Line]:
    framer = LineFramer()
    lines: list[Line] = []
    last = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        lines += framer.feed(data[last:cut])
        last = max(last, cut)
    return lines


def rebuilt(line: Line) -> bytes:
    return ("$" + "$".join(str(token) for token in line.tokens) + "$").encode()


@pytest.mark.parametrize("raw", LINES, ids=[raw.decode()[:24] for raw in LINES])
def test_fixture_line_splits_into_its_tokens(raw: bytes) -> None:
    line = parse_line(raw)
    assert line.junk == 0
    assert rebuilt(line) == raw
    assert all(len(token.code) == 5 for token in line.tokens)


def test_a_stream_of_every_fixture_line_gives_every_line() -> None:
    lines = LineFramer().feed(STREAM)
    assert [rebuilt(line) for line in lines] == LINES


def test_byte_by_byte_gives_the_same_lines() -> None:
    assert feed_split(STREAM, list(range(len(STREAM)))) == LineFramer().feed(STREAM)


@settings(deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_chunking_gives_the_same_lines(cuts: list[int]) -> None:
    assert feed_split(STREAM, cuts) == LineFramer().feed(STREAM)


@pytest.mark.parametrize(
    ("raw", "tokens", "junk"),
    [
        (b"+CONNECTED$#g00153.1$#g0025.50$", ["#g00153.1", "#g0025.50"], 10),  # junk before the first '$'
        (b"$#g00153.1$noise$#g0025.50$", ["#g00153.1", "#g0025.50"], 5),  # junk between tokens
        (b"$\x00\xff#g00153.1$", ["#g00153.1"], 2),  # noise glued in front of a token
        (b"$#g00153.1$#g0025.5", ["#g00153.1"], 8),  # an unclosed token at the end is dropped
        (b"$#g0015\xe93.1$#g0025.50$", ["#g0025.50"], 10),  # a non-ASCII byte spoils its token
        (b"$#G00153.1$#g01$#g0025.50$", ["#g0025.50"], 13),  # upper case letter, too few digits
        (b"$$#m000$$", ["#m000"], 0),  # empty parts are nothing
        (b"no dollar at all", [], 16),
    ],
)
def test_junk_around_tokens_is_skipped(raw: bytes, tokens: list[str], junk: int) -> None:
    line = parse_line(raw)
    assert [str(token) for token in line.tokens] == tokens
    assert line.junk == junk


def test_junk_between_lines_and_a_lost_line_end() -> None:
    data = b"\xfe\xfe\r\n" + LINES[1] + b"\n" + b"garbage" + b"\r" + LINES[14] + b"\r\n"
    framer = LineFramer()
    lines = framer.feed(data)
    assert [rebuilt(line) for line in lines] == [LINES[1], LINES[14]]
    assert framer.skipped_bytes == 2 + 7


def test_a_line_that_lost_its_end_is_dropped_whole() -> None:
    framer = LineFramer()
    overlong = b"$#g00153.1" * (MAX_LINE // 10 + 5)
    lines = framer.feed(overlong + b"\r\n" + LINES[4] + b"\r\n")
    assert [rebuilt(line) for line in lines] == [LINES[4]]
    assert framer.pending == 0


def test_an_unfinished_line_waits_for_its_end() -> None:
    framer = LineFramer()
    assert framer.feed(LINES[1][:20]) == []
    assert framer.pending == 20
    framer.reset()
    # The rest still holds whole tokens; the line shape check of the codec rejects such a line.
    (rest,) = framer.feed(LINES[1][20:] + b"\r\n")
    assert [token.code for token in rest.tokens] == ["#g003", "#g004", "#g005", "#g006"]
    with pytest.raises(GreenBmsProtocolError, match="no line of"):
        decode_line(rest.tokens)


@settings(deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_never_raise_and_the_buffer_stays_bounded(data: bytes) -> None:
    framer = LineFramer()
    for index in range(0, len(data), 97):
        for line in framer.feed(data[index : index + 97]):
            assert line.tokens
        assert framer.pending <= MAX_LINE


@settings(deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=12), st.lists(st.binary(max_size=12), max_size=12), st.data())
def test_junk_lines_between_good_lines_cost_only_themselves(
    good: list[bytes], junk: list[bytes], data: st.DataObject
) -> None:
    # Junk without line ends or '$', on lines of its own, between good lines.
    cleaned = [bytes(b for b in item if b not in b"$\r\n") for item in junk]
    stream = b"".join(line + b"\r\n" + (cleaned[i] + b"\n" if i < len(cleaned) else b"") for i, line in enumerate(good))
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=20))
    assert [rebuilt(line) for line in feed_split(stream, cuts)] == good


def test_commands_are_one_line_each() -> None:
    assert command("s", 3) == b"#s3\n"
    assert command("m", 999) == b"#m999\n"
    assert command("p", "0243600") == b"#p0243600\n"
    assert command("e", 0) == b"#e0\n"


@pytest.mark.parametrize(("letter", "argument"), [("s", "1.5"), ("x", 1), ("p", "024 3600"), ("m", "abc")])
def test_commands_the_unit_would_mangle_are_refused(letter: str, argument: str | int) -> None:
    with pytest.raises(GreenBmsProtocolError):
        command(letter, argument)


def test_the_unit_keeps_only_its_command_characters() -> None:
    framer = CommandFramer()
    # The app sends "\n\n"; letters outside "shepgqrm" and '.' are dropped by the firmware.
    assert framer.feed(b"#s 3x\n\n#m1") == ["#s3"]
    assert framer.feed(b"2\r#p0243600.5\n") == ["#m12", "#p02436005"]


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("-200", -200), ("12ab", 12), ("", 0), ("x1", 0)])
def test_to_int_is_arduino_string_to_int(text: str, value: int) -> None:
    assert to_int(text) == value
