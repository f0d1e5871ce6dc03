"""Errors raised by the Green-BMS protocol code."""

from __future__ import annotations

__all__ = ["GreenBmsProtocolError"]


class GreenBmsProtocolError(Exception):
    """Text that breaks the Green-BMS line protocol, or a value the protocol cannot carry.

    Raised for an unknown token code, a value that does not match the format the firmware
    prints for its token, a line whose token sequence is not one the firmware sends, or a host
    command the firmware would mangle. The driver drops such a line; it is never a bug.
    """
