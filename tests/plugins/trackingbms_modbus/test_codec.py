"""Register codec: every type and word order both ways, known vectors, and fuzzing of the decoder."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trackingbms_modbus.codec import (
    CodecError,
    decode_register,
    encode_register,
    int_to_words,
    out_of_range,
    words_to_int,
)
from trackingbms_modbus.regmap.model import Function, Register, ValueType


def reg(value_type: ValueType, **changes: Any) -> Register:
    function = Function.COILS if value_type == ValueType.BOOL else Function.HOLDING
    base: dict[str, Any] = {"name": "r", "address": 0, "function": function, "type": value_type}
    return Register(**{**base, **changes})


def test_word_orders_of_a_32_bit_number() -> None:
    assert words_to_int([0x1234, 0x5678], "big") == 0x12345678
    assert words_to_int([0x1234, 0x5678], "little") == 0x56781234
    assert int_to_words(0x12345678, 2, "big") == [0x1234, 0x5678]
    assert int_to_words(0x12345678, 2, "little") == [0x5678, 0x1234]


def test_seplos_ems_vectors_low_word_first() -> None:
    # Seplos V0.3 EIA: "14 A4 00 00 = 52.84 V" and "FF 9C FF FF = -10.0 A" (32-bit, low word first).
    voltage = reg(ValueType.U32, word_order="little", scale=0.01)
    current = reg(ValueType.S32, word_order="little", scale=0.1)
    assert decode_register(voltage, [0x14A4, 0x0000]).value == 52.84
    assert decode_register(current, [0xFF9C, 0xFFFF]).value == -10.0
    assert encode_register(current, -10.0) == [0xFF9C, 0xFFFF]


@pytest.mark.parametrize(
    ("value_type", "words", "raw"),
    [
        (ValueType.U16, [0xFFFF], 65535),
        (ValueType.S16, [0xFFFF], -1),
        (ValueType.S16, [0x8000], -32768),
        (ValueType.U32, [0xFFFF, 0xFFFE], 0xFFFFFFFE),
        (ValueType.S32, [0xFFFF, 0xFFFE], -2),
        (ValueType.S32, [0x7FFF, 0xFFFF], 2**31 - 1),
    ],
)
def test_integer_types(value_type: ValueType, words: list[int], raw: int) -> None:
    decoded = decode_register(reg(value_type), words)
    assert decoded.raw == raw
    assert encode_register(reg(value_type), raw) == words


@pytest.mark.parametrize("order", ["big", "little"])
def test_float32_both_word_orders(order: str) -> None:
    register = reg(ValueType.FLOAT32, word_order=order)
    words = encode_register(register, 3.25)
    assert decode_register(register, words).value == 3.25
    expected = [0x4050, 0x0000] if order == "big" else [0x0000, 0x4050]  # IEEE 754: 3.25 = 0x40500000
    assert words == expected


def test_float32_nan_is_absent() -> None:
    assert decode_register(reg(ValueType.FLOAT32), [0x7FC0, 0x0000]).value is None


def test_string_stops_at_nul_and_pads_when_encoded() -> None:
    register = reg(ValueType.STRING, length=4)
    words = encode_register(register, "RENOGY")
    assert words == [0x5245, 0x4E4F, 0x4759, 0x0000]
    assert decode_register(register, words).value == "RENOGY"
    assert decode_register(register, [0x3100, 0x4142, 0, 0]).value == "1"


def test_bitfield_bits_follow_the_word_order() -> None:
    register = reg(ValueType.BITFIELD, length=2, word_order="little")
    decoded = decode_register(register, [0x0001, 0x8000])  # low word first: value 0x80000001
    assert decoded.value == 0x80000001
    assert decoded.bits[0] and decoded.bits[31] and not any(decoded.bits[1:31])
    assert encode_register(register, [True] + [False] * 30 + [True]) == [0x0001, 0x8000]


def test_bool_entries_are_coil_lists() -> None:
    register = reg(ValueType.BOOL, count=3)
    assert decode_register(register, [True, False, True]).bits == (True, False, True)
    assert encode_register(register, [False, True]) == [False, True, False]


def test_scale_offset_round_to_the_resolution() -> None:
    kelvin = reg(ValueType.U16, scale=0.1, offset=-273.1)  # Seplos 0.1 K
    assert decode_register(kelvin, [0x0B80]).value == 21.3
    assert encode_register(kelvin, 21.3) == [0x0B80]
    volts = reg(ValueType.U16, scale=0.01)
    assert decode_register(volts, [5281]).value == 52.81  # not 52.810000000000002


def test_arrays_absent_values_and_saturation() -> None:
    cells = reg(ValueType.U16, count=3, scale=0.001, absent=frozenset({0xFFFF}))
    assert decode_register(cells, [3300, 0xFFFF, 3301]).value == [3.3, None, 3.301]
    assert encode_register(cells, [3.3, None]) == [3300, 0xFFFF, 0xFFFF]
    assert encode_register(reg(ValueType.S16), 99999) == [0x7FFF]  # clamped like a BMS display
    assert encode_register(reg(ValueType.U16), -5) == [0]


def test_wrong_number_of_words_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="expected 2 values"):
        decode_register(reg(ValueType.U32), [1])


def test_range_check_ignores_absent_values() -> None:
    register = reg(ValueType.U16, valid_range=(0.0, 5.0), unit="V")
    assert out_of_range(register, [3.3, None]) is None
    assert out_of_range(register, [3.3, 65.535]) == "r = 65.535 V is outside [0.0, 5.0]"


_NUMERIC = [ValueType.U16, ValueType.S16, ValueType.U32, ValueType.S32, ValueType.FLOAT32]


@st.composite
def registers(draw: st.DrawFn) -> Register:
    value_type = draw(st.sampled_from(list(ValueType)))
    scale = draw(st.sampled_from([1.0, 0.1, 0.01, 0.001, 10.0, -0.5]))
    return reg(
        value_type,
        count=draw(st.integers(1, 8)) if value_type in (*_NUMERIC, ValueType.BOOL) else 1,
        length=draw(st.integers(1, 4)),
        word_order=draw(st.sampled_from(["big", "little"])),
        scale=scale,
        offset=draw(st.sampled_from([0.0, -273.1, 40.0])),
        absent=frozenset(draw(st.lists(st.integers(0, 0xFFFF), max_size=2))),
    )


@settings(max_examples=300, deadline=None)
@given(registers(), st.data())
def test_decoder_fuzz_raises_only_codec_errors(register: Register, data: st.DataObject) -> None:
    # Any words, of any length: the decoder either decodes or raises CodecError (a DataError).
    size = data.draw(st.one_of(st.just(register.width), st.integers(0, 12)))
    words: list[Any] = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=size, max_size=size))
    if register.type == ValueType.BOOL:
        words = [bool(w & 1) for w in words]
    try:
        decoded = decode_register(register, words)
    except CodecError:
        assert size != register.width
        return
    values = decoded.value if isinstance(decoded.value, list) else [decoded.value]
    assert all(v is None or isinstance(v, bool | int | float | str) for v in values)


_BOUNDS = {
    ValueType.U16: (0, 0xFFFF),
    ValueType.S16: (-0x8000, 0x7FFF),
    ValueType.U32: (0, 0xFFFF_FFFF),
    ValueType.S32: (-0x8000_0000, 0x7FFF_FFFF),
}


@settings(max_examples=300, deadline=None)
@given(registers(), st.data())
def test_encode_then_decode_round_trips_within_the_scale(register: Register, data: st.DataObject) -> None:
    if register.type == ValueType.BITFIELD:
        number = data.draw(st.integers(0, 2 ** (16 * register.length) - 1))
        assert decode_register(register, encode_register(register, number)).value == number
        return
    if not register.type.numeric:
        return
    value = data.draw(st.floats(-30000, 30000, allow_nan=False))
    got = decode_register(register, encode_register(register, [value] * register.count)).value
    got = got if register.count == 1 else got[0]
    if register.type == ValueType.FLOAT32:
        assert got == pytest.approx(value, rel=1e-6, abs=1e-3)
        return
    raw = round((value - register.offset) / register.scale)
    low, high = _BOUNDS[register.type]
    if not low <= raw <= high or raw in register.absent:
        return  # saturated, or encoded as the absent marker
    assert math.isclose(got, value, abs_tol=abs(register.scale) / 2 + 1e-6)
