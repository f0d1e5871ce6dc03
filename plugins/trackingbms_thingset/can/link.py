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

__all__ = ["BusConfig", "CanLink"]

_LOGGER = logging.getLogger(__name__)
_NOTIFIER_TIMEOUT = 0.1  # how long the reader thread blocks in recv(); bounds closing time


@dataclass(frozen=True, slots=True)
class BusConfig:
    """Which python-can interface to open."""

    interface: str
    channel: str
    bitrate: int
    options: Mapping[str, Any] = field(default_factory=dict)


class _Listener(can.Listener):
    """Runs in the Notifier thread; hands frames and errors to the event loop."""

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
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            self._loop.call_soon_threadsafe(self._on_message, msg)

    def on_error(self, exc: Exception) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_error, exc)
        time.sleep(_NOTIFIER_TIMEOUT)  # a dead adapter fails at once again: do not spin


class CanLink:
    """One python-can bus; every frame received is passed to ``on_message`` on the event loop.

    The loop never blocks on the adapter: opening, sending and closing run in one worker thread,
    receiving in python-can's Notifier thread.
    """

    def __init__(self, config: BusConfig, on_message: Callable[[can.Message], None]) -> None:
        self.config = config
        self.on_message = on_message
        self.error: Exception | None = None
        self._bus: can.BusABC | None = None
        self._notifier: can.Notifier | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def is_open(self) -> bool:
        """Open and not failed."""
        return self._bus is not None and self.error is None

    async def open(self) -> None:
        """Open the interface; LinkError when python-can cannot."""
        if self._bus is not None:
            return
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"thingset-can-{self.config.channel}")
        try:
            self._bus = await loop.run_in_executor(self._executor, self._make_bus)
        except Exception as err:  # python-can raises CanError, OSError, ValueError, ImportError...
            self._executor.shutdown(wait=False)
            self._executor = None
            raise LinkError(f"cannot open CAN {self.config.interface} {self.config.channel}: {err}") from err
        self.error = None
        listener = _Listener(loop, self.on_message, self._failed)
        try:
            self._notifier = can.Notifier(self._bus, [listener], timeout=_NOTIFIER_TIMEOUT)
        except ValueError as err:
            await self.close()
            raise LinkError(f"cannot read CAN {self.config.channel}: {err}") from err

    def _make_bus(self) -> can.BusABC:
        return can.Bus(
            interface=self.config.interface,
            channel=self.config.channel,
            bitrate=self.config.bitrate,
            **dict(self.config.options),
        )

    def _failed(self, exc: Exception) -> None:
        _LOGGER.warning("CAN %s %s failed: %s", self.config.interface, self.config.channel, exc)
        self.error = exc

    async def send(self, frames: Sequence[tuple[int, bytes]]) -> None:
        """Send extended-ID frames in order; LinkError when the bus refuses them."""
        if self._bus is None or self._executor is None:
            raise LinkError(f"CAN {self.config.channel} is not open")
        if self.error is not None:
            raise LinkError(f"CAN {self.config.channel} failed: {self.error}")
        messages = [can.Message(arbitration_id=i, is_extended_id=True, data=d) for i, d in frames]
        bus = self._bus
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, _send_all, bus, messages)
        except (can.CanError, OSError, ValueError) as err:
            raise LinkError(f"CAN send on {self.config.channel} failed: {err}") from err

    async def close(self) -> None:
        """Stop receiving and shut the bus down; never raises."""
        bus, notifier, executor = self._bus, self._notifier, self._executor
        self._bus = self._notifier = self._executor = None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        try:
            if notifier is not None:
                await loop.run_in_executor(executor, notifier.stop)
            if bus is not None:
                await loop.run_in_executor(executor, bus.shutdown)
        except Exception as err:  # closing must not raise, whatever the interface does
            _LOGGER.debug("CAN %s shutdown: %s", self.config.channel, err)
        executor.shutdown(wait=False)


def _send_all(bus: can.BusABC, messages: Sequence[can.Message]) -> None:
    for message in messages:
        bus.send(message, timeout=1.0)
