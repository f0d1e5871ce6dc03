"""A ThingSet text session on a serial link: a reader task, live reports, one request at a time (§2.5)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.reading import utc_now
from hub.specs import LinkError
from hub.transport.link import ByteLink
from trackingbms_thingset.errors import NotThingSetError, ThingSetError
from trackingbms_thingset.framing import CrcState, LineFramer, decode_line, encode_line
from trackingbms_thingset.text import TextReport, TextResponse, parse_message
from trackingbms_thingset.values import flatten

__all__ = ["LiveReport", "TextSession"]

_LOGGER = logging.getLogger(__name__)
_READ_WAIT = 1.0  # seconds per read of the reader task (it loops until closed)


@dataclass(frozen=True, slots=True)
class LiveReport:
    """One published statement as it arrived."""

    at: float  # loop time of arrival
    timestamp: datetime
    path: str
    values: dict[str, Any]  # flattened: item name -> value
    number: int  # counts reports, so a poll can tell a new one from one it already used


@dataclass(slots=True)
class LineStats:
    """What the reader saw: ThingSet lines, other lines (logs), bad lines (CRC, JSON)."""

    thingset: int = 0
    foreign: int = 0
    bad: int = 0
    stray: int = 0  # responses nobody waited for


class TextSession:
    """Owns the reading side of a link; ``request`` writes and waits for the next response line.

    ``crc`` is "on" (send and require), "off" (send none; a CRC that is present is still checked)
    or "auto" (send one once the device has sent one; on a timeout, retry the other way).
    """

    def __init__(self, link: ByteLink, crc: str = "auto", timeout: float = 1.0, retries: int = 2) -> None:
        self.link = link
        self.crc = crc
        self.timeout = timeout
        self.retries = retries
        self.framer = LineFramer()
        self.stats = LineStats()
        self.device_crc: bool | None = None
        self.latest: LiveReport | None = None
        self.failure: Exception | None = None
        self._reports = 0
        self._report_event = asyncio.Event()
        self._pending: asyncio.Future[TextResponse] | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading the link."""
        self.framer.reset()
        self.failure = None
        self._task = asyncio.get_running_loop().create_task(self._read_loop(), name=f"thingset-{id(self)}")

    async def stop(self) -> None:
        """Stop reading; a waiting request fails with LinkError."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._fail_pending(LinkError("session closed"))

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.link.read(_READ_WAIT)
                for line in self.framer.feed(data):
                    self._on_line(line.body)
        except LinkError as err:
            self.failure = err
            self._fail_pending(err)
            self._report_event.set()

    def _fail_pending(self, err: Exception) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(err)

    def _on_line(self, body: bytes) -> None:
        try:
            message = decode_line(body, require_crc=self.crc == "on")
            parsed = parse_message(message.text)
        except NotThingSetError:
            self.stats.foreign += 1  # Zephyr log output on the same UART (§2.4)
            _LOGGER.debug("not ThingSet: %r", body[:80])
            return
        except ThingSetError as err:
            self.stats.bad += 1
            _LOGGER.debug("unusable line: %s", err)
            return
        self.stats.thingset += 1
        if message.crc is CrcState.VALID:
            self.device_crc = True
        if isinstance(parsed, TextReport):
            self._on_report(parsed)
        elif isinstance(parsed, TextResponse):
            if self._pending is not None and not self._pending.done():
                self._pending.set_result(parsed)
            else:
                self.stats.stray += 1

    def _on_report(self, report: TextReport) -> None:
        self._reports += 1
        loop = asyncio.get_running_loop()
        self.latest = LiveReport(loop.time(), utc_now(), report.path, flatten(report.payload), self._reports)
        self._report_event.set()

    async def next_report(self, after: int, timeout: float) -> LiveReport | None:  # noqa: ASYNC109
        """The first report numbered above ``after``, waiting up to ``timeout``; None when none came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.latest is None or self.latest.number <= after:
            if self.failure is not None:
                raise LinkError(str(self.failure))
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            self._report_event.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._report_event.wait()
        return self.latest

    def _send_crc(self, attempt: int) -> bool:
        if self.crc != "auto":
            return self.crc == "on"
        if self.device_crc:
            return True
        # Unknown: firmware enforcing the CRC drops requests without one silently (§2.5).
        return attempt % 2 == 1

    async def request(self, message: str) -> TextResponse:
        """Send one request line and return the response; LinkError after every retry timed out."""
        return await self._request(message, self.retries)

    async def request_once(self, message: str) -> TextResponse:
        """As request, without retries: for functions that must not run twice (xReset)."""
        return await self._request(message, 0)

    async def _request(self, message: str, retries: int) -> TextResponse:
        async with self._lock:
            for attempt in range(retries + 1):
                if self.failure is not None:
                    raise LinkError(str(self.failure))
                future: asyncio.Future[TextResponse] = asyncio.get_running_loop().create_future()
                self._pending = future
                try:
                    self.link.write(encode_line(message, crc=self._send_crc(attempt)))
                    async with asyncio.timeout(self.timeout):
                        return await future
                except TimeoutError:
                    _LOGGER.debug("no answer to %r (try %d)", message, attempt + 1)
                finally:
                    self._pending = None
        raise LinkError(f"no answer to {message!r} after {retries + 1} tries")
