"""``trackingbms decode thingset``: text lines, binary messages (hex) and CAN frames (``ID#DATA``) as JSON."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from trackingbms_thingset.binary import BinaryReport, BinaryRequest, BinaryResponse, decode_binary, is_text_start
from trackingbms_thingset.can.ids import CanKind, parse_id
from trackingbms_thingset.can.reports import MultiFrameAssembler, decode_single
from trackingbms_thingset.eras import ERAS, detect_era, era_for_can_reports
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.framing import THINGSET_STARTS, decode_line
from trackingbms_thingset.objects import CanReports, Era, Kind
from trackingbms_thingset.status import status_name
from trackingbms_thingset.text import TextReport, TextRequest, parse_message
from trackingbms_thingset.values import BMS_STATES, build_reading, flatten, measures_from_ids, measures_from_names

__all__ = ["decode_inputs"]

# candump -L "1D000001#1F183..." (optionally after "(time) can0"), or candump "can0  1D000001   [8]  1F 18 ...".
_COMPACT = re.compile(r"^(?:\(\S+\)\s+)?(?:\S+\s+)?([0-9A-Fa-f]{3,8})#([0-9A-Fa-f.]*)$")
_CANDUMP = re.compile(r"^\s*\S+\s+([0-9A-Fa-f]{3,8})\s+\[\d+\]\s*((?:[0-9A-Fa-f]{2}\s*)*)$")
_HEX = re.compile(r"^[0-9A-Fa-f\s:]+$")
_SHELL = "thingset "  # the Zephyr shell's ThingSet command (legacy.md §2.5, bms-firmware PR #77)


def decode_inputs(inputs: Sequence[str]) -> list[dict[str, Any]]:
    """One result per line; multi-frame CAN reports given in order are reassembled."""
    assembler = MultiFrameAssembler()
    results: list[dict[str, Any]] = []
    for text in inputs:
        for piece in [p for p in text.splitlines() if p.strip()] or [text]:
            try:
                results.append({"input": piece, **_describe(piece, assembler)})
            except ThingSetError as err:
                results.append({"input": piece, "error": str(err)})
    return results


def _describe(piece: str, assembler: MultiFrameAssembler) -> dict[str, Any]:
    line = piece.strip()
    for escaped in ("\\r\\n", "\\n"):  # a line end typed as text in a shell
        line = line.removesuffix(escaped)
    shell = line.startswith(_SHELL)
    line = line.removeprefix(_SHELL)
    if line and ord(line[0]) in THINGSET_STARTS:
        return {**({"shell": True} if shell else {}), **_text(line)}
    if (match := _COMPACT.match(line) or _CANDUMP.match(line)) is not None:
        data = bytes.fromhex(re.sub(r"[\s.]", "", match.group(2)))
        return _can(int(match.group(1), 16), data, assembler)
    if line and _HEX.match(line):
        cleaned = re.sub(r"[\s:]", "", line)
        if len(cleaned) % 2:
            raise ThingSetError("odd number of hex digits")
        return _binary(bytes.fromhex(cleaned))
    raise ThingSetError("neither a ThingSet text line, a hex message nor a CAN frame (ID#DATA)")


def _text(line: str) -> dict[str, Any]:
    message = decode_line(line.encode("utf-8"))
    parsed = parse_message(message.text)
    result: dict[str, Any] = {"mode": "text", "crc": message.crc.value}
    if isinstance(parsed, TextReport):
        result.update(type="report", path=parsed.path, payload=_jsonable(parsed.payload))
        result.update(_named(flatten(parsed.payload), parsed.path))
    elif isinstance(parsed, TextRequest):
        result.update(type="request", function=parsed.name, path=parsed.path)
        if parsed.has_payload:
            result["payload"] = _jsonable(parsed.payload)
    else:
        result.update(_response(parsed.status, parsed.node))
        if parsed.status_text is not None:
            result["status_text"] = parsed.status_text
        if parsed.has_payload:
            result["payload"] = _jsonable(parsed.payload)
            if isinstance(parsed.payload, dict):
                result.update(_named(flatten(parsed.payload), None))
    return result


def _response(status: int, node: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {"type": "response", "status": f"0x{status:02X}", "status_name": status_name(status)}
    if node is not None:
        result["node"] = node
    return result


def _named(values: dict[str, Any], hint: str | None) -> dict[str, Any]:
    """The era the names belong to and the reading they make, when they are Libre Solar objects."""
    era = detect_era(values, hint)
    if era is None:
        return {}
    return {"era": era.key, **_reading(measures_from_names(era, values))}


def _reading(measures: dict[Kind, Any]) -> dict[str, Any]:
    try:
        reading = build_reading("decode", measures).to_dict()
    except ThingSetError:
        return {}
    for key in ("battery_id", "timestamp"):
        reading.pop(key)
    state = measures.get(Kind.BMS_STATE)
    extra = {"bms_state": BMS_STATES.get(state, str(state))} if isinstance(state, int) else {}
    return {"reading": {k: v for k, v in reading.items() if v not in (None, [], ())}, **extra}


def _binary(data: bytes, era: Era | None = None) -> dict[str, Any]:
    if data and is_text_start(data[0]):
        return _text(data.decode("utf-8", "replace"))
    message = decode_binary(data)
    result: dict[str, Any] = {"mode": "binary"}
    if isinstance(message, BinaryResponse):
        result.update(_response(message.status, message.node), payload=_jsonable(message.payload))
    elif isinstance(message, BinaryRequest):
        result.update(type="request", function=message.function.name, endpoint=_jsonable(message.endpoint))
        if message.has_payload:
            result["payload"] = _jsonable(message.payload)
    else:
        result.update(type="report", endpoint=_jsonable(message.endpoint), payload=_jsonable(message.payload))
        result.update(_binary_report(message, era))
    return result


def _binary_report(report: BinaryReport, era: Era | None) -> dict[str, Any]:
    """Name the IDs of an mLive report (endpoint 0x31) with the era table; other endpoints stay raw."""
    era = era or ERAS["2024"]
    if report.endpoint != era.live_id or not isinstance(report.payload, dict):
        return {}
    values = {k: v for k, v in report.payload.items() if isinstance(k, int)}
    named = {(item.name if (item := era.by_id(k)) else f"0x{k:X}"): v for k, v in values.items()}
    return {"era": era.key, "names": _jsonable(named), **_reading(measures_from_ids(era, values))}


def _can(can_id: int, data: bytes, assembler: MultiFrameAssembler) -> dict[str, Any]:
    parts = parse_id(can_id)
    result: dict[str, Any] = {"mode": "can", "id": f"0x{can_id:08X}", "kind": parts.kind.value, "source": parts.source}
    if parts.kind is CanKind.MULTI_FRAME_REPORT:
        assert parts.mf_type is not None
        result.update(msg_no=parts.msg_no, frame=parts.mf_type.name.lower(), seq=parts.seq)
        complete = assembler.feed_parsed(parts, data)
        if complete is not None:
            result["message"] = _binary(complete[1], era_for_can_reports(CanReports.MULTI_FRAME))
    elif parts.kind in (CanKind.SINGLE_FRAME_REPORT, CanKind.LEGACY_REPORT):
        result.update(_single(can_id, data, parts.kind))
    elif parts.kind in (CanKind.REQUEST_RESPONSE, CanKind.LEGACY_REQUEST_RESPONSE):
        result.update(target=parts.target, **_isotp(data))
    else:
        result.update(target=parts.target, data=data.hex().upper())
    return result


def _single(can_id: int, data: bytes, kind: CanKind) -> dict[str, Any]:
    value = decode_single(can_id, data)
    result: dict[str, Any] = {"object_id": f"0x{value.data_id:02X}", "value": _jsonable(value.value)}
    # 0x1E: 2022-10 .. 2023 (main sends control items this way too); 0x1F: 2021 .. 2022-09, whose eras
    # share the IDs, with and without the r prefix.
    single = kind is CanKind.SINGLE_FRAME_REPORT
    eras = [ERAS["2023"]] if single else [ERAS["2022-05"], ERAS["2021-10"]]
    names = [item.name for era in eras if (item := era.by_id(value.data_id)) is not None]
    if names:
        result["name"] = " / ".join(dict.fromkeys(names))
    if value.extra:
        result["extra"] = value.extra.hex().upper()
    return result


def _isotp(data: bytes) -> dict[str, Any]:
    if not data:
        raise ThingSetError("empty ISO-TP frame")
    pci = data[0] >> 4
    names = {0: "single", 1: "first", 2: "consecutive", 3: "flow control"}
    result: dict[str, Any] = {"isotp": names.get(pci, f"unknown {pci}"), "data": data.hex().upper()}
    size = data[0] & 0xF
    if pci == 0 and 1 <= size <= len(data) - 1:
        result["message"] = _binary(data[1 : 1 + size])
    return result


def _jsonable(value: Any) -> Any:
    """Map keys as "0x71", bytes as hex, non-finite floats as None: ready for json.dumps."""
    if isinstance(value, dict):
        return {(f"0x{k:X}" if isinstance(k, int) else str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
