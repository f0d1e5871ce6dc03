"""``trackingbms decode modbus``: captured RTU (or TCP) frames as fields, and with a map, as named values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ModbusPDU

from trackingbms_modbus.codec import CodecError, Decoded, decode_register, out_of_range
from trackingbms_modbus.link import EXCEPTION_NAMES
from trackingbms_modbus.regmap.loader import MapError, describe_issues, load_map
from trackingbms_modbus.regmap.model import Function, RegisterMap

__all__ = ["decode_frames", "describe_values"]

FUNCTION_NAMES = {
    1: "read coils",
    2: "read discrete inputs",
    3: "read holding registers",
    4: "read input registers",
    5: "write single coil",
    6: "write single register",
    15: "write multiple coils",
    16: "write multiple registers",
}
_SEPARATORS = re.compile(r"0x|[\s:,._-]", re.IGNORECASE)
_REQUESTS = DecodePDU(True)
_RESPONSES = DecodePDU(False)


@dataclass(slots=True)
class _Context:
    """What earlier arguments told: the map, and the last read request (a response carries no address)."""

    regmap: RegisterMap | None = None
    start: int | None = None
    pending: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)


def decode_frames(arguments: Sequence[str]) -> list[dict[str, Any]]:
    """One result per argument: ``map=NAME|PATH`` loads a map, ``start=ADDR`` gives the next response's
    start address, anything else is a frame in hex (RTU with CRC, or Modbus TCP with its MBAP header)."""
    context = _Context()
    results: list[dict[str, Any]] = []
    for text in arguments:
        try:
            results.append({"input": text, **_argument(text, context)})
        except ValueError as err:
            results.append({"input": text, "error": str(err)})
    return results


def _argument(text: str, context: _Context) -> dict[str, Any]:
    key, _, value = text.partition("=")
    if key.strip().lower() == "map" and value:
        try:
            context.regmap = load_map(value.strip(), base_dirs=(Path.cwd(),))
        except MapError as err:
            raise ValueError(describe_issues(err)) from err
        return {"map": context.regmap.name, "entries": len(context.regmap.registers)}
    if key.strip().lower() == "start" and value:
        context.start = int(value.strip(), 0)
        return {"start": f"{context.start:#06x}"}
    cleaned = _SEPARATORS.sub("", text)
    try:
        raw = bytes.fromhex(cleaned)
    except ValueError as err:
        raise ValueError(f"not hex: {err}") from err
    return _frame(raw, context)


def _frame(raw: bytes, context: _Context) -> dict[str, Any]:
    if len(raw) >= 8 and raw[2:4] == b"\0\0" and int.from_bytes(raw[4:6], "big") == len(raw) - 6:
        head: dict[str, Any] = {"transport": "tcp", "transaction": int.from_bytes(raw[:2], "big"), "unit": raw[6]}
        return {**head, **_pdu(raw[6], raw[7:], context)}
    if len(raw) < 4:
        raise ValueError(f"too short for an RTU frame ({len(raw)} bytes)")
    computed = FramerRTU.compute_CRC(raw[:-2])
    received = int.from_bytes(raw[-2:], "big")
    head = {"transport": "rtu", "unit": raw[0], "function": raw[1]}
    if computed != received:
        raise ValueError(f"CRC mismatch: the frame ends {received:04X}, its bytes give {computed:04X} (unit {raw[0]})")
    return {**head, "crc": "ok", **_pdu(raw[0], raw[1:-2], context)}


def _pdu(unit: int, pdu: bytes, context: _Context) -> dict[str, Any]:
    if not pdu:
        raise ValueError("no function code")
    function = pdu[0]
    if function & 0x80:
        code = pdu[1] if len(pdu) > 1 else 0
        return {
            "function": function & 0x7F,
            "kind": "exception",
            "exception": code,
            "meaning": EXCEPTION_NAMES.get(code, "unknown"),
        }
    described: dict[str, Any] = {"function": function, "name": FUNCTION_NAMES.get(function, "other")}
    if function in (1, 2, 3, 4):
        return {**described, **_read(unit, function, pdu, context)}
    message = _REQUESTS.decode(pdu) or _RESPONSES.decode(pdu)
    if message is None:
        raise ValueError(f"function {function}: cannot decode {pdu.hex()}")
    return {**described, "kind": type(message).__name__, **_fields(message)}


def _read(unit: int, function: int, pdu: bytes, context: _Context) -> dict[str, Any]:
    as_response = len(pdu) >= 2 and pdu[1] == len(pdu) - 2 and (function < 3 or pdu[1] % 2 == 0)
    as_request = len(pdu) == 5
    if as_request and as_response:  # e.g. 3 coil bytes: a response only right after its request
        as_request = (unit, function) not in context.pending
    if as_request:
        request = _REQUESTS.decode(pdu)
        if request is None:
            raise ValueError(f"bad read request {pdu.hex()}")
        context.pending[(unit, function)] = (request.address, request.count)
        return {"kind": "request", "start": f"{request.address:#06x}", "count": request.count}
    response = _RESPONSES.decode(pdu) if as_response else None
    if response is None:
        raise ValueError(f"neither a read request nor a response: {pdu.hex()}")
    pending = context.pending.pop((unit, function), None)
    start, count = pending if pending else (context.start, None)
    context.start = None
    data: list[int] | list[bool]
    if function > 2:
        data = [int(r) for r in response.registers]
    else:
        bits = [bool(b) for b in response.bits]
        data = bits[:count] if count else bits  # a response pads coils to whole bytes
    shown: Any = list(data) if function > 2 else _bit_string(data)
    result: dict[str, Any] = {"kind": "response", ("registers" if function > 2 else "bits"): shown}
    if start is not None:
        result["start"] = f"{start:#06x}"
        if context.regmap is not None:
            result.update(describe_values(context.regmap, Function(function), start, data))
    return result


def _fields(message: ModbusPDU) -> dict[str, Any]:
    fields: dict[str, Any] = {"address": f"{message.address:#06x}"}
    if message.count:
        fields["count"] = message.count
    if message.registers:
        fields["registers"] = list(message.registers)
    if message.bits:
        fields["bits"] = [bool(b) for b in message.bits]
    return fields


def describe_values(
    regmap: RegisterMap, function: Function, start: int, data: Sequence[int] | Sequence[bool]
) -> dict[str, Any]:
    """The map's entries fully inside ``data`` (read from ``start``), as readable values and active bits."""
    values: dict[str, Any] = {}
    active: list[str] = []
    problems: list[str] = []
    for register in regmap.registers:
        if register.function != function or register.address < start or register.end > start + len(data):
            continue
        try:
            decoded = decode_register(register, data[register.address - start : register.end - start])
        except CodecError as err:
            problems.append(str(err))
            continue
        values[register.name] = _shown(decoded)
        problem = out_of_range(register, decoded.value if isinstance(decoded.value, list) else [decoded.value])
        if problem:
            problems.append(problem)
        active.extend(
            bit.text for bit in register.bits.values() if bit.index < len(decoded.bits) and decoded.bits[bit.index]
        )
    out: dict[str, Any] = {"map": regmap.name, "values": values}
    if active:
        out["active"] = active
    if problems:
        out["problems"] = problems
    return out


def _shown(decoded: Decoded) -> Any:
    register = decoded.register
    if register.enum and isinstance(decoded.raw, int) and decoded.raw in register.enum:
        return register.enum[decoded.raw].text
    if decoded.bits and register.bits:
        return [bit.name for bit in register.bits.values() if decoded.bits[bit.index]]
    if register.unit and decoded.value is not None and not isinstance(decoded.value, str):
        if isinstance(decoded.value, list):
            return [f"{v} {register.unit}" if v is not None else None for v in decoded.value]
        return f"{decoded.value} {register.unit}"
    return decoded.value


def _bit_string(bits: Sequence[int] | Sequence[bool]) -> str:
    """Coils in address order as 0/1, in groups of 8: ``00000000 00010000``."""
    digits = "".join("1" if b else "0" for b in bits)
    return " ".join(digits[i : i + 8] for i in range(0, len(digits), 8))
