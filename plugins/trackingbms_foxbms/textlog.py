"""Text CAN logs (candump, PCAN-View traces) and the ``trackingbms decode foxbms`` tool."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trackingbms_foxbms.codec import DecodedFrame, decode_frame, describe_frame
from trackingbms_foxbms.dbc import BUNDLED, FlagPolarity, FoxbmsDbc, Layout, load_dbc, polarity_for
from trackingbms_foxbms.errors import FoxbmsProtocolError

__all__ = ["CanLine", "decode_lines", "parse_line"]

# An optional "(1700000000.123456)" timestamp, as `candump -L` and `candump -ta` print.
_STAMP = r"(?:\(\s*[0-9.]+\)\s*)?"
# `candump -L` / cansend: "[can0 ]233#05100A1C00A004D2"; cansend also allows '.' between bytes.
_COMPACT = re.compile(rf"^\s*{_STAMP}(?:\S+\s+)?(?P<id>[0-9A-Fa-f]{{1,8}})#(?P<data>[0-9A-Fa-f.]*)\s*$")
# Plain `candump can0`: "can0  233   [8]  05 10 0A 1C 00 A0 04 D2".
_CLASSIC = re.compile(
    rf"^\s*{_STAMP}\S+\s+(?P<id>[0-9A-Fa-f]{{3,8}})\s+\[(?P<dlc>\d)\]\s*(?P<data>(?:[0-9A-Fa-f]{{2}}\s*)*)$"
)
# The PCAN-View text trace foxBMS committed as tools/dbc/test_log.txt (legacy.md §1.9):
# "Timestamp:  132.072247  ID: 0241  S Rx  DL:  8  00 07 ec bf 61 fb 2f d9".
_PCAN = re.compile(
    r"^\s*Timestamp:\s*[0-9.]+\s+ID:\s*(?P<id>[0-9A-Fa-f]+)\s+(?P<kind>\S+)\s+\S+\s+DL:\s*(?P<dlc>\d+)"
    r"\s*(?P<data>(?:[0-9A-Fa-f]{2}\s*)*)$"
)
_REMOTE = re.compile(r"^[^#]*[0-9A-Fa-f]#R\d?\s*$", re.IGNORECASE)  # cansend's "123#R"
_EXTENDED_DIGITS = 8  # candump prints 3 hex digits for standard and 8 for extended identifiers


@dataclass(frozen=True, slots=True)
class CanLine:
    """One CAN frame read from a text line."""

    can_id: int
    extended: bool
    data: bytes


def parse_line(text: str) -> CanLine:
    """Parse a candump (both formats) or PCAN-View trace line; ValueError for anything else."""
    if _REMOTE.search(text):
        raise ValueError("remote frame: no data")
    if (m := _COMPACT.match(text)) is not None:
        data = bytes.fromhex(m["data"].replace(".", ""))
        return CanLine(int(m["id"], 16), len(m["id"]) == _EXTENDED_DIGITS, data)
    for pattern in (_CLASSIC, _PCAN):
        if (m := pattern.match(text)) is not None:
            data = bytes.fromhex(m["data"])
            if len(data) != int(m["dlc"]):
                raise ValueError(f"length {m['dlc']} announced, {len(data)} data bytes on the line")
            can_id = int(m["id"], 16)
            # PCAN-View marks standard frames "S"; candump prints 8 digits for extended ones.
            extended = m["kind"].upper() == "E" if pattern is _PCAN else len(m["id"]) == _EXTENDED_DIGITS
            return CanLine(can_id, extended or can_id > 0x7FF, data)
    raise ValueError("not a CAN log line (expected ID#DATA, 'can0  ID  [n]  bytes' or a PCAN-View trace line)")


def _expand(items: Sequence[str]) -> Iterator[str]:
    """Arguments as given, with ``@file`` replaced by the file's non-empty, non-comment lines."""
    for item in items:
        if item.startswith("@"):
            for line in Path(item[1:]).read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.lstrip().startswith(("#", ";")):
                    yield line
        else:
            yield item


def _choose(text: str) -> FoxbmsDbc:
    value = text.partition("=")[2].strip()
    if value in {layout.value for layout in Layout}:
        return load_dbc(BUNDLED[Layout(value)], Layout(value))
    return load_dbc(Path(value))


def _values(dbc: FoxbmsDbc, frame: DecodedFrame) -> list[dict[str, Any]]:
    """The cells or sensors of a multiplexed frame, 1-based, with their flag read as valid or not."""
    voltages = frame.role == "cell_voltages"
    slots = (dbc.cell_slots if voltages else dbc.temp_slots).get(frame.mux if frame.mux is not None else -1, ())
    one_valid = polarity_for(dbc.layout, None) is FlagPolarity.ONE_MEANS_VALID
    out = []
    for slot in slots:
        raw = frame.signals[slot.value]
        flag = frame.signals.get(slot.flag, 0.0) if slot.flag else 0.0
        value = {"voltage": raw / 1000.0} if voltages else {"temperature": raw}
        out.append({"number": slot.index + 1, **value, "valid": (flag == 1) == one_valid})
    return out


def decode_lines(items: Sequence[str]) -> list[dict[str, Any]]:
    """Decode frames, one result per frame; ``dbc=current|v1.6|PATH`` switches the DBC for what follows."""
    results: list[dict[str, Any]] = []
    dbc: FoxbmsDbc | None = None
    for text in _expand(items):
        if text.startswith("dbc="):
            try:
                dbc = _choose(text)
            except FoxbmsProtocolError as err:
                results.append({"input": text, "error": str(err)})
            continue
        dbc = dbc or load_dbc(BUNDLED[Layout.CURRENT], Layout.CURRENT)
        results.append(_decode_one(dbc, text))
    return results


def _decode_one(dbc: FoxbmsDbc, text: str) -> dict[str, Any]:
    try:
        line = parse_line(text)
    except ValueError as err:
        return {"input": text, "error": str(err)}
    try:
        frame = decode_frame(dbc, line.can_id, line.data, line.extended)
        described = describe_frame(dbc, line.can_id, line.data, line.extended)
    except FoxbmsProtocolError as err:
        return {"input": text, "can_id": f"0x{line.can_id:03X}", "dbc": dbc.label, "error": str(err)}
    result = {"input": text, **described}
    if frame.role in ("cell_voltages", "cell_temperatures"):
        result["values"] = _values(dbc, frame)
        result["note"] = f"'valid' read with this DBC's usual flag meaning: {polarity_for(dbc.layout, None).value}"
    if frame.role == "pack_values":
        result["note"] = "foxBMS counts discharge current as positive by default (BS_POSITIVE_DISCHARGE_CURRENT)"
    return result
