"""Declarative register tables of the D2 and 0x81/0x51 families, with their decoder and encoder (daly.md §3)."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trackingbms_daly.errors import DalyProtocolError

__all__ = [
    "ABSENT_TEMPERATURE",
    "CURRENT_OFFSET",
    "Block",
    "Kind",
    "Register",
    "Table",
    "cells",
    "celsius",
    "current",
    "decode_table",
    "encode_table",
    "flag",
    "registers_from",
    "temperatures",
    "text",
]

CURRENT_OFFSET = 30000  # (raw - 30000) * 0.1 A on every Daly family (daly.md §1.8)
# Placeholders of absent sensors: 0 (would read -40 °C), 0xFF (215 °C) and 0xFFFF (daly.md §3.3, §4.11).
ABSENT_TEMPERATURE = frozenset({0x0000, 0x00FF, 0xFFFF})


class Kind(enum.Enum):
    """How a register's raw words become a value."""

    NUMBER = "number"  # (raw + offset) * scale
    FLAG = "flag"  # 0 / non-zero
    TEXT = "text"  # ASCII, two characters per register
    DATE = "date"  # YY MM DD 00 over two registers (daly.md §3.2 0xCC)


@dataclass(frozen=True, slots=True)
class Register:
    """One value: ``words`` registers from ``address``, value = (raw + offset) * scale."""

    name: str
    address: int
    scale: float = 1
    offset: int = 0
    unit: str | None = None
    absent: frozenset[int] = frozenset()  # raw values that mean "no value" (decoded as None)
    words: int = 1  # 2: u32 with the high word first
    kind: Kind = Kind.NUMBER

    def decode(self, regs: Mapping[int, int]) -> Any:
        """This register's value from ``regs`` (address -> raw word); None when absent."""
        words = [regs[self.address + i] for i in range(self.words)]
        if self.kind is Kind.TEXT:
            return _text(words)
        if self.kind is Kind.DATE:
            return _date(words)
        raw = 0
        for word in words:
            raw = raw << 16 | word
        if raw in self.absent:
            return None
        if self.kind is Kind.FLAG:
            return raw != 0
        if isinstance(self.scale, int):
            return raw + self.offset
        # Round to the register's resolution: 646 * 0.1 reads 64.6, not 64.60000000000001.
        return round((raw + self.offset) * self.scale, -math.floor(math.log10(self.scale)))

    def encode(self, value: Any) -> tuple[int, ...]:
        """The raw words for ``value`` (None: the first absent placeholder, or 0)."""
        if self.kind is Kind.TEXT:
            data = str(value).encode("ascii", "replace")[: 2 * self.words].ljust(2 * self.words, b"\0")
            return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
        if value is None:
            raw = min(self.absent) if self.absent else 0
        elif self.kind is Kind.FLAG:
            raw = int(bool(value))
        elif self.kind is Kind.DATE:
            raw = _date_raw(str(value))
        else:
            raw = round(value / self.scale) - self.offset
        if not 0 <= raw < 1 << (16 * self.words) or (value is not None and raw in self.absent):
            raise DalyProtocolError(f"{self.name}={value!r} does not fit its register")
        return tuple(raw >> (16 * (self.words - 1 - i)) & 0xFFFF for i in range(self.words))


Table = tuple[Register, ...]


@dataclass(frozen=True, slots=True)
class Block:
    """A range of registers read with one 0x03 request."""

    name: str
    start: int
    count: int

    @property
    def end(self) -> int:
        """One past the last register."""
        return self.start + self.count


def registers_from(start: int, values: Sequence[int]) -> dict[int, int]:
    """Address -> raw word for ``values`` read from ``start``."""
    return {start + i: v for i, v in enumerate(values)}


def decode_table(table: Iterable[Register], regs: Mapping[int, int]) -> dict[str, Any]:
    """Decode every register of ``table`` that ``regs`` fully holds."""
    return {r.name: r.decode(regs) for r in table if all(r.address + i in regs for i in range(r.words))}


def encode_table(table: Iterable[Register], values: Mapping[str, Any]) -> dict[int, int]:
    """Address -> raw word for the registers named in ``values``."""
    out: dict[int, int] = {}
    for register in table:
        if register.name in values:
            for i, word in enumerate(register.encode(values[register.name])):
                out[register.address + i] = word
    return out


def _text(words: Sequence[int]) -> str:
    # Fields are NUL- or 0xFF-padded, some space-padded in front ("    20260326", ESS dump).
    data = b"".join(w.to_bytes(2, "big") for w in words).translate(bytes.maketrans(b"\0\xff", b"  "))
    return " ".join(data.decode("ascii", "replace").split())


def _date(words: Sequence[int]) -> str | None:
    year, month, day = words[0] >> 8, words[0] & 0xFF, words[1] >> 8
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{2000 + year:04d}-{month:02d}-{day:02d}"


def _date_raw(text: str) -> int:
    try:
        year, month, day = (int(part) for part in text.split("-"))
    except ValueError as err:
        raise DalyProtocolError(f"date {text!r} is not YYYY-MM-DD") from err
    return (year - 2000) << 24 | month << 16 | day << 8


def cells(count: int) -> Table:
    """Cell voltage registers 0x00.. (mV), named cell_1..cell_<count>."""
    return tuple(Register(f"cell_{i + 1}", i, unit="mV") for i in range(count))


def temperatures(first: int, count: int) -> Table:
    """Temperature registers (raw - 40 °C, placeholders absent), named temperature_1..."""
    return tuple(
        Register(f"temperature_{i + 1}", first + i, offset=-40, unit="°C", absent=ABSENT_TEMPERATURE)
        for i in range(count)
    )


def celsius(name: str, address: int) -> Register:
    """One raw - 40 °C register with the absent placeholders."""
    return Register(name, address, offset=-40, unit="°C", absent=ABSENT_TEMPERATURE)


def current(name: str, address: int, scale: float = 0.1) -> Register:
    """A current register: (raw - 30000) * scale A."""
    return Register(name, address, scale, -CURRENT_OFFSET, "A")


def flag(name: str, address: int) -> Register:
    """A 0/1 register."""
    return Register(name, address, kind=Kind.FLAG)


def text(name: str, address: int, words: int) -> Register:
    """An ASCII field of ``words`` registers."""
    return Register(name, address, words=words, kind=Kind.TEXT)
