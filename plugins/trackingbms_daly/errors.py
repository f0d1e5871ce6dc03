"""Errors raised by the Daly protocol code."""

from __future__ import annotations

__all__ = ["DalyProtocolError"]


class DalyProtocolError(Exception):
    """Bytes that break the Daly protocol, or values the protocol cannot carry.

    Raised for a bad checksum, length, start or length byte, a data id a decoder does not
    handle, inconsistent multi-frame data, or a value that does not fit its wire field.
    The driver treats it as "this answer is unusable" and retries; it is never a bug.
    """
