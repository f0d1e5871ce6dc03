"""The driver's side of the HC-05 link: decoded messages in, commands and the keep-alive out."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from hub.specs import LinkError
from hub.transport.link import ByteLink
from trackingbms_greenbms.errors import GreenBmsProtocolError
from trackingbms_greenbms.framing import LineFramer, command
from trackingbms_greenbms.messages import Message, decode_line

__all__ = ["KEEPALIVE_WINDOW", "KeepAlive", "MessageReader"]

_LOGGER = logging.getLogger(__name__)
# The firmware compares the last '#m' value every 15 s and, if it did not change, falls back to
# page 0 and stops streaming (Control_Unit_2_1.ino "Oscillator period: 30 sec"; legacy.md §3.3).
KEEPALIVE_WINDOW = 15.0


class MessageReader:
    """Messages from a ByteLink; lines the codec rejects are dropped and counted."""

    def __init__(self) -> None:
        self.framer = LineFramer()
        self.bad_lines = 0
        self.last_error: str | None = None
        self._pending: deque[Message] = deque()

    def reset(self, link: ByteLink) -> None:
        """Drop what arrived before now: stale lines of another page or of an earlier poll."""
        link.discard_input()
        self.framer.reset()
        self._pending.clear()

    async def next(self, link: ByteLink, timeout: float) -> Message | None:  # noqa: ASYNC109 - timed read
        """The next good message, or None when none arrived within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            chunk = await link.read(remaining)
            if chunk:
                self.feed(chunk)
        return self._pending.popleft()

    def feed(self, chunk: bytes) -> None:
        """Decode the lines ``chunk`` completes."""
        for line in self.framer.feed(chunk):
            try:
                self._pending.append(decode_line(line.tokens))
            except GreenBmsProtocolError as err:
                # No checksum: a line with a bad value or an unknown token sequence is unusable.
                self.bad_lines += 1
                self.last_error = str(err)
                _LOGGER.debug("Dropped a line: %s", err)


class KeepAlive:
    """Background task sending ``#m<k>`` with a new k every ``interval`` seconds.

    Without a changing keep-alive the Control Unit returns to page 0 within 15-30 s and streams
    nothing but its 5-second sign of life (Control_Unit_2_1.ino: every 15 s, ``if (HMI_life_mem
    == HMI_life) hmi_page = 0``; legacy.md §3.3). k runs 1..999: never 0, the firmware's start
    value, which would look unchanged, and small enough for the firmware's 16-bit int.
    """

    def __init__(self, send: Callable[[bytes], None], interval: float) -> None:
        if not 0 < interval < KEEPALIVE_WINDOW:
            raise ValueError(f"the keep-alive interval must be below {KEEPALIVE_WINDOW} s")
        self._send = send
        self.interval = interval
        self.counter = 0
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the background task runs."""
        return self._task is not None and not self._task.done()

    def beat(self) -> None:
        """Send the next value now; a link that is down is left to the poll to report."""
        self.counter = self.counter % 999 + 1
        try:
            self._send(command("m", self.counter))
            self.sent += 1
        except LinkError as err:
            _LOGGER.debug("Keep-alive not sent: %s", err)

    def start(self) -> None:
        """Beat now, then every ``interval`` seconds in the background (idempotent)."""
        if not self.running:
            self.beat()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="greenbms-keepalive")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.beat()

    async def stop(self) -> None:
        """Stop beating."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
