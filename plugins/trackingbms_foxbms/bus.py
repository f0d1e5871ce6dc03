"""A python-can bus opened in a worker thread and read by a Notifier thread, handing frames to the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import can

from hub.specs import LinkError

__all__ = ["BITRATE", "BusConfig", "CanLink", "Frame"]

_LOGGER = logging.getLogger(__name__)
# foxBMS runs CAN1/CAN2 at 500 kbit/s (conf/hcg/app.dil, legacy.md §1.1).
BITRATE = 500_000
# How long the Notifier's reader thread blocks in recv(); bounds how long closing takes.
_NOTIFIER_TIMEOUT = 0.1
Frame = tuple[int, bytes]


@dataclass(frozen=True, slots=True)
class BusConfig:
    """Which python-can interface to open: any interface name, channel, bitrate and extra kwargs."""

    interface: str
    channel: str
    bitrate: int = BITRATE
    options: Mapping[str, Any] = field(default_factory=dict)


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
        # A dead adapter fails again at once: pause until the loop closes the link.
        time.sleep(_NOTIFIER_TIMEOUT)


class CanLink:
    """One python-can bus: opened, written and closed in one worker thread, never on the event loop.

    The Notifier gets no loop: given one, python-can reads fd-capable buses (socketcan, slcan) on
    the loop itself, where a read can block. Its reader thread reads and the listener hands over.
    """

    def __init__(self, config: BusConfig, on_message: Callable[[can.Message], None]) -> None:
        self.config = config
        self.on_message = on_message
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
        """Open the interface and start receiving; LinkError on failure."""
        if self._bus is not None:
            return
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"foxbms-can-{self.config.channel}")
        try:
            self._bus = await loop.run_in_executor(self._executor, self._make_bus)
        except Exception as err:  # python-can raises CanError, OSError, ValueError, ImportError...
            self._executor.shutdown(wait=False)
            self._executor = None
            raise LinkError(f"cannot open CAN {self.where}: {err}") from err
        self.error = None
        listener = _Listener(loop, self.on_message, self._failed)
        try:
            self._notifier = can.Notifier(self._bus, [listener], timeout=_NOTIFIER_TIMEOUT)
        except ValueError as err:  # the bus object is already read by another Notifier
            await self.close()
            raise LinkError(f"cannot read CAN {self.where}: {err}") from err

    def _make_bus(self) -> can.BusABC:
        return can.Bus(
            interface=self.config.interface,
            channel=self.config.channel,
            bitrate=self.config.bitrate,
            **dict(self.config.options),
        )

    def _failed(self, exc: Exception) -> None:
        _LOGGER.warning("CAN %s failed: %s", self.where, exc)
        self.error = exc

    async def send(self, frames: Sequence[Frame]) -> None:
        """Send 11-bit frames in order; LinkError when the bus refuses them."""
        if self._bus is None or self._executor is None:
            raise LinkError(f"CAN {self.where} is not open")
        if self.error is not None:
            raise LinkError(f"CAN {self.where} failed: {self.error}")
        messages = [can.Message(arbitration_id=i, is_extended_id=False, data=d) for i, d in frames]
        bus = self._bus
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._send_all, bus, messages)
        except (can.CanError, OSError, ValueError) as err:
            raise LinkError(f"CAN send on {self.where} failed: {err}") from err

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

    def _send_all(self, bus: can.BusABC, messages: Iterable[can.Message]) -> None:
        # Counted here, not after the await: a cancelled sender's frames still went out.
        for message in messages:
            bus.send(message, timeout=1.0)
            self.sent += 1
