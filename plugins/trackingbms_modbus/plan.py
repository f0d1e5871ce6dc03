"""Read planning: group a map's entries into as few block reads as the device allows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trackingbms_modbus.codec import Decoded, decode_register
from trackingbms_modbus.regmap.model import Function, Register, RegisterMap

__all__ = ["Block", "decode_block", "plan_reads"]


@dataclass(frozen=True, slots=True)
class Block:
    """One read request: ``count`` addresses from ``start`` of one function table, and what they hold."""

    function: Function
    start: int
    count: int
    registers: tuple[Register, ...]
    every: int = 1
    optional: bool = False

    @property
    def end(self) -> int:
        """First address after the block."""
        return self.start + self.count


def _spans_hole(holes: Iterable[tuple[Function | None, int, int]], function: Function, first: int, last: int) -> bool:
    return any((fc is None or fc == function) and low <= last and high >= first for fc, low, high in holes)


def plan_reads(regmap: RegisterMap, max_registers: int | None = None, max_gap: int | None = None) -> list[Block]:
    """Blocks covering every entry, in (function, address) order.

    A block never mixes function tables, poll cadences (``every``) or optional with required
    entries, never holds more than ``max_registers`` words (``max_bits`` bits for coils), and only
    reads across an unused gap of at most ``max_gap`` addresses that holds no ``unreadable`` address.
    """
    limit_words = min(regmap.max_registers, max_registers or regmap.max_registers)
    gap = regmap.max_gap if max_gap is None else max_gap
    ordered = sorted(regmap.registers, key=lambda r: (int(r.function), r.every, r.optional, r.address))
    blocks: list[Block] = []
    current: list[Register] = []
    for register in ordered:
        if current and _fits(current, register, limit_words, regmap, gap):
            current.append(register)
            continue
        if current:
            blocks.append(_block(current))
        current = [register]
    if current:
        blocks.append(_block(current))
    return blocks


def _fits(current: Sequence[Register], register: Register, limit_words: int, regmap: RegisterMap, gap: int) -> bool:
    first = current[0]
    if (register.function, register.every, register.optional) != (first.function, first.every, first.optional):
        return False
    end = max(r.end for r in current)
    limit = regmap.max_bits if register.function.is_bits else limit_words
    if register.address - end > gap or register.end - first.address > limit:
        return False
    return register.address <= end or not _spans_hole(regmap.unreadable, register.function, end, register.address - 1)


def _block(registers: Sequence[Register]) -> Block:
    start = registers[0].address
    end = max(r.end for r in registers)
    first = registers[0]
    return Block(first.function, start, end - start, tuple(registers), first.every, first.optional)


def decode_block(block: Block, data: Sequence[int] | Sequence[bool]) -> dict[str, Decoded]:
    """Decode every entry of a block from the block's words (or bits); raises CodecError."""
    return {r.name: decode_register(r, data[r.address - block.start : r.end - block.start]) for r in block.registers}
