"""Human-readable description of D2 and 0x81/0x51 frames for the ``decode`` CLI (daly.md §3)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus import d2, x81
from trackingbms_daly.modbus.alarms import decode_d2_faults, decode_x81_faults
from trackingbms_daly.modbus.crc import has_valid_crc
from trackingbms_daly.modbus.framing import (
    D2_ADDRESS,
    READ,
    WRITE_MULTIPLE,
    WRITE_SINGLE,
    ModbusFrame,
    Role,
)
from trackingbms_daly.modbus.registers import Block, Register, decode_table, registers_from

__all__ = ["describe_modbus", "looks_like_modbus"]

_X81_REQUESTS = range(0x81, 0x90)
_X81_ANSWERS = range(0x51, 0x60)
_A5_START = 0xA5
_EXCEPTIONS = {1: "illegal function", 2: "illegal data address", 3: "illegal data value", 4: "device failure"}
# Blocks an answer is recognised by from its register count alone (the answer omits the start).
_D2_BLOCKS = {62: d2.STATUS_62, 80: d2.STATUS_80, 41: d2.SETTINGS_BLOCK, 32: d2.VERSION_BLOCK, 9: d2.MOS_BLOCK}
_X81_BLOCKS = {64: x81.RT1, 62: x81.RT2, 74: x81.VERSION_BLOCK, 10: x81.ALARMS_BLOCK}
_D2_TABLE = (*d2.STATUS, *d2.SETTINGS, *d2.INFO)
_X81_TABLE = (*x81.REALTIME, *x81.VERSION)
_WRITE_NAMES = {
    "d2": {
        d2.CHARGE_MOS: "charge MOS switch",
        d2.DISCHARGE_MOS: "discharge MOS switch",
        d2.SET_SOC: "SOC setting (0.1 %)",
        d2.BALANCER_SWITCH: "balancer switch",
        d2.RESTART: "restart",
        d2.SHUTDOWN: "shutdown",
        d2.ZERO_CURRENT: "zero current",
        d2.FACTORY_RESET: "factory reset",
        0xD4: "RTC",
    },
    "x81": {
        x81.CHARGE_MOS: "charge MOS switch",
        x81.DISCHARGE_MOS: "discharge MOS switch",
        x81.SET_SOC: "SOC setting (0.1 %)",
        x81.BOARD_NUMBER: "board number",
        x81.SLEEP_TIME: "sleep time (10 s)",
        x81.BALANCER_SWITCH: "balancer switch",
        x81.FORCE_HEATER: "force heater",
        x81.FORCE_FAN: "force fan",
    },
}


def _family(address: int) -> str:
    if address == D2_ADDRESS:
        return "d2"
    if address in _X81_REQUESTS or address in _X81_ANSWERS:
        return "x81"
    return "modbus"


def looks_like_modbus(raw: bytes) -> bool:
    """True for frames of the D2 or 0x81/0x51 family: by address byte, or any non-A5 frame with a good CRC."""
    if not raw or raw[0] == _A5_START:
        return False
    return _family(raw[0]) != "modbus" or has_valid_crc(raw)


def _parse(raw: bytes, family: str) -> tuple[ModbusFrame, str]:
    """The frame and its direction; D2 uses one address both ways, so the layout decides."""
    if family == "x81":
        role = Role.REQUEST if raw[0] in _X81_REQUESTS else Role.ANSWER
        return ModbusFrame.parse(raw, role), "request" if role is Role.REQUEST else "response"
    try:
        frame = ModbusFrame.parse(raw, Role.ANSWER)
    except DalyProtocolError:
        return ModbusFrame.parse(raw, Role.REQUEST), "request"
    if frame.function == WRITE_SINGLE:
        return frame, "request or response"  # a 0x06 echo repeats the request byte for byte
    return frame, "response"


def describe_modbus(raw: bytes) -> dict[str, Any]:
    """Describe one D2 / 0x81 frame as JSON-ready data; never raises (problems go to "error")."""
    family = _family(raw[0]) if raw else "modbus"
    result: dict[str, Any] = {"family": family, "direction": None, "address": f"0x{raw[0]:02X}" if raw else None}
    try:
        frame, direction = _parse(raw, family)
    except DalyProtocolError as err:
        return {**result, "error": str(err)}
    result |= {"direction": direction, "function": f"0x{frame.function:02X}"}
    if family == "x81":
        result["board"] = frame.address & 0x0F
    try:
        result |= _details(frame, direction, family)
    except DalyProtocolError as err:
        result["error"] = str(err)
    return result


def _details(frame: ModbusFrame, direction: str, family: str) -> dict[str, Any]:
    if frame.is_exception:
        code = frame.exception_code
        return {"exception_code": code, "exception": _EXCEPTIONS.get(code, "unknown")}
    if frame.function == READ and direction == "response":
        return _describe_answer(frame.registers(), family)
    if frame.function == READ:
        block = _request_block(frame.register, frame.value, family)
        return {"start_register": f"0x{frame.register:04X}", "count": frame.value, "block": block}
    if frame.function == WRITE_SINGLE:
        meaning = _WRITE_NAMES.get(family, {}).get(frame.register, "unknown")
        return {"register": f"0x{frame.register:04X}", "value": frame.value, "meaning": meaning}
    if frame.function == WRITE_MULTIPLE:
        details: dict[str, Any] = {"start_register": f"0x{frame.register:04X}", "count": frame.value}
        if direction == "request":
            details["values"] = [f"0x{v:04X}" for v in frame.registers()]
        return details
    return {"body": frame.body.hex(" ").upper()}


def _request_block(start: int, count: int, family: str) -> str | None:
    blocks: Iterable[Block] = (_D2_BLOCKS if family == "d2" else _X81_BLOCKS).values()
    return next((b.name for b in blocks if b.start == start and b.count == count), None)


def _describe_answer(values: tuple[int, ...], family: str) -> dict[str, Any]:
    details: dict[str, Any] = {"byte_count": 2 * len(values), "registers": [f"0x{v:04X}" for v in values]}
    block = (_D2_BLOCKS if family == "d2" else _X81_BLOCKS if family == "x81" else {}).get(len(values))
    if block is None:
        if text := _ascii(values):
            details["text"] = text
        return details
    regs = registers_from(block.start, values)
    table = _D2_TABLE if family == "d2" else _X81_TABLE
    fields = decode_table(_visible(table, regs, family), regs)
    details["block"] = f"{block.name} (guessed from the register count)"
    details["start_register"] = f"0x{block.start:04X}"
    details["fields"] = {name: {"value": value, "unit": _UNITS.get(name)} for name, value in fields.items()}
    details["alarms"] = _alarms(regs, family)
    return details


_UNITS = {r.name: r.unit for r in (*_D2_TABLE, *_X81_TABLE)}


def _visible(table: Iterable[Register], regs: dict[int, int], family: str) -> list[Register]:
    """Registers to show: cells and sensors beyond the reported counts are hidden."""
    limits = {"d2": (0x31, 0x32), "x81": (0x3C, 0x3D)}.get(family)
    cell_count = regs.get(limits[0], 0xFFFF) if limits else 0xFFFF
    temp_count = regs.get(limits[1], 0xFFFF) if limits else 0xFFFF
    shown = []
    for register in table:
        prefix, _, index = register.name.rpartition("_")
        limit = {"cell": cell_count, "temperature": temp_count}.get(prefix)
        if limit is not None and index.isdigit() and int(index) > limit:
            continue
        shown.append(register)
    return shown


def _alarms(regs: dict[int, int], family: str) -> list[dict[str, str]]:
    first, count, decode = (
        (d2.FAULT_FIRST, 4, decode_d2_faults) if family == "d2" else (x81.FAULT_FIRST, 7, decode_x81_faults)
    )
    if any(first + i not in regs for i in range(count)):
        return []
    return [
        {"code": a.code, "text": a.text, "level": a.level.value}
        for a in decode([regs[first + i] for i in range(count)])
    ]


def _ascii(values: tuple[int, ...]) -> str | None:
    """The registers as text when at least half are printable ASCII and the rest padding."""
    data = b"".join(v.to_bytes(2, "big") for v in values)
    printable = [b for b in data if b not in (0, 0xFF)]
    if 2 * len(printable) < len(data) or any(not 0x20 <= b < 0x7F for b in printable):
        return None
    return " ".join(data.translate(bytes.maketrans(b"\0\xff", b"  ")).decode("ascii").split())
