"""Decode candump-style text lines of Daly A5-over-CAN traffic for the ``decode`` CLI."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from trackingbms_daly.a5.describe import decode_frame
from trackingbms_daly.a5.framing import DATA_LEN, A5Frame
from trackingbms_daly.can.ids import HOST, PRIORITY, parse_id
from trackingbms_daly.errors import DalyProtocolError

__all__ = ["CanLine", "decode_candump", "describe_can_frame", "looks_like_candump", "parse_candump_line"]

# An optional "(1700000000.123456)" timestamp, as `candump -L` and `candump -ta` print.
_STAMP = r"(?:\(\s*[0-9.]+\)\s*)?"
# `candump -L` / cansend: "[can0 ]18904001#0203000077240338"; cansend also allows '.' between bytes.
_COMPACT = re.compile(rf"^\s*{_STAMP}(?:(?P<iface>\S+)\s+)?(?P<id>[0-9A-Fa-f]{{1,8}})#(?P<data>[0-9A-Fa-f.]*)\s*$")
# Plain `candump can0`: "can0  18904001   [8]  02 03 00 00 77 24 03 38".
_CLASSIC = re.compile(
    rf"^\s*{_STAMP}(?P<iface>\S+)\s+(?P<id>[0-9A-Fa-f]{{3,8}})\s+\[(?P<dlc>\d)\]\s*(?P<data>(?:[0-9A-Fa-f]{{2}}\s*)*)$"
)
# candump prints 3 hex digits for standard and 8 for extended identifiers.
_EXTENDED_DIGITS = 8


class CanLine:
    """One CAN frame read from a text line: identifier, extended flag and data bytes."""

    __slots__ = ("can_id", "data", "extended")

    def __init__(self, can_id: int, extended: bool, data: bytes) -> None:
        self.can_id = can_id
        self.extended = extended
        self.data = data


def looks_like_candump(text: str) -> bool:
    """Whether ``text`` is a candump line rather than A5 hex (which never contains '#' or '[')."""
    return "#" in text or _CLASSIC.match(text) is not None


def parse_candump_line(text: str) -> CanLine:
    """Parse either candump format; raises ValueError for anything else."""
    compact = _COMPACT.match(text)
    if compact is not None:
        digits = compact["id"]
        data = bytes.fromhex(compact["data"].replace(".", ""))
        return CanLine(int(digits, 16), len(digits) == _EXTENDED_DIGITS, data)
    classic = _CLASSIC.match(text)
    if classic is None:
        raise ValueError("not a candump line (expected ID#DATA or 'can0  ID  [n]  bytes')")
    data = bytes.fromhex(classic["data"])
    if len(data) != int(classic["dlc"]):
        raise ValueError(f"[{classic['dlc']}] announces {classic['dlc']} bytes, the line has {len(data)}")
    return CanLine(int(classic["id"], 16), len(classic["id"]) == _EXTENDED_DIGITS, data)


def describe_can_frame(can_id: int, data: bytes, extended: bool = True) -> dict[str, Any]:
    """Describe one CAN frame like ``a5.describe.decode_frame`` does an A5 frame; never raises."""
    result: dict[str, Any] = {"family": "a5-can", "can_id": f"0x{can_id:08X}", "data": data.hex(" ").upper()}
    if not extended or can_id > 0x1FFFFFFF:
        return {**result, "error": "Daly A5-over-CAN uses 29-bit identifiers (daly.md §2.1)"}
    parts = parse_id(can_id)
    if parts.source == HOST and parts.destination != HOST:
        direction, board = "request", parts.destination
    elif parts.destination == HOST and parts.source != HOST:
        direction, board = "response", parts.source
    else:
        return {**result, "error": f"neither a request from nor an answer to host 0x{HOST:02X}"}
    if len(data) != DATA_LEN:
        # Daly always sends DLC 8 (daly.md §2.1); a shorter frame is not a Daly payload.
        return {**result, "error": f"DLC {len(data)}, Daly frames always carry {DATA_LEN} bytes"}
    # The A5 describer only decides the direction from the address byte: 0x01 reads as an
    # answer, HOST as a request. Board addresses that look like hosts (0x40..) stay answers.
    described = decode_frame(A5Frame(HOST if direction == "request" else 0x01, parts.data_id, data))
    described.update(
        family="a5-can",
        direction=direction,
        address=f"0x{parts.source:02X}",
        can_id=result["can_id"],
        priority=f"0x{parts.priority:02X}",
        board=f"0x{board:02X}",
        host=f"0x{HOST:02X}",
    )
    if parts.priority != PRIORITY:
        described.setdefault("warning", f"priority 0x{parts.priority:02X}, every Daly source uses 0x18")
    return described


def decode_candump(lines: Sequence[str]) -> list[dict[str, Any]]:
    """Decode candump lines, one result per line, like the A5 ``decode_hex``."""
    results: list[dict[str, Any]] = []
    for text in lines:
        try:
            line = parse_candump_line(text)
        except ValueError as err:
            results.append({"input": text, "family": "a5-can", "error": str(err)})
            continue
        try:
            results.append({"input": text, **describe_can_frame(line.can_id, line.data, line.extended)})
        except DalyProtocolError as err:  # pragma: no cover - describe_can_frame validates first
            results.append({"input": text, "family": "a5-can", "error": str(err)})
    return results
