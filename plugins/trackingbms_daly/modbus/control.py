"""Control writes for the Modbus-style families, each retried until echoed and confirmed by reading back."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from hub.specs import ControlError, ControlUnsupportedError, LinkError
from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus import d2, x81
from trackingbms_daly.modbus.master import DalyModbusMaster, GarbledAnswerError, ModbusExceptionError

__all__ = ["READ_BACK_DELAY", "RESTART_SETTLE", "ModbusControl"]

READ_BACK_DELAY = 0.02  # mr-manuel waits 20 ms before reading back (daly.md §1.6)
RESTART_SETTLE = 1.0  # seconds to let a restarting board boot before asking it again
SOC_TOLERANCE = 0.5  # %: the pack moves while we read back
_MIN_WRITE_RETRIES = 2  # bad-CRC echoes are common over BLE (daly.md §3.4)
_T = TypeVar("_T")
# Per family: charge MOS, discharge MOS, SOC registers, and the blocks read back for them
# (different sizes, so a late answer to one read can never pass for another).
_REGISTERS = {
    "d2": {"charge_mos": d2.CHARGE_MOS, "discharge_mos": d2.DISCHARGE_MOS, "soc": d2.SET_SOC},
    "x81": {"charge_mos": x81.CHARGE_MOS, "discharge_mos": x81.DISCHARGE_MOS, "soc": x81.SET_SOC},
}
_MOS_READ_BACK = {"d2": (0x35, 2), "x81": (0x52, 2)}  # charge, discharge state
_SOC_READ_BACK = {"d2": (0x28, 3), "x81": (0x38, 3)}  # voltage, current, SOC


class ModbusControl:
    """MOSFET, SOC and restart writes for one board of the D2 or 0x81 family."""

    def __init__(self, master: DalyModbusMaster, family: str) -> None:
        if family not in _REGISTERS:
            raise ValueError(f"unknown family {family!r}")
        self.master = master
        self.family = family
        self.restart_settle = RESTART_SETTLE

    async def write_register(self, register: int, value: int) -> dict[str, Any]:
        """Write one register (0x06) until its echo is exact; range-checked 0..0xFFFF."""
        for name, number in (("register", register), ("value", value)):
            if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 0xFFFF:
                raise ControlUnsupportedError(f"{name} {number!r} outside 0..0xFFFF")
        retries = max(self.master.retries, _MIN_WRITE_RETRIES)
        tries = await _checked(self.master.write(register, value, retries=retries))
        return {"register": f"0x{register:04X}", "value": value, "echoed": True, "attempts": tries}

    async def set_mos(self, charge: bool, on: bool) -> dict[str, Any]:
        """Switch the charge or discharge MOSFET (D2 0xA5/0xA6, 0x81 0x121/0x122) and read the state back."""
        action = "charge_mos" if charge else "discharge_mos"
        written = await self.write_register(_REGISTERS[self.family][action], int(bool(on)))
        await asyncio.sleep(READ_BACK_DELAY)
        start, count = _MOS_READ_BACK[self.family]
        regs = await _checked(self.master.read(start, count))
        actual = bool(regs[start if charge else start + 1])
        result = {"action": action, **written, "requested": bool(on), "read_back": actual, "confirmed": actual == on}
        if actual != on:
            raise ControlError(
                f"{action} read back {'on' if actual else 'off'} after switching {'on' if on else 'off'}"
            )
        return result

    async def set_soc(self, percent: float) -> dict[str, Any]:
        """Set the SOC (D2 0xA7, 0x81 0x116, both x10) and read it back; 0-100 %."""
        try:
            value = float(percent)
        except (TypeError, ValueError) as err:
            raise ControlUnsupportedError(f"SOC {percent!r} is not a number") from err
        if math.isnan(value) or not 0.0 <= value <= 100.0:
            raise ControlUnsupportedError(f"SOC {percent!r} outside 0..100 %")
        written = await self.write_register(_REGISTERS[self.family]["soc"], round(value * 10))
        await asyncio.sleep(READ_BACK_DELAY)
        start, count = _SOC_READ_BACK[self.family]
        regs = await _checked(self.master.read(start, count))
        read_back = round(regs[start + 2] * 0.1, 1)
        if abs(read_back - value) > SOC_TOLERANCE:
            raise ControlError(f"SOC read back {read_back} % after setting {value} %")
        return {"action": "soc", **written, "requested": value, "read_back": read_back, "confirmed": True}

    async def restart(self) -> dict[str, Any]:
        """Restart a D2 board (write 1 to 0xF0) and wait until it answers again."""
        if self.family != "d2":
            raise ControlUnsupportedError("no restart register is known for the 0x81 family (daly.md §3.3)")
        # A rebooting board may never echo, and a second restart would do no good: one try.
        with contextlib.suppress(LinkError, GarbledAnswerError):
            await self.master.write(d2.RESTART, 1, retries=0)
        await asyncio.sleep(self.restart_settle)
        start, count = d2.STATUS_62.start, d2.STATUS_62.count
        await _checked(self.master.read(start, count, retries=max(self.master.retries, _MIN_WRITE_RETRIES)))
        return {
            "action": "restart",
            "register": f"0x{d2.RESTART:04X}",
            "requested": None,
            "read_back": "answering",
            "confirmed": True,
        }


async def _checked(operation: Awaitable[_T]) -> _T:
    """Run a master operation; protocol trouble becomes a ControlError, LinkError passes through."""
    try:
        return await operation
    except ModbusExceptionError as err:
        kind: Callable[[str], ControlError] = ControlUnsupportedError if err.code in (1, 2, 3) else ControlError
        raise kind(f"the BMS refused: {err}") from err
    except DalyProtocolError as err:
        raise ControlError(f"no usable answer: {err}") from err
