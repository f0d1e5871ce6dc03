"""Base of serial device simulators: a pty, a request framer, faults, and a line paced like a UART."""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from hub.faults import Answer, FaultInjector
from hub.transport.pty import PtyEndpoint

_LOGGER = logging.getLogger(__name__)
QUIET_GAP = 0.05  # seconds of silence after which a request the framer held back is decided


class Request(Protocol):
    """A framed request: its bytes as they came over the line."""

    @property
    def raw(self) -> bytes:
        """The request's bytes."""


RequestT = TypeVar("RequestT", bound=Request)


class RequestFramer(Protocol[RequestT]):
    """Turns the host's bytes into requests (resynchronising on junk)."""

    def feed(self, chunk: bytes) -> list[RequestT]:
        """Requests completed by these bytes."""

    def flush(self) -> list[RequestT]:
        """Requests held back waiting for bytes that are not coming."""


class PtyDevice(abc.ABC, Generic[RequestT]):
    """One simulated serial line with one or more devices on it."""

    def __init__(self, link: Path, framer: RequestFramer[RequestT], pace_baudrate: int | None = None) -> None:
        self.link = str(link)
        self.faults = FaultInjector()
        self.requests = 0
        self._framer = framer
        self._pty = PtyEndpoint(link, self._on_data, baudrate=pace_baudrate)
        self._tasks: set[asyncio.Task[None]] = set()
        self._quiet: asyncio.TimerHandle | None = None
        # One UART: an answer is sent whole before the next one starts, as a real device does.
        self._line = asyncio.Lock()

    @abc.abstractmethod
    def answers(self, request: RequestT) -> Sequence[Sequence[bytes]]:
        """The answers to one request, one list of frames per device that answers."""

    async def start(self) -> None:
        """Open the pty and link it."""
        await self._pty.open()
        _LOGGER.info("%s on %s (%s)", type(self).__name__, self.link, self._pty.slave_name)

    def _on_data(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self._quiet is not None:
            self._quiet.cancel()
        # The framer may hold a complete request whose tail looks like another frame's start;
        # a quiet line means nothing else is coming, so decide then (like the drivers do).
        self._quiet = loop.call_later(QUIET_GAP, self._handle, self._framer.flush)
        self._handle(lambda: self._framer.feed(data))

    def _handle(self, requests: Callable[[], list[RequestT]]) -> None:
        for request in requests():
            self.requests += 1
            for frames in self.answers(request):
                answer = self.faults.apply(frames)
                if answer is not None:
                    self._send(self._after_request(answer, request))

    def _after_request(self, answer: Answer, request: RequestT) -> Answer:
        # A pty delivers the host's request at once; a paced line would have taken this long.
        if not self._pty.baudrate:
            return answer
        return Answer(answer.data, answer.delay + len(request.raw) * 10 / self._pty.baudrate)

    def _send(self, answer: Answer) -> None:
        async def send() -> None:
            if answer.delay:
                await asyncio.sleep(answer.delay)
            async with self._line:
                await self._pty.write_paced(answer.data)

        task = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop answering and remove the link."""
        if self._quiet is not None:
            self._quiet.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self._pty.close()
