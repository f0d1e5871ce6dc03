"""Errors raised by the ThingSet protocol code."""

from __future__ import annotations

from trackingbms_thingset.status import status_name

__all__ = ["CrcError", "NotThingSetError", "StatusError", "ThingSetError"]


class ThingSetError(Exception):
    """Bytes or text that break the ThingSet protocol, or values it cannot carry.

    Raised for a bad CRC, malformed JSON or CBOR, an unknown function or status code, a
    truncated or out-of-sequence CAN transfer. Drivers treat it as "this message is
    unusable"; it is never a bug.
    """


class CrcError(ThingSetError):
    """A serial line whose CRC-32 suffix does not match its message (legacy.md §2.5)."""


class NotThingSetError(ThingSetError):
    """A line that is not ThingSet at all, e.g. Zephyr log output sharing the UART (§2.4)."""


class StatusError(ThingSetError):
    """The device answered a request with an error status (0xA0 and above)."""

    def __init__(self, status: int, detail: str = "") -> None:
        self.status = status
        self.detail = detail
        text = f"0x{status:02X} {status_name(status)}"
        super().__init__(f"{text}: {detail}" if detail else text)
