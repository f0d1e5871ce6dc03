"""The register map as typed, immutable objects: what the codec, planner, driver and simulator share."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.reading import AlarmLevel, TemperatureKind


class Function(enum.IntEnum):
    """The four Modbus read function codes a map can use."""

    COILS = 1
    DISCRETE_INPUTS = 2
    HOLDING = 3
    INPUT = 4

    @property
    def is_bits(self) -> bool:
        """Coils and discrete inputs address single bits, registers address 16-bit words."""
        return self in (Function.COILS, Function.DISCRETE_INPUTS)


class ValueType(enum.StrEnum):
    """How the words (or bits) of one register entry become a value."""

    U16 = "u16"
    S16 = "s16"
    U32 = "u32"
    S32 = "s32"
    FLOAT32 = "float32"
    STRING = "string"
    BITFIELD = "bitfield"
    BOOL = "bool"  # coils and discrete inputs only

    @property
    def words(self) -> int:
        """Words per value for the fixed-width numeric types (string and bitfield use ``length``)."""
        return 2 if self in (ValueType.U32, ValueType.S32, ValueType.FLOAT32) else 1

    @property
    def numeric(self) -> bool:
        """Types that carry a number scaled by ``scale`` and ``offset``."""
        return self not in (ValueType.STRING, ValueType.BITFIELD, ValueType.BOOL)


# Bit and enum levels: the two Reading alarm levels, or "none" for a state that is not an alarm.
LEVEL_NONE = "none"

# Normalized Reading fields a register may fill, with the SI unit its values must be in.
SCALAR_FIELDS: dict[str, str | None] = {
    "voltage": "V",
    "current": "A",
    "power": "W",
    "soc": "%",
    "soh": "%",
    "cycles": None,
    "remaining_capacity_ah": "Ah",
    "rated_capacity_ah": "Ah",
}
ARRAY_FIELDS: dict[str, str | None] = {"cells": "V", "temperatures": "°C"}
FLAG_FIELDS = ("charge_mos", "discharge_mos")
BIT_FIELDS = ("alarms", "balancing")
STATE_FIELD = "state"
STATES = ("idle", "charging", "discharging")


@dataclass(frozen=True, slots=True)
class BitSpec:
    """One named bit of a bitfield or coil block: an alarm, a state flag or a MOSFET state."""

    index: int
    name: str
    text: str
    level: str = LEVEL_NONE  # warning | alarm | none
    field: str | None = None  # charge_mos | discharge_mos
    invert: bool = False  # the bit is 1 when the thing is OFF

    @property
    def alarm_level(self) -> AlarmLevel | None:
        """The Reading alarm level, or None for an informational bit."""
        return None if self.level == LEVEL_NONE else AlarmLevel(self.level)


@dataclass(frozen=True, slots=True)
class EnumValue:
    """One named value of an enumerated register."""

    value: int
    name: str
    text: str
    level: str = LEVEL_NONE


@dataclass(frozen=True, slots=True)
class Target:
    """Where a register's value goes in the Reading: a field and, for arrays, the first 1-based slot."""

    field: str
    start: int = 1


@dataclass(frozen=True, slots=True)
class Register:
    """One entry of the map: ``count`` values of one type at ``address`` of one function table."""

    name: str
    address: int
    function: Function
    type: ValueType
    count: int = 1
    length: int = 1  # words of a string or bitfield
    word_order: str = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None
    target: Target | None = None
    kind: TemperatureKind = TemperatureKind.CELL
    sensor: int | None = None  # first sensor number of a temperature entry
    enum: Mapping[int, EnumValue] = field(default_factory=dict)
    bits: Mapping[int, BitSpec] = field(default_factory=dict)
    absent: frozenset[int] = frozenset()
    valid_range: tuple[float, float] | None = None
    invert: bool = False
    count_for: str | None = None
    every: int = 1
    optional: bool = False
    example: Any = None
    description: str = ""

    @property
    def width(self) -> int:
        """Addresses this entry occupies: bits for coils, words for registers."""
        if self.type == ValueType.BOOL:
            return self.count
        if self.type in (ValueType.STRING, ValueType.BITFIELD):
            return self.length
        return self.type.words * self.count

    @property
    def end(self) -> int:
        """First address after this entry."""
        return self.address + self.width

    @property
    def bit_count(self) -> int:
        """How many bits a bitfield or coil entry holds (0 for other types)."""
        if self.type == ValueType.BOOL:
            return self.count
        return 16 * self.length if self.type == ValueType.BITFIELD else 0


@dataclass(frozen=True, slots=True)
class SerialDefaults:
    """Per-device defaults a battery entry may override."""

    transport: str = "rtu"
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    slave: int = 1
    tcp_port: int = 502
    timeout: float = 1.0


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """A validated register map for one product."""

    name: str
    registers: tuple[Register, ...]
    description: str = ""
    sources: tuple[str, ...] = ()
    path: str = ""
    max_registers: int = 125
    max_bits: int = 2000
    max_gap: int = 0
    unreadable: tuple[tuple[Function | None, int, int], ...] = ()
    inter_frame_delay: float = 0.0
    current_sign: str = "charge_positive"
    soc_from_capacity: bool = False
    defaults: SerialDefaults = field(default_factory=SerialDefaults)

    def register(self, name: str) -> Register:
        """An entry by name; raises KeyError."""
        for register in self.registers:
            if register.name == name:
                return register
        raise KeyError(name)

    def alarm_bits(self) -> dict[str, BitSpec | EnumValue]:
        """Every bit or enum value that raises an alarm, by code."""
        found: dict[str, BitSpec | EnumValue] = {}
        for register in self.registers:
            for bit in register.bits.values():
                if bit.level != LEVEL_NONE:
                    found[bit.name] = bit
            for value in register.enum.values():
                if value.level != LEVEL_NONE:
                    found[value.name] = value
        return found
