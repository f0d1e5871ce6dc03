"""The byte-stream link every request/answer driver talks through (serial port, BLE, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class ByteLink(Protocol):
    """Bytes out, bytes in with timed reads: what a SharedPort hands a driver for one exchange."""

    # Optional raw capture: called with ("tx" | "rx", bytes) for everything on the link.
    capture: Callable[[str, bytes], None] | None

    @property
    def is_open(self) -> bool:
        """True while the link can carry bytes."""

    async def open(self) -> None:
        """Open the link; raises LinkError."""

    async def close(self) -> None:
        """Close the link; must not raise."""

    def write(self, data: bytes) -> None:
        """Send bytes; raises LinkError when the link is gone."""

    async def read(self, timeout: float) -> bytes:  # noqa: ASYNC109 - a timed read is the point
        """Whatever arrived, waiting up to ``timeout`` for the first byte; b'' on timeout."""

    def discard_input(self) -> bytes:
        """Drop and return unread bytes."""
