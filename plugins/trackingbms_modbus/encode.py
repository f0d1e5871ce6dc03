"""The inverse of assemble: a simulated pack's state as the values of every entry of a map."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from hub.reading import TemperatureKind, state_from_current
from hub.simulation import PackSnapshot
from trackingbms_modbus.regmap.model import LEVEL_NONE, Register, RegisterMap

__all__ = ["AMBIENT_C", "PackView", "snapshot_values"]

AMBIENT_C = 22.0  # the simulated room: PackModel cools towards 22 °C


@dataclass(slots=True)
class PackView:
    """How a simulator shows its pack: sign, faults and alarms to raise."""

    invert_current: bool = False
    junk_cells: bool = False
    alarms: Collection[str] = ()
    rng: random.Random = field(default_factory=random.Random)


def _temperature(snapshot: PackSnapshot, kind: TemperatureKind, sensor: int) -> float | None:
    if kind == TemperatureKind.CELL:
        return snapshot.temperatures[sensor - 1] if sensor <= len(snapshot.temperatures) else None
    if kind == TemperatureKind.MOS:
        return snapshot.mos_temperature
    if kind == TemperatureKind.BOARD:
        return round(snapshot.mos_temperature - 2.0, 1)
    return AMBIENT_C


def _scalar(name: str, snapshot: PackSnapshot, sign: float) -> Any:
    if name == "current":
        return snapshot.current * sign
    if name == "power":
        return round(snapshot.voltage * snapshot.current * sign, 1)
    return {
        "voltage": round(snapshot.voltage, 3),
        "soc": snapshot.soc,
        "soh": 100.0,
        "cycles": snapshot.cycles,
        "remaining_capacity_ah": snapshot.remaining_capacity_ah,
        "rated_capacity_ah": snapshot.rated_capacity_ah,
    }[name]


class _Encoder:
    def __init__(self, regmap: RegisterMap, snapshot: PackSnapshot, view: PackView) -> None:
        self.regmap = regmap
        self.snapshot = snapshot
        self.view = view
        wire_discharge_positive = regmap.current_sign == "discharge_positive"
        self.sign = -1.0 if wire_discharge_positive != view.invert_current else 1.0
        self.sensors: dict[TemperatureKind, int] = {}
        self.temperature_counts: dict[str, int] = {}

    def value(self, register: Register) -> Any:
        target = register.target
        if target is None:
            return self._untargeted(register)
        name = target.field
        if name in ("charge_mos", "discharge_mos"):
            return self._flag(name) != register.invert
        if name == "cells":
            return [self._cell(target.start + i) for i in range(register.count)]
        if name == "temperatures":
            return self._temperatures(register)
        if name in ("alarms", "balancing"):
            return self._bits(register) if register.bit_count else self._untargeted(register)
        if name == "state":
            return self._enum_raw(register, state_from_current(self.snapshot.current).value)
        return _scalar(name, self.snapshot, self.sign)

    def _flag(self, name: str) -> bool:
        return self.snapshot.charge_mos if name == "charge_mos" else self.snapshot.discharge_mos

    def _cell(self, slot: int) -> float | None:
        cells = self.snapshot.cell_voltages
        if slot <= len(cells):
            return cells[slot - 1]
        return round(self.view.rng.uniform(2.0, 4.2), 3) if self.view.junk_cells else None

    def _temperatures(self, register: Register) -> list[float | None]:
        first = register.sensor or self.sensors.get(register.kind, 1)
        self.sensors[register.kind] = first + register.count
        values = [_temperature(self.snapshot, register.kind, first + i) for i in range(register.count)]
        self.temperature_counts[register.name] = sum(v is not None for v in values)
        return values

    def _bits(self, register: Register) -> list[bool]:
        bits = [False] * register.bit_count
        target = register.target
        if target is not None and target.field == "balancing":
            for cell in self.snapshot.balancing:
                if 0 <= cell - target.start < len(bits):
                    bits[cell - target.start] = True
        for bit in register.bits.values():
            if bit.field is not None:
                bits[bit.index] = self._flag(bit.field) != bit.invert
            elif bit.level != LEVEL_NONE and bit.name in self.view.alarms:
                bits[bit.index] = True
        return bits

    def _enum_raw(self, register: Register, name: str) -> int:
        for raw, value in register.enum.items():
            if value.name == name:
                return raw
        return 0

    def _untargeted(self, register: Register) -> Any:
        if register.bits:
            return self._bits(register)
        alarm = next((raw for raw, v in register.enum.items() if v.name in self.view.alarms), None)
        if alarm is not None:
            return alarm
        return register.example

    def count_for(self, register: Register, other: Register) -> int:
        """The number a count entry reports for the list entry it counts."""
        if other.target is not None and other.target.field == "cells":
            return max(0, min(other.count, len(self.snapshot.cell_voltages) - other.target.start + 1))
        if other.name in self.temperature_counts:
            return self.temperature_counts[other.name]
        return other.count


def snapshot_values(regmap: RegisterMap, snapshot: PackSnapshot, view: PackView | None = None) -> dict[str, Any]:
    """The engineering value of every entry (feed each to encode_register) for a pack state."""
    encoder = _Encoder(regmap, snapshot, view or PackView())
    values = {register.name: encoder.value(register) for register in regmap.registers}
    for register in regmap.registers:
        if register.count_for is not None:
            values[register.name] = encoder.count_for(register, regmap.register(register.count_for))
    return values
