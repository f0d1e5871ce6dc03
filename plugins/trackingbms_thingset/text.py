"""ThingSet text mode (v0.6, accepting the v0.3-v0.5 variants): parse and format one message."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trackingbms_thingset.errors import NotThingSetError, ThingSetError
from trackingbms_thingset.status import TEXT_FUNCTIONS, Function

__all__ = [
    "TextMessage",
    "TextReport",
    "TextRequest",
    "TextResponse",
    "dumps",
    "format_report",
    "format_request",
    "format_response",
    "parse_message",
]

# ":" 2HEX ["/" [node-id]] then the rest (legacy.md §2.4 text grammar).
_RESPONSE = re.compile(r":([0-9A-Fa-f]{2})(?:/(\S*))?(.*)", re.DOTALL)
# v0.5 and earlier put a status text before the payload: ":85 Content. {..}", ":A4 Not Found.",
# or just ":85. {..}" with verbose messages off (legacy.md §2.4, "Differences in older versions").
_STATUS_TEXT = re.compile(r"\s*([A-Za-z][A-Za-z ]*)?\.(?=\s|$)")


@dataclass(frozen=True, slots=True)
class TextRequest:
    """A request line: ``?path``, ``?path [..]``, ``=path {..}``, ``!path [..]``..."""

    function: Function
    path: str
    payload: Any = None
    has_payload: bool = False

    @property
    def name(self) -> str:
        """GET and FETCH share "?"; a payload (array or null) makes it a FETCH (§2.4)."""
        if self.function is Function.GET and self.has_payload:
            return Function.FETCH.name
        return self.function.name


@dataclass(frozen=True, slots=True)
class TextResponse:
    """A response line: ``:85 {..}``, ``:84``, ``:A3 "Item is read-only"``, ``:85 Content. {..}``."""

    status: int
    payload: Any = None
    has_payload: bool = False
    node: str | None = None  # ":85/<node>" from a gateway
    status_text: str | None = None  # "Content" of v0.5 ":85 Content. {..}"


@dataclass(frozen=True, slots=True)
class TextReport:
    """A published statement: ``#mLive {..}`` (v0.6), ``#mSerial {..}`` (v0.5), ``# {..}`` (v0.3)."""

    path: str
    payload: Any


TextMessage = TextRequest | TextResponse | TextReport


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError; deep nesting recurses
        raise ThingSetError(f"invalid JSON payload {_clip(text)!r}: {err}") from err


def _clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[:size] + "..."


def parse_message(text: str) -> TextMessage:
    """Parse one text-mode message (without CRC suffix and line end); raises ThingSetError."""
    if not text:
        raise NotThingSetError("empty line")
    if text[0] == ":":
        return _parse_response(text)
    function = TEXT_FUNCTIONS.get(text[0])
    if function is None:
        # Log output shares the UART; lines with another first character are not ThingSet (§2.4).
        raise NotThingSetError(f"not a ThingSet line: {_clip(text)!r}")
    path, separator, rest = text[1:].partition(" ")
    if any(ord(ch) < 0x20 for ch in path):
        raise ThingSetError(f"control character in path {path!r}")
    has_payload = bool(separator and rest.strip())
    payload = _loads(rest) if has_payload else None
    if function is Function.REPORT:
        if not isinstance(payload, dict | list):
            raise ThingSetError(f"a report needs a JSON object: {_clip(text)!r}")
        return TextReport(path, payload)
    if function in (Function.UPDATE, Function.DESIRE) and not isinstance(payload, dict):
        raise ThingSetError(f"{function.name} needs a JSON object: {_clip(text)!r}")
    if function is Function.GET and has_payload and not (payload is None or isinstance(payload, list)):
        raise ThingSetError(f"FETCH takes an array or null: {_clip(text)!r}")
    return TextRequest(function, path, payload, has_payload)


def _parse_response(text: str) -> TextResponse:
    match = _RESPONSE.fullmatch(text)
    if match is None:
        raise ThingSetError(f"malformed response {_clip(text)!r}")
    status = int(match.group(1), 16)
    if status < 0x80:
        raise ThingSetError(f"response status 0x{status:02X} is not a status code")
    rest = match.group(3)
    status_text = None
    if (word := _STATUS_TEXT.match(rest)) is not None:
        status_text = (word.group(1) or "").strip()
        rest = rest[word.end() :]
    rest = rest.strip()
    payload = _loads(rest) if rest else None
    return TextResponse(status, payload, bool(rest), match.group(2), status_text)


def dumps(value: Any, decimals: Mapping[str, int] | None = None, places: int | None = None) -> str:
    """JSON as ThingSet prints it: floats with the item's decimals (``decimals`` by item name)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "null"
        return f"{value:.{places}f}" if places is not None else json.dumps(value)
    if isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))}:{dumps(v, decimals, (decimals or {}).get(str(k)))}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v, decimals, places) for v in value) + "]"
    raise ThingSetError(f"cannot print {type(value).__name__} in text mode")


def format_request(char: str, path: str, payload: str | None = None) -> str:
    """``?Meas``, ``=Input {"wChgEnable":false}``...; ``payload`` is JSON text (see dumps)."""
    if char not in TEXT_FUNCTIONS or char == "#":
        raise ThingSetError(f"{char!r} is not a request function")
    return f"{char}{path}" if payload is None else f"{char}{path} {payload}"


def format_response(status: int, payload: str | None = None, status_text: str | None = None) -> str:
    """``:85 {..}`` (v0.6) or ``:85 Content. {..}`` with a v0.5 status text."""
    line = f":{status:02X}"
    if status_text is not None:
        line += f" {status_text}." if status_text else "."
    return line if payload is None else f"{line} {payload}"


def format_report(path: str, payload: str) -> str:
    """``#mLive {..}``; an empty path gives the v0.3 ``# {..}``."""
    return f"#{path} {payload}"
