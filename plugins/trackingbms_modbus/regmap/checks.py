"""Cross-entry checks of a register map: overlaps, duplicate fields, units, widths, references."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from trackingbms_modbus.regmap.build import IssueSink
from trackingbms_modbus.regmap.model import (
    ARRAY_FIELDS,
    BIT_FIELDS,
    FLAG_FIELDS,
    LEVEL_NONE,
    SCALAR_FIELDS,
    STATE_FIELD,
    STATES,
    Register,
)

__all__ = ["check_registers"]

# Spellings of the SI units the fields need; anything else means the scale does not convert to SI.
_UNIT_SPELLINGS = {"°C": {"°c", "c", "degc", "celsius"}, "%": {"%", "percent"}}


def check_registers(registers: Sequence[Register], max_registers: int, max_bits: int, issue: IssueSink) -> None:
    """Report every cross-entry problem of a map's registers (entry ``i`` is at path registers[i])."""
    _names(registers, issue)
    _overlaps(registers, issue)
    _fields(registers, issue)
    _slots(registers, issue)
    _references(registers, issue)
    _alarm_codes(registers, issue)
    for index, register in enumerate(registers):
        path: list[Any] = ["registers", index]
        limit = max_bits if register.function.is_bits else max_registers
        if register.width > limit:
            issue([*path, "count" if register.count > 1 else "address"], _too_wide(register, limit))
        if register.end > 0x10000:
            issue([*path, "address"], f"the entry runs past address 65535 (it needs {register.width} addresses)")
        _unit(register, path, issue)


def _too_wide(register: Register, limit: int) -> str:
    unit = "bits" if register.function.is_bits else "registers"
    return f"the entry needs {register.width} {unit} but one request may read at most {limit} (max_{unit})"


def _names(registers: Sequence[Register], issue: IssueSink) -> None:
    seen: dict[str, int] = {}
    for index, register in enumerate(registers):
        if register.name in seen:
            issue(
                ["registers", index, "name"],
                f"duplicate name {register.name!r} (first at registers[{seen[register.name]}])",
            )
        seen.setdefault(register.name, index)


def _overlaps(registers: Sequence[Register], issue: IssueSink) -> None:
    tables: dict[int, list[tuple[int, Register]]] = defaultdict(list)
    for index, register in enumerate(registers):
        tables[int(register.function)].append((index, register))
    for entries in tables.values():
        entries.sort(key=lambda item: item[1].address)
        for (_, before), (index, after) in itertools.pairwise(entries):
            if after.address < before.end:
                issue(
                    ["registers", index, "address"],
                    f"{after.name} at {after.address:#06x} overlaps {before.name} "
                    f"({before.address:#06x}..{before.end - 1:#06x}) in function {int(after.function)}",
                )


def _fields(registers: Sequence[Register], issue: IssueSink) -> None:
    scalar_owner: dict[str, str] = {}
    for index, register in enumerate(registers):
        target = register.target
        if target is None:
            continue
        path: list[Any] = ["registers", index, "field"]
        name = target.field
        if name in SCALAR_FIELDS:
            if not register.type.numeric or register.count != 1:
                issue(path, f"{name} takes one number: use a numeric type with count 1")
            elif name in scalar_owner:
                issue(path, f"{name} is already filled by {scalar_owner[name]}")
            scalar_owner.setdefault(name, register.name)
        elif name in ARRAY_FIELDS and not register.type.numeric:
            issue(path, f"{name} takes numbers: use a numeric type (u16, s16, ...)")
        elif name in FLAG_FIELDS and register.count != 1:
            issue(path, f"{name} takes one value: use count 1 (or name the bit with field: {name} under bits)")
        elif name in BIT_FIELDS and register.bit_count == 0 and not (name == "alarms" and register.enum):
            issue(path, f"{name} needs a bitfield or bool entry (alarms may also use an enum)")
        elif name == STATE_FIELD:
            _state(register, path, issue)
    for index, register in enumerate(registers):
        for bit in register.bits.values():
            if bit.field is not None and bit.field in scalar_owner:
                issue(["registers", index, "bits", bit.index], f"{bit.field} is already filled")
            if bit.field is not None:
                scalar_owner.setdefault(bit.field, f"{register.name} bit {bit.index}")
        target = register.target
        if target is not None and target.field in FLAG_FIELDS:
            if target.field in scalar_owner and scalar_owner[target.field] != register.name:
                issue(
                    ["registers", index, "field"], f"{target.field} is already filled by {scalar_owner[target.field]}"
                )
            scalar_owner.setdefault(target.field, register.name)


def _state(register: Register, path: list[Any], issue: IssueSink) -> None:
    if not register.enum:
        issue(path, "state needs an enum whose names are idle, charging or discharging")
    elif not any(value.name in STATES for value in register.enum.values()):
        issue(path, "none of the enum names is idle, charging or discharging")


def _slots(registers: Sequence[Register], issue: IssueSink) -> None:
    for field in ("cells", "balancing"):
        owners: dict[int, str] = {}
        for index, register in enumerate(registers):
            if register.target is None or register.target.field != field:
                continue
            size = register.bit_count if field == "balancing" else register.count
            for slot in range(register.target.start, register.target.start + size):
                if slot in owners:
                    issue(["registers", index, "field"], f"{field} slot {slot} is already filled by {owners[slot]}")
                    break
                owners[slot] = register.name


def _references(registers: Sequence[Register], issue: IssueSink) -> None:
    by_name = {r.name: r for r in registers}
    for index, register in enumerate(registers):
        if register.count_for is None:
            continue
        path: list[Any] = ["registers", index, "count_for"]
        other = by_name.get(register.count_for)
        if other is None:
            issue(path, f"no entry named {register.count_for!r}")
        elif other.count < 2 or not other.type.numeric:
            issue(path, f"{other.name} is not a list of numbers (count >= 2)")
        elif not register.type.numeric or register.count != 1:
            issue(path, "a count must be one number")


def _alarm_codes(registers: Sequence[Register], issue: IssueSink) -> None:
    seen: set[str] = set()
    for index, register in enumerate(registers):
        for key, bit in register.bits.items():
            if bit.level == LEVEL_NONE:
                continue
            if bit.name in seen:
                issue(["registers", index, "bits", key], f"alarm code {bit.name!r} is used twice")
            seen.add(bit.name)
        for key, value in register.enum.items():
            if value.level != LEVEL_NONE and value.name in seen:
                issue(["registers", index, "enum", key], f"alarm code {value.name!r} is used twice")
            if value.level != LEVEL_NONE:
                seen.add(value.name)


def _unit(register: Register, path: list[Any], issue: IssueSink) -> None:
    if register.unit is None or register.target is None:
        return
    expected = {**SCALAR_FIELDS, **ARRAY_FIELDS}.get(register.target.field)
    if expected is None:
        return
    spelled = register.unit.strip()
    if spelled == expected or spelled.lower() in _UNIT_SPELLINGS.get(expected, set()):
        return
    issue(
        [*path, "unit"],
        f"{register.target.field} is stored in {expected}, the entry says {spelled}: "
        f"set scale so values come out in {expected}",
    )
