"""A python-can bus used from asyncio: opened, written and closed in one worker thread, read by a Notifier."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import can

from hub.specs import LinkError

__all__ = ["BusConfig", "CanLink", "Frame"]

_LOGGER = logging.getLogger(__name__)
# How long the Notifier's reader thread blocks in recv(); bounds how long closing takes.
NOTIFIER_TIMEOUT = 0.1
# How long one send may wait for room in the adapter's transmit queue.
SEND_TIMEOUT = 1.0
Frame = tuple[int, bytes]  # arbitration ID, data


@dataclass(frozen=True, slots=True)
class BusConfig:
    """Which python-can interface to open: any interface name, channel, bitrate and extra kwargs."""

    interface: str
    channel: str
    bitrate: int
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """Users of the same interface and channel are on one bus."""
        return (self.interface, self.channel)


class _Listener(can.Listener):
    """Runs in the Notifier's reader thread and hands frames and errors over to the event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_message: Callable[[can.Message], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        self._loop = loop
        self._on_message = on_message
        self._on_error = on_error

    def on_message_received(self, msg: can.Message) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody listens
            self._loop.call_soon_threadsafe(self._on_message, msg)

    def on_error(self, exc: Exception) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_error, exc)
        # A handled error lets the reader thread go on; a dead adapter would fail again at once,
        # so pause until the loop has closed the link (which stops this thread).
        time.sleep(NOTIFIER_TIMEOUT)


class CanLink:
    """One python-can bus; every frame received is passed to ``on_message`` on the event loop.

    The loop never blocks on the adapter: opening, sending and closing run in one worker thread (so
    sends never interleave), receiving in python-can's Notifier thread. The Notifier gets no loop:
    given one, python-can reads fd-capable buses (socketcan, slcan) on the loop itself, where a
    serial read can block and a dead adapter raises on every callback.
    """

    def __init__(
        self,
        config: BusConfig,
        on_message: Callable[[can.Message], None],
        *,
        extended: bool,
        name: str = "can",
    ) -> None:
        self.config = config
        self.on_message = on_message
        self.extended = extended  # 29-bit identifiers for the frames this link sends
        self.name = name  # worker thread name prefix
        self.error: Exception | None = None
        self.sent = 0  # frames the interface accepted, counted in the worker thread
        self._bus: can.BusABC | None = None
        self._notifier: can.Notifier | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def where(self) -> str:
        """Interface and channel, for messages."""
        return f"{self.config.interface} {self.config.channel}"

    @property
    def is_open(self) -> bool:
        """Whether the bus is open and has not failed."""
        return self._bus is not None and self.error is None

    async def open(self) -> None:
        """Open the interface (in the worker thread) and start receiving; LinkError on failure."""
        if self._bus is not None:
            return
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-{self.config.channel}")
        try:
            self._bus = await loop.run_in_executor(self._executor, self._make_bus)
        except Exception as err:  # python-can raises CanError, OSError, ValueError, ImportError...
            self._executor.shutdown(wait=False)
            self._executor = None
            raise LinkError(f"cannot open CAN {self.where}: {err}") from err
        self.error = None
        listener = _Listener(loop, self.on_message, self._failed)
        try:
            self._notifier = can.Notifier(self._bus, [listener], timeout=NOTIFIER_TIMEOUT)
        except ValueError as err:  # the bus object is already read by another Notifier
            await self.close()
            raise LinkError(f"cannot read CAN {self.where}: {err}") from err

    def _make_bus(self) -> can.BusABC:
        options = dict(self.config.options)
        return can.Bus(
            interface=self.config.interface, channel=self.config.channel, bitrate=self.config.bitrate, **options
        )

    def _failed(self, exc: Exception) -> None:
        _LOGGER.warning("CAN %s failed: %s", self.where, exc)
        self.error = exc

    async def send(self, frames: Sequence[Frame]) -> None:
        """Send frames in order, back to back; LinkError when the bus refuses them."""
        if self._bus is None or self._executor is None:
            raise LinkError(f"CAN {self.where} is not open")
        if self.error is not None:
            raise LinkError(f"CAN {self.where} failed: {self.error}")
        messages = [can.Message(arbitration_id=i, is_extended_id=self.extended, data=d) for i, d in frames]
        bus = self._bus
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._send_all, bus, messages)
        except (can.CanError, OSError, ValueError) as err:
            raise LinkError(f"CAN send on {self.where} failed: {err}") from err

    def _send_all(self, bus: can.BusABC, messages: Sequence[can.Message]) -> None:
        # Counted here, not after the await: a cancelled sender's frames still went out.
        for message in messages:
            bus.send(message, timeout=SEND_TIMEOUT)
            self.sent += 1

    async def close(self) -> None:
        """Stop receiving and shut the bus down; never raises."""
        bus, notifier, executor = self._bus, self._notifier, self._executor
        self._bus = self._notifier = self._executor = None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        try:
            if notifier is not None:
                await loop.run_in_executor(executor, notifier.stop)  # joins the reader thread
            if bus is not None:
                await loop.run_in_executor(executor, bus.shutdown)
        except Exception as err:  # closing must not raise, whatever the interface does
            _LOGGER.debug("CAN %s shutdown: %s", self.where, err)
        executor.shutdown(wait=False)
