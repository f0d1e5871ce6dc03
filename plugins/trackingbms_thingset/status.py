"""ThingSet function and status codes shared by the text and binary modes (legacy.md §2.4)."""

from __future__ import annotations

import enum

__all__ = ["STATUS_NAMES", "TEXT_FUNCTIONS", "Function", "is_success", "status_name"]


class Function(enum.IntEnum):
    """Binary request codes of ThingSet v0.6 (protocol/functions.md)."""

    GET = 0x01
    EXEC = 0x02
    DELETE = 0x04
    FETCH = 0x05
    CREATE = 0x06  # 0x06 since v0.6 (legacy.md §2.4, "CREATE function code changed")
    UPDATE = 0x07
    DESIRE = 0x1D
    REPORT = 0x1F


# Text mode: the first character of a line names the function; "?" is GET or FETCH by payload.
TEXT_FUNCTIONS: dict[str, Function] = {
    "?": Function.GET,
    "=": Function.UPDATE,
    "+": Function.CREATE,
    "-": Function.DELETE,
    "!": Function.EXEC,
    "@": Function.DESIRE,
    "#": Function.REPORT,
}

STATUS_NAMES: dict[int, str] = {
    0x81: "Created",
    0x82: "Deleted",
    0x83: "Valid",  # EXEC success up to v0.5; v0.6 answers 0x84 (legacy.md §2.4)
    0x84: "Changed",
    0x85: "Content",
    0xA0: "Bad Request",
    0xA1: "Unauthorized",
    0xA3: "Forbidden",
    0xA4: "Not Found",
    0xA5: "Method Not Allowed",
    0xA8: "Request Entity Incomplete",
    0xA9: "Conflict",
    0xAD: "Request Entity Too Large",
    0xAF: "Unsupported Content-Format",
    0xC0: "Internal Server Error",
    0xC1: "Not Implemented",
    0xC4: "Gateway Timeout",
    0xC5: "Not a Gateway",
}


def status_name(status: int) -> str:
    """The readable name of a status code ("unknown" for codes the spec does not list)."""
    return STATUS_NAMES.get(status, "unknown")


def is_success(status: int) -> bool:
    """Status codes below 0xA0 report success."""
    return 0x80 <= status < 0xA0
