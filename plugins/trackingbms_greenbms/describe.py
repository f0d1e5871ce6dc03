"""Readable decoding of captured Green-BMS lines and host commands for ``trackingbms decode greenbms``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from trackingbms_greenbms.codec import CHARGE_STATUS, FLAG_NAMES, PARAMETERS, DecodedToken, decode_token
from trackingbms_greenbms.errors import GreenBmsProtocolError
from trackingbms_greenbms.framing import ALLOWED_COMMAND_CHARS, parse_line, to_int
from trackingbms_greenbms.messages import (
    Cells,
    Heartbeat,
    KeepAliveMarker,
    Overview,
    Parameters,
    SettingsEnd,
    decode_line,
)

__all__ = ["decode_lines", "describe"]

_KINDS: dict[type, str] = {
    Overview: "overview",
    Cells: "cells",
    Parameters: "parameters",
    KeepAliveMarker: "keepalive_marker",
    SettingsEnd: "settings_end",
    Heartbeat: "heartbeat",
}
PAGES = {0: "none (stop streaming)", 1: "connection (password)", 2: "overview", 3: "cells", 4: "settings"}
# Host-to-device commands (legacy.md §3.3, bluetooth_protocol.json "host_to_device_commands").
_COMMANDS: dict[str, tuple[str, str]] = {
    "s": ("select_page", "select the page the unit streams"),
    "m": ("keep_alive", "app keep-alive; must change at least every 15 s"),
    "h": ("overview_capacity", "page 2: 1 = send capacity and cell count, 0 = stop"),
    "e": ("settings_dump", "page 4: 1 = dump every setting, 0 = stop"),
    "p": ("write_parameter", "page 4: write a parameter to EEPROM"),
    "q": ("balance_test", "page 3: 5 s balancing test of one cell module"),
    "r": ("reset_cell_error", "page 3: reset a latched cell error"),
}


def decode_lines(texts: Sequence[str]) -> list[dict[str, Any]]:
    """One result per line; an argument holding several lines (a pasted capture) is split."""
    results: list[dict[str, Any]] = []
    for text in texts:
        lines = [part for part in re.split(r"[\r\n]+", text) if part.strip()] or [text]
        results.extend(describe(line) for line in lines)
    return results


def describe(text: str) -> dict[str, Any]:
    """Describe one line as JSON-ready data; problems go to an ``error`` key, nothing raises."""
    stripped = text.strip()
    if stripped.startswith("#") and "$" not in stripped:
        return _describe_command(text, stripped)
    line = parse_line(stripped.encode("utf-8", "replace"))
    tokens: list[dict[str, Any]] = []
    errors: list[str] = []
    for token in line.tokens:
        try:
            tokens.append(_token_entry(decode_token(token)))
        except GreenBmsProtocolError as err:
            tokens.append({"token": token.code, "raw": token.value, "error": str(err)})
            errors.append(str(err))
    result: dict[str, Any] = {"input": text, "direction": "device_to_host", "kind": None, "tokens": tokens}
    if line.junk:
        result["junk_bytes"] = line.junk
    if not line.tokens:
        errors.append("no token found: a line is $#<letter><3 digits><value>$...$")
    elif not errors:
        try:
            result["kind"] = _KINDS[type(decode_line(line.tokens))]
        except GreenBmsProtocolError as err:
            errors.append(str(err))
    if errors:
        result["error"] = "; ".join(errors)
    return result


def _token_entry(decoded: DecodedToken) -> dict[str, Any]:
    field = decoded.field
    entry: dict[str, Any] = {"token": decoded.token.code, "name": field.name, "value": decoded.value}
    if field.unit:
        entry["unit"] = field.unit
    if decoded.cell is not None:
        entry["cell"] = decoded.cell
    if field.fmt == "flags":
        entry["flags"] = [name for name, bit in zip(FLAG_NAMES, decoded.value, strict=True) if bit == "1"]
    if field.name == "charge_status":
        entry["meaning"] = CHARGE_STATUS[decoded.value]
    return entry


def _describe_command(text: str, stripped: str) -> dict[str, Any]:
    # The unit keeps only # 0-9 s h e p g q r m - (legacy.md §3.3): describe what it would see.
    seen = "".join(char for char in stripped if char in ALLOWED_COMMAND_CHARS)
    result: dict[str, Any] = {"input": text, "direction": "host_to_device", "received_as": seen}
    letter, argument = seen[1:2], seen[2:]
    if letter not in _COMMANDS:
        result["error"] = f"unknown command {seen!r}"
        return result
    name, meaning = _COMMANDS[letter]
    result.update(command=name, argument=argument, meaning=meaning)
    if letter == "s":
        result["page"] = PAGES.get(to_int(argument), "unknown page (streams nothing)")
    elif letter == "p":
        number = to_int(argument[:3])
        field = PARAMETERS.get(number)
        if field is None:
            result["error"] = f"unknown parameter {argument[:3]!r}"
        else:
            result.update(parameter=field.name, value=to_int(argument[3:]), unit=field.unit)
    return result
