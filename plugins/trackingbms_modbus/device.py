"""One simulated Modbus unit: a pack model shown through a register map, as pymodbus datastore blocks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Collection
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from hub.faults import Fault, FaultInjector
from hub.simulation import PackModel, PackSnapshot
from trackingbms_modbus.codec import encode_register
from trackingbms_modbus.encode import PackView, snapshot_values
from trackingbms_modbus.plan import plan_reads
from trackingbms_modbus.regmap.model import Function, RegisterMap

__all__ = ["MODBUS_FAULTS", "FaultCounter", "MapDevice"]

# Faults only a Modbus device shows, next to hub.faults.Fault (asleep, late, garbage, ...).
MODBUS_FAULTS = ("exception", "wrong_values")
_TABLE_ORDER = (Function.COILS, Function.DISCRETE_INPUTS, Function.HOLDING, Function.INPUT)
_PARKED_BITS = 0xFFF0  # pymodbus needs a block per table; an unused bit table is parked at the top


class FaultCounter:
    """Modbus-only faults, each on for a number of answers or forever (-1), like FaultInjector."""

    def __init__(self) -> None:
        self._remaining: dict[str, int] = {}

    def inject(self, name: str, times: int = -1) -> None:
        """Turn a fault on."""
        self._remaining[name] = times

    def clear(self, name: str | None = None) -> None:
        """Turn one fault, or all, off."""
        if name is None:
            self._remaining.clear()
        else:
            self._remaining.pop(name, None)

    def use(self, name: str) -> bool:
        """Consume one occurrence; True when the fault applies to this answer."""
        left = self._remaining.get(name, 0)
        if left == 0:
            return False
        if left > 0:
            self._remaining[name] = left - 1
        return True


class MapDevice:
    """A pack behind a map at one unit id; refreshes its registers at the start of each poll."""

    def __init__(
        self,
        regmap: RegisterMap,
        pack: PackModel,
        slave: int,
        faults: FaultInjector,
        modbus_faults: FaultCounter,
        invert_current: bool = False,
        alarms: Collection[str] = (),
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.regmap = regmap
        self.pack = pack
        self.slave = slave
        self.faults = faults
        self.modbus_faults = modbus_faults
        self.view = PackView(invert_current=invert_current, alarms=tuple(alarms), rng=random.Random(slave))
        self.requests = 0
        self.late_answers = 0  # answers sent after a LATE delay (tests wait for them)
        self.snapshot: PackSnapshot | None = None
        self.values: dict[str, Any] = {}
        self.words: dict[Function, dict[int, int]] = {}
        self.bits: dict[Function, dict[int, bool]] = {}
        # How a late answer waits; the simulator swaps in a sleep that ends when it stops.
        self.sleep = sleep
        polled = [b for b in plan_reads(regmap) if b.every == 1]
        # The driver reads this block first in every poll: a new pack state then, one state per poll.
        self.trigger = (polled[0].function, polled[0].start) if polled else None
        self.refresh()

    def refresh(self) -> None:
        """Advance the pack and encode its state into the register tables."""
        self.view.junk_cells = self.faults.active(Fault.JUNK_CELLS)
        self.snapshot = self.pack.snapshot()
        self.values = snapshot_values(self.regmap, self.snapshot, self.view)
        words: dict[Function, dict[int, int]] = {}
        bits: dict[Function, dict[int, bool]] = {}
        for register in self.regmap.registers:
            encoded = encode_register(register, self.values[register.name])
            table: dict[int, Any] = (bits if register.function.is_bits else words).setdefault(register.function, {})
            for offset, item in enumerate(encoded):
                table[register.address + offset] = item
        self.words, self.bits = words, bits

    def sim_device(self) -> SimDevice:
        """The pymodbus device: one block per table over the map's address span, holes left invalid."""
        coils, discrete, holding, inputs = (self._blocks(function) for function in _TABLE_ORDER)
        return SimDevice(id=self.slave, simdata=(coils, discrete, holding, inputs), action=self.action)

    def _blocks(self, function: Function) -> list[SimData]:
        registers = [r for r in self.regmap.registers if r.function == function]
        if not registers:
            if function.is_bits:
                return [SimData(_PARKED_BITS, count=16, values=False, datatype=DataType.BITS)]
            return [SimData(0, count=1, datatype=DataType.INVALID)]
        low, high = min(r.address for r in registers), max(r.end for r in registers)
        holes = sorted(
            a
            for fc, first, last in self.regmap.unreadable
            if fc in (None, function)
            for a in range(max(first, low), min(last, high - 1) + 1)
        )
        blocks: list[SimData] = []
        start = low
        for hole in [*holes, high]:
            if hole > start:
                blocks.append(self._span(function, start, hole - start))
            start = hole + 1
        return blocks

    @staticmethod
    def _span(function: Function, start: int, count: int) -> SimData:
        if function.is_bits:
            return SimData(start, count=count, values=False, datatype=DataType.BITS)
        return SimData(start, count=count, values=0, datatype=DataType.REGISTERS)

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus calls this on every access: apply faults, refresh at a poll's start, fill the block."""
        self.requests += 1
        if self.faults.use(Fault.LATE):
            await self.sleep(self.faults.late_delay)
            self.late_answers += 1
        if self.modbus_faults.use("exception"):
            return ExcCodes.DEVICE_FAILURE
        function = Function(function_code) if 1 <= function_code <= 4 else None
        if function is None or set_values:
            return ExcCodes.ILLEGAL_FUNCTION  # the simulated BMS is read-only
        if self.trigger is None or (function, address) == self.trigger:
            self.refresh()
        self._fill(function, start_address, registers)
        if self.modbus_faults.use("wrong_values"):
            first = address // 16 if function.is_bits else address
            for index in range(first - start_address, first - start_address + count):
                registers[index] = 0xFFFF
        return None

    def _fill(self, function: Function, start: int, registers: list[int]) -> None:
        if function.is_bits:
            # Bit tables: word i holds bit addresses (start + i) * 16 .. + 15, least significant bit first.
            packed = [0] * len(registers)
            for bit_address, on in self.bits.get(function, {}).items():
                index = bit_address // 16 - start
                if on and 0 <= index < len(packed):
                    packed[index] |= 1 << (bit_address % 16)
            registers[:] = packed
            return
        table = self.words.get(function, {})
        for index in range(len(registers)):
            registers[index] = table.get(start + index, 0)
