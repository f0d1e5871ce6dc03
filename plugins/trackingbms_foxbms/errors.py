"""Errors raised by the foxBMS protocol code."""

from __future__ import annotations

__all__ = ["FoxbmsProtocolError"]


class FoxbmsProtocolError(Exception):
    """A CAN frame the foxBMS DBC cannot decode, or a value a DBC signal cannot carry.

    Raised for identifiers that are not in the DBC, wrong data lengths, undefined multiplexer
    values and unusable DBC files. The driver counts such frames and ignores them (other nodes
    share the bus); it is never a bug.
    """
