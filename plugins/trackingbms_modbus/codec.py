"""Pure conversions between register words (or coil bits) and engineering values, both ways."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hub.specs import DataError
from trackingbms_modbus.regmap.model import Register, ValueType

__all__ = [
    "CodecError",
    "Decoded",
    "decode_register",
    "encode_register",
    "int_to_words",
    "out_of_range",
    "words_to_int",
]

_BOUNDS: dict[ValueType, tuple[int, int]] = {
    ValueType.U16: (0, 0xFFFF),
    ValueType.S16: (-0x8000, 0x7FFF),
    ValueType.U32: (0, 0xFFFF_FFFF),
    ValueType.S32: (-0x8000_0000, 0x7FFF_FFFF),
}


class CodecError(DataError):
    """Words that cannot make the entry's value (wrong size, or a value outside the entry's range)."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """One entry read back: raw numbers as on the wire and the value in the entry's unit.

    ``value`` is a number (None when absent), a list of those for count > 1, a string, an int for
    a bitfield, or a list of bools for coils. ``bits`` holds the bits of bitfield and bool entries.
    """

    register: Register
    raw: Any
    value: Any
    bits: tuple[bool, ...] = ()


def words_to_int(words: Sequence[int], word_order: str = "big") -> int:
    """Unsigned integer from 16-bit words; "big": first word most significant (ABCD), "little": CDAB."""
    ordered = words if word_order == "big" else list(reversed(words))
    number = 0
    for word in ordered:
        number = (number << 16) | (word & 0xFFFF)
    return number


def int_to_words(number: int, count: int, word_order: str = "big") -> list[int]:
    """The inverse of words_to_int (the number is taken modulo 2**(16*count))."""
    number &= (1 << (16 * count)) - 1
    words = [(number >> (16 * (count - 1 - i))) & 0xFFFF for i in range(count)]
    return words if word_order == "big" else list(reversed(words))


def _signed(number: int, bits: int) -> int:
    return number - (1 << bits) if number >= 1 << (bits - 1) else number


def _raw_number(register: Register, words: Sequence[int]) -> int | float:
    combined = words_to_int(words, register.word_order)
    if register.type == ValueType.S16:
        return _signed(combined, 16)
    if register.type == ValueType.S32:
        return _signed(combined, 32)
    if register.type == ValueType.FLOAT32:
        value: float = struct.unpack(">f", combined.to_bytes(4, "big"))[0]
        return value
    return combined


def _decimals(number: float) -> int:
    exponent = Decimal(repr(number)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _scaled(register: Register, raw: int | float) -> float | int | None:
    if isinstance(raw, int) and raw in register.absent:
        return None
    if isinstance(raw, float) and not math.isfinite(raw):
        return None  # float32 NaN is the usual "not available"
    if register.scale == 1.0 and register.offset == 0.0 and isinstance(raw, int):
        value: float | int = raw
    else:
        # Round to the resolution the scale gives: 5281 * 0.01 is 52.81, not 52.810000000000002.
        digits = (
            6 if register.type == ValueType.FLOAT32 else min(9, _decimals(register.scale) + _decimals(register.offset))
        )
        value = round(raw * register.scale + register.offset, digits)
    return value


def out_of_range(register: Register, values: Sequence[Any]) -> str | None:
    """Why values break the entry's ``range`` (None when they do not); absent values are fine."""
    if register.valid_range is None:
        return None
    low, high = register.valid_range
    bad = [v for v in values if isinstance(v, int | float) and not low <= v <= high]
    if not bad:
        return None
    unit = f" {register.unit}" if register.unit else ""
    return f"{register.name} = {bad[0]}{unit} is outside [{low}, {high}]"


def decode_register(register: Register, data: Sequence[int] | Sequence[bool]) -> Decoded:
    """Decode an entry from exactly its own words (or bits); raises CodecError."""
    if len(data) != register.width:
        raise CodecError(f"{register.name}: expected {register.width} values, got {len(data)}")
    if register.type == ValueType.BOOL:
        bits = tuple(bool(b) for b in data)
        return Decoded(register, list(bits), list(bits), bits)
    words = [int(w) & 0xFFFF for w in data]
    if register.type == ValueType.STRING:
        raw = b"".join(w.to_bytes(2, "big") for w in words)
        return Decoded(register, raw.hex(), raw.split(b"\0", 1)[0].decode("latin-1").rstrip())
    if register.type == ValueType.BITFIELD:
        number = words_to_int(words, register.word_order)
        bits = tuple(bool((number >> i) & 1) for i in range(16 * register.length))
        return Decoded(register, number, number, bits)
    size = register.type.words
    raws = [_raw_number(register, words[i * size : (i + 1) * size]) for i in range(register.count)]
    values = [_scaled(register, raw) for raw in raws]
    if register.count == 1:
        return Decoded(register, raws[0], values[0])
    return Decoded(register, raws, values)


def _unscaled(register: Register, value: Any) -> int | float:
    if value is None:
        if register.absent:
            return min(register.absent)
        value = 0.0  # an unused slot reads as 0 (Seplos fills spare sensor slots with 0 degC)
    raw = (float(value) - register.offset) / register.scale
    if register.type == ValueType.FLOAT32:
        return raw
    low, high = _BOUNDS[register.type]
    return max(low, min(high, round(raw)))  # saturate, as a BMS clamps what it cannot show


def _number_words(register: Register, raw: int | float) -> list[int]:
    is_float = register.type == ValueType.FLOAT32
    number = int.from_bytes(struct.pack(">f", float(raw)), "big") if is_float else int(raw)
    return int_to_words(number, register.type.words, register.word_order)


def encode_register(register: Register, value: Any) -> list[int] | list[bool]:
    """The words (or bits) that decode to ``value``: the inverse of decode_register, within the scale."""
    if register.type == ValueType.BOOL:
        bits = list(value) if isinstance(value, list | tuple) else [bool(value)] * register.count
        return [bool(b) for b in (bits + [False] * register.count)[: register.count]]
    if register.type == ValueType.STRING:
        data = str(value or "").encode("latin-1", "replace")[: 2 * register.length].ljust(2 * register.length, b"\0")
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if register.type == ValueType.BITFIELD:
        number = value if isinstance(value, int) else sum(1 << i for i, bit in enumerate(value or ()) if bit)
        return int_to_words(number, register.length, register.word_order)
    values = list(value) if isinstance(value, list | tuple) else [value] * register.count
    values = (values + [None] * register.count)[: register.count]
    words: list[int] = []
    for item in values:
        words.extend(_number_words(register, _unscaled(register, item)))
    return words
