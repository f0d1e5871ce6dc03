"""Green-BMS token values and line shapes: the fixture lines decode to their listed values, and back."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trackingbms_greenbms.codec import FLAG_NAMES, PARAMETERS, arduino_float, decode_token
from trackingbms_greenbms.device import DEFAULT_PARAMETERS
from trackingbms_greenbms.errors import GreenBmsProtocolError
from trackingbms_greenbms.framing import Token, parse_line
from trackingbms_greenbms.messages import (
    CellData,
    Cells,
    Heartbeat,
    KeepAliveMarker,
    Overview,
    Parameters,
    SettingsEnd,
    decode_line,
    encode_cells,
    encode_heartbeat,
    encode_keepalive_marker,
    encode_overview,
    encode_parameters,
    encode_settings_end,
)

FIXTURES = Path(__file__).parents[2] / "fixtures/green-bms"
# Generated from the firmware's println statements; expected values transcribed from their
# "meaning" texts (tests/fixtures/green-bms/README.md).
PROTOCOL = json.loads((FIXTURES / "bluetooth_protocol.json").read_text())
EXPECTED = json.loads((FIXTURES / "expected_decoded.json").read_text())
# Hypothesis runs without per-example deadlines here: the test machine is shared and often loaded.
KINDS = {
    "overview": Overview,
    "cells": Cells,
    "parameters": Parameters,
    "keepalive_marker": KeepAliveMarker,
    "settings_end": SettingsEnd,
    "heartbeat": Heartbeat,
}
# bluetooth_protocol.json "defaults_from_eeprom_init" keys -> parameter numbers (its #pNNN table).
DEFAULT_KEYS = {
    "password": 2, "capacity_Ah": 12, "cells": 14, "very_high_mV": 24, "very_high_reset_mV": 26, "high_mV": 28,
    "high_reset_mV": 30, "balance_mV": 32, "balance_reset_mV": 34, "low_mV": 36, "low_reset_mV": 38,
    "status_time_ms": 40, "timeout_ms": 44, "pole_temp_high_C": 48, "pole_temp_reset_C": 50, "bal_temp_high_C": 52,
    "bal_temp_reset_C": 54, "bal_diff_on_mV": 56, "bal_diff_off_mV": 58, "bal_percentage": 60,
    "volt_charge_offset_mV": 62, "current_max_A": 70, "current_min_A": 72, "current_gain": 74, "current_offset_mA": 76,
}  # fmt: skip


def _tokens(line: str) -> tuple[Token, ...]:
    return parse_line(line.encode()).tokens


@pytest.mark.parametrize("entry", EXPECTED, ids=[e["line"][:24] for e in EXPECTED])
def test_fixture_tokens_decode_to_their_listed_values(entry: dict[str, Any]) -> None:
    decoded = {d.token.code: d.value for d in map(decode_token, _tokens(entry["line"]))}
    assert decoded.keys() == entry["values"].keys()
    for code, expected in entry["values"].items():
        assert decoded[code] == (pytest.approx(expected) if isinstance(expected, float) else expected), code
    for code, flags in entry.get("flags", {}).items():
        bits = decoded[code]
        assert [name for name, bit in zip(FLAG_NAMES, bits, strict=True) if bit == "1"] == flags


@pytest.mark.parametrize("entry", EXPECTED, ids=[e["line"][:24] for e in EXPECTED])
def test_fixture_lines_decode_to_their_kind_and_encode_back_byte_exact(entry: dict[str, Any]) -> None:
    message = decode_line(_tokens(entry["line"]))
    assert isinstance(message, KINDS[entry["kind"]])
    assert _encode(message, entry["line"]) == entry["line"].encode() + b"\r\n"


def _encode(message: Any, line: str) -> bytes:
    if isinstance(message, Overview):
        return encode_overview(message)
    if isinstance(message, Cells):
        return encode_cells(message.cells)
    if isinstance(message, Parameters):
        return encode_parameters(message.values, [t.number for t in _tokens(line)])
    if isinstance(message, Heartbeat):
        return encode_heartbeat(message.counter, message.alarm)
    return encode_keepalive_marker() if isinstance(message, KeepAliveMarker) else encode_settings_end()


def test_the_settings_dump_carries_the_factory_defaults() -> None:
    dump: dict[int, int] = {}
    for entry in PROTOCOL["generated_lines"]:
        if entry["page"] == 4 and "#p" in entry["line"]:
            message = decode_line(_tokens(entry["line"]))
            assert isinstance(message, Parameters)
            dump.update(message.values)
    defaults = {DEFAULT_KEYS[key]: value for key, value in PROTOCOL["defaults_from_eeprom_init"].items()}
    assert dump == defaults == DEFAULT_PARAMETERS
    assert set(dump) == set(PARAMETERS)


def test_cells_of_a_line_carry_flags_and_temperatures() -> None:
    message = decode_line(_tokens(EXPECTED[8]["line"]))
    assert isinstance(message, Cells)
    low, lost = message.cells
    assert (low.index, low.voltage, low.flags) == (15, 2.85, frozenset({"low_voltage"}))
    assert (lost.index, lost.voltage, lost.pole_temperature, lost.flags) == (16, 0.0, -40, frozenset({"error"}))


@pytest.mark.parametrize(
    "token",
    [
        "#v0013.3",  # 1 decimal: a truncated "3.32"
        "#g0025",  # |I| < 10 A is printed with 2 decimals
        "#g00225.00",  # |I| >= 10 A is printed with 0 decimals
        "#g0015",  # pack voltage has 1 decimal
        "#t001200",  # beyond the 125 °C of a mapped byte
        "#z0010120",  # flags are 0/1
        "#z00100000",  # 5 flags
        "#g003101",  # SOC above 100
        "#i0012",  # the global alarm is 0 or 1
        "#v0003.30",  # cells count from 1
        "#x001",  # unknown letter
        "#p0991",  # unknown parameter
        "#g007",  # unknown overview field
        "#m0001",  # the marker has no value
        "#g001nan",  # Arduino prints nan for a broken float
    ],
)
def test_values_the_firmware_cannot_print_are_protocol_errors(token: str) -> None:
    (parsed,) = _tokens(f"${token}$")
    with pytest.raises(GreenBmsProtocolError):
        decode_token(parsed)


@pytest.mark.parametrize(
    "line",
    [
        # Two lines run together after a lost line end.
        "$#g00153.1$#g0025.50$#g00367$#g0043.35$#g0053.29$#g0061$#m000$",
        # A cells line that lost bytes in the middle: cell numbers no longer pair up.
        "$#v0013.32$#t00125$#u00224$#z002000000$#v0023.31$#t00225$#u00224$#z002000000$",
        # Cells k and k+1 with k even is not a line the firmware prints.
        "$#v0023.32$#t00225$#u00224$#z002000000$#v0033.31$#t00325$#u00324$#z003000000$",
        # Parameters in an order no line has.
        "$#p01416$#p01260$",
        "$#i000123$",
    ],
)
def test_lines_the_firmware_does_not_send_are_protocol_errors(line: str) -> None:
    with pytest.raises(GreenBmsProtocolError, match="no line of"):
        decode_line(_tokens(line))


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [(5.5, 2, "5.50"), (-25.0, 0, "-25"), (3.325, 2, "3.33"), (53.05, 1, "53.1"), (-0.5, 2, "-0.50"), (0.0, 2, "0.00")],
)
def test_arduino_float_formatting(value: float, decimals: int, text: str) -> None:
    assert arduino_float(value, decimals) == text


_VOLTS = st.integers(min_value=0, max_value=5000).map(lambda mv: mv / 1000)
_TEMPS = st.integers(min_value=-40, max_value=125)
_FLAGS = st.frozensets(st.sampled_from(FLAG_NAMES))


@settings(deadline=None)
@given(
    st.integers(min_value=0, max_value=19).map(lambda k: 2 * k + 1),
    st.tuples(_VOLTS, _TEMPS, _TEMPS, _FLAGS),
    st.tuples(_VOLTS, _TEMPS, _TEMPS, _FLAGS),
)
def test_cells_round_trip_at_10_mv(first: int, a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    cells = (CellData(first, *a), CellData(first + 1, *b))
    message = decode_line(parse_line(encode_cells(cells).rstrip()).tokens)
    assert isinstance(message, Cells)
    for sent, got in zip(cells, message.cells, strict=True):
        assert got.voltage == pytest.approx(sent.voltage, abs=0.005 + 1e-9)  # half a 10 mV step
        assert (got.index, got.pole_temperature, got.resistor_temperature, got.flags) == (
            sent.index,
            sent.pole_temperature,
            sent.resistor_temperature,
            sent.flags,
        )


@settings(deadline=None)
@given(st.integers(min_value=-400, max_value=400).map(lambda half_amps: half_amps / 2))
def test_currents_in_half_amps_round_trip(current: float) -> None:
    overview = Overview(53.1, current, 50, 3.35, 3.29, 0)
    message = decode_line(parse_line(encode_overview(overview).rstrip()).tokens)
    assert isinstance(message, Overview)
    # Below 10 A exact; above, printed without decimals (x.5 rounds away from zero).
    assert message.current == pytest.approx(current, abs=0 if abs(current) < 10 else 0.5)


_TOKEN_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="$"), max_size=12
)


@settings(deadline=None)
@given(st.sampled_from("gvtuzpmfiax"), st.integers(min_value=0, max_value=999), _TOKEN_TEXT)
def test_decode_token_raises_only_the_protocol_error(letter: str, number: int, value: str) -> None:
    with contextlib.suppress(GreenBmsProtocolError):
        decode_token(Token(letter, number, value))


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_decoding_any_line_raises_only_the_protocol_error(raw: bytes) -> None:
    with contextlib.suppress(GreenBmsProtocolError):
        decode_line(parse_line(raw).tokens)


@settings(deadline=None)
@given(st.lists(st.sampled_from([e["line"] for e in EXPECTED]), min_size=1, max_size=3), st.binary(max_size=8))
def test_fixture_pieces_glued_with_junk_raise_only_the_protocol_error(lines: list[str], junk: bytes) -> None:
    raw = junk.join(line.encode() for line in lines)
    with contextlib.suppress(GreenBmsProtocolError):
        decode_line(parse_line(raw).tokens)
