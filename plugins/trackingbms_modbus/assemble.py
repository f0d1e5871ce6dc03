"""Decoded register values to the normalized Reading, as the map's ``field`` keys direct."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.reading import Alarm, AlarmLevel, BatteryState, Reading, Temperature, TemperatureKind
from hub.specs import DataError
from trackingbms_modbus.codec import Decoded, out_of_range
from trackingbms_modbus.regmap.model import FLAG_FIELDS, LEVEL_NONE, SCALAR_FIELDS, STATES, Register, RegisterMap

__all__ = ["assemble", "limits_of"]

_SIGNED_FIELDS = ("current", "power")


def limits_of(regmap: RegisterMap, values: Mapping[str, Decoded | None]) -> dict[str, int]:
    """How many elements of each list entry are in use, from the entries with ``count_for``."""
    limits: dict[str, int] = {}
    for register in regmap.registers:
        decoded = values.get(register.name)
        if register.count_for is not None and decoded is not None and isinstance(decoded.value, int | float):
            limits[register.count_for] = max(0, int(decoded.value))
    return limits


def _elements(decoded: Decoded | None, limit: int | None) -> list[Any]:
    if decoded is None:
        return []
    items = decoded.value if isinstance(decoded.value, list) else [decoded.value]
    return items if limit is None else items[:limit]


def _check_ranges(regmap: RegisterMap, values: Mapping[str, Decoded | None], limits: Mapping[str, int]) -> None:
    """A value outside its entry's range means a corrupt answer: no reading rather than a wrong one."""
    for register in regmap.registers:
        if register.valid_range is not None:
            problem = out_of_range(register, _elements(values.get(register.name), limits.get(register.name)))
            if problem:
                raise DataError(problem)


def _cells(regmap: RegisterMap, values: Mapping[str, Decoded | None], limits: Mapping[str, int]) -> tuple[float, ...]:
    slots: dict[int, float | None] = {}
    for register in _targeting(regmap, "cells"):
        assert register.target is not None
        for offset, value in enumerate(_elements(values.get(register.name), limits.get(register.name))):
            slots[register.target.start + offset] = value
    cells = [slots.get(slot) for slot in range(1, max(slots, default=0) + 1)]
    while cells and cells[-1] is None:
        cells.pop()  # unused slots beyond the pack read as "absent"
    if any(v is None for v in cells):
        missing = [i + 1 for i, v in enumerate(cells) if v is None]
        raise DataError(f"cell voltages missing for cells {missing} while later cells are present")
    return tuple(float(v) for v in cells if v is not None)


def _temperatures(
    regmap: RegisterMap, values: Mapping[str, Decoded | None], limits: Mapping[str, int]
) -> tuple[Temperature, ...]:
    numbers: dict[TemperatureKind, int] = {}
    found: list[Temperature] = []
    for register in _targeting(regmap, "temperatures"):
        assert register.target is not None
        first = register.sensor or numbers.get(register.kind, register.target.start)
        elements = _elements(values.get(register.name), limits.get(register.name))
        for offset, value in enumerate(elements):
            if value is not None:
                found.append(Temperature(float(value), register.kind, first + offset))
        numbers[register.kind] = first + len(elements)
    return tuple(found)


def _targeting(regmap: RegisterMap, field: str) -> list[Register]:
    return [r for r in regmap.registers if r.target is not None and r.target.field == field]


def _flags(regmap: RegisterMap, values: Mapping[str, Decoded | None]) -> dict[str, bool | None]:
    flags: dict[str, bool | None] = {}
    for register in regmap.registers:
        decoded = values.get(register.name)
        if register.target is not None and register.target.field in FLAG_FIELDS:
            flags[register.target.field] = None if decoded is None else _flag(decoded, register.invert)
        for bit in register.bits.values():
            if bit.field is not None:
                present = decoded is not None and bit.index < len(decoded.bits)
                flags[bit.field] = (decoded.bits[bit.index] != bit.invert) if present and decoded else None
    return flags


def _flag(decoded: Decoded, invert: bool) -> bool | None:
    value = decoded.bits[0] if decoded.bits else decoded.value
    return None if value is None else bool(value) != invert


def _alarms(regmap: RegisterMap, values: Mapping[str, Decoded | None]) -> tuple[Alarm, ...]:
    alarms: list[Alarm] = []
    for register in regmap.registers:
        decoded = values.get(register.name)
        if decoded is None:
            continue
        for bit in register.bits.values():
            if bit.level != LEVEL_NONE and bit.index < len(decoded.bits) and decoded.bits[bit.index]:
                alarms.append(Alarm(bit.name, bit.text, AlarmLevel(bit.level)))
        if register.enum and isinstance(decoded.raw, int):
            value = register.enum.get(decoded.raw)
            if value is not None and value.level != LEVEL_NONE:
                alarms.append(Alarm(value.name, value.text, AlarmLevel(value.level)))
    return tuple(alarms)


def _balancing(regmap: RegisterMap, values: Mapping[str, Decoded | None], cells: int) -> tuple[int, ...]:
    found: set[int] = set()
    for register in _targeting(regmap, "balancing"):
        assert register.target is not None
        decoded = values.get(register.name)
        if decoded is None:
            continue
        found.update(register.target.start + i for i, bit in enumerate(decoded.bits) if bit)
    return tuple(sorted(i for i in found if not cells or i <= cells))


def _state(regmap: RegisterMap, values: Mapping[str, Decoded | None]) -> BatteryState | None:
    for register in _targeting(regmap, "state"):
        decoded = values.get(register.name)
        if decoded is not None and isinstance(decoded.raw, int) and decoded.raw in register.enum:
            name = register.enum[decoded.raw].name
            return BatteryState(name) if name in STATES else None
    return None


def _scalars(regmap: RegisterMap, values: Mapping[str, Decoded | None], flip: bool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for register in regmap.registers:
        if register.target is None or register.target.field not in SCALAR_FIELDS:
            continue
        decoded = values.get(register.name)
        value = None if decoded is None else decoded.value
        if value is not None and register.target.field in _SIGNED_FIELDS and flip:
            value = -value if value else value  # never -0.0
        if value is not None and register.target.field == "cycles":
            value = int(value)
        found[register.target.field] = value
    return found


def assemble(
    regmap: RegisterMap,
    values: Mapping[str, Decoded | None],
    battery_id: str = "",
    current_sign: str | None = None,
) -> Reading:
    """The Reading the map's fields describe; current and power end up positive while charging."""
    limits = limits_of(regmap, values)
    _check_ranges(regmap, values, limits)
    cells = _cells(regmap, values, limits)
    flip = (current_sign or regmap.current_sign) == "discharge_positive"
    fields: dict[str, Any] = {**_scalars(regmap, values, flip), **_flags(regmap, values)}
    if regmap.soc_from_capacity and fields.get("soc") is None:
        fields["soc"] = _soc_from(fields.get("remaining_capacity_ah"), fields.get("rated_capacity_ah"))
    return Reading(
        battery_id=battery_id,
        cells=cells,
        temperatures=_temperatures(regmap, values, limits),
        balancing=_balancing(regmap, values, len(cells)),
        alarms=_alarms(regmap, values),
        state=_state(regmap, values),
        **fields,
    ).with_derived()


def _soc_from(remaining: float | None, rated: float | None) -> float | None:
    if remaining is None or not rated or rated <= 0:
        return None
    return round(min(100.0, max(0.0, 100.0 * remaining / rated)), 1)
