"""One python-can bus per (interface, channel), shared by every Daly board on it and routed by ID."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import can

from hub.specs import DriverContext, LinkError
from hub.transport.shared import PortRegistry
from trackingbms_daly.can.ids import BITRATE, HOST, is_reply, parse_id

__all__ = ["BusConfig", "CanBusRegistry", "CanLink", "SharedCanBus", "registry_for"]

_LOGGER = logging.getLogger(__name__)
# How long the notifier's reader thread blocks in recv(); bounds how long closing takes.
_NOTIFIER_TIMEOUT = 0.1
ReplyHandler = Callable[[int, bytes], None]


@dataclass(frozen=True, slots=True)
class BusConfig:
    """Which python-can interface to open: any interface name, channel, bitrate and extra kwargs."""

    interface: str
    channel: str
    bitrate: int = BITRATE
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """Batteries with the same interface and channel share one bus."""
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
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody waits
            self._loop.call_soon_threadsafe(self._on_message, msg)

    def on_error(self, exc: Exception) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_error, exc)
        # A handled error lets the reader thread go on; a dead adapter would fail again at
        # once, so pause until the loop has closed the link (which stops this thread).
        time.sleep(_NOTIFIER_TIMEOUT)


class CanLink:
    """A python-can bus opened in a worker thread and read by a can.Notifier, calling back on the loop.

    The one worker thread also sends and closes, so the loop never blocks and sends never interleave.
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
        """Whether the bus is open and has not failed."""
        return self._bus is not None and self.error is None

    async def open(self) -> None:
        """Open the interface (in the worker thread) and start receiving; LinkError on failure."""
        if self._bus is not None:
            return
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"can-{self.config.channel}")
        try:
            self._bus = await loop.run_in_executor(self._executor, self._make_bus)
        except Exception as err:  # python-can raises CanError, OSError, ValueError, ImportError...
            self._executor.shutdown(wait=False)
            self._executor = None
            raise LinkError(f"cannot open CAN {self.config.interface} {self.config.channel}: {err}") from err
        self.error = None
        # No loop for the Notifier: given one, python-can reads fd-capable buses (slcan, socketcan)
        # on the loop itself, where a serial read can block and a dead adapter raises on every
        # callback. Its reader thread reads instead, and the listener hands over to the loop.
        listener = _Listener(loop, self.on_message, self._failed)
        try:
            self._notifier = can.Notifier(self._bus, [listener], timeout=_NOTIFIER_TIMEOUT)
        except ValueError as err:  # the bus object is already read by another Notifier
            await self.close()
            raise LinkError(f"cannot read CAN {self.config.channel}: {err}") from err

    def _make_bus(self) -> can.BusABC:
        options = dict(self.config.options)
        return can.Bus(
            interface=self.config.interface, channel=self.config.channel, bitrate=self.config.bitrate, **options
        )

    def _failed(self, exc: Exception) -> None:
        _LOGGER.warning("CAN %s %s failed: %s", self.config.interface, self.config.channel, exc)
        self.error = exc

    async def send(self, frames: Sequence[tuple[int, bytes]]) -> None:
        """Send extended-ID frames back to back; LinkError when the bus refuses them."""
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
                await loop.run_in_executor(executor, notifier.stop)  # joins the reader thread
            if bus is not None:
                await loop.run_in_executor(executor, bus.shutdown)
        except Exception as err:  # closing must not raise, whatever the interface does
            _LOGGER.debug("CAN %s shutdown: %s", self.config.channel, err)
        executor.shutdown(wait=False)


def _send_all(bus: can.BusABC, messages: Iterable[can.Message]) -> None:
    for message in messages:
        bus.send(message, timeout=1.0)


class SharedCanBus:
    """A CanLink plus routing of Daly answers to whoever waits for (board, data id)."""

    def __init__(self, config: BusConfig, host: int = HOST) -> None:
        self.config = config
        self.host = host
        self.users = 0
        self.link = CanLink(config, self._on_message)
        self._handlers: dict[tuple[int, int], list[ReplyHandler]] = {}
        self._open_lock = asyncio.Lock()
        self.ignored = 0  # frames that were nobody's answer: other traffic, late or foreign replies

    async def ensure_open(self) -> None:
        """Open the bus, or reopen it after a failure."""
        async with self._open_lock:
            if self.link.error is not None:
                await self.link.close()
            await self.link.open()

    @contextlib.contextmanager
    def subscribe(self, board: int, data_ids: Iterable[int], handler: ReplyHandler) -> Iterator[None]:
        """Call ``handler(data_id, payload)`` for every answer of ``board`` to one of ``data_ids``."""
        keys = [(board, data_id) for data_id in data_ids]
        for key in keys:
            self._handlers.setdefault(key, []).append(handler)
        try:
            yield
        finally:
            for key in keys:
                handlers = self._handlers.get(key, [])
                with contextlib.suppress(ValueError):
                    handlers.remove(handler)
                if not handlers:
                    self._handlers.pop(key, None)

    async def send(self, frames: Sequence[tuple[int, bytes]]) -> None:
        """Send requests (see CanLink.send)."""
        await self.link.send(frames)

    def _on_message(self, msg: can.Message) -> None:
        if (
            not msg.is_extended_id
            or msg.is_remote_frame
            or msg.is_error_frame
            or not is_reply(msg.arbitration_id, self.host)
        ):
            self.ignored += 1
            return
        parts = parse_id(msg.arbitration_id)
        handlers = self._handlers.get((parts.source, parts.data_id))
        if not handlers:
            self.ignored += 1
            return
        for handler in list(handlers):
            handler(parts.data_id, bytes(msg.data))


class CanBusRegistry:
    """Hands out one SharedCanBus per (interface, channel); the last release closes it."""

    def __init__(self) -> None:
        self._buses: dict[tuple[str, str], SharedCanBus] = {}

    def acquire(self, config: BusConfig) -> SharedCanBus:
        """The shared bus for ``config``; every acquire needs a matching release."""
        bus = self._buses.get(config.key)
        if bus is None:
            bus = self._buses[config.key] = SharedCanBus(config)
        elif bus.config != config:
            _LOGGER.warning("CAN %s %s already open with %s; keeping it", *config.key, bus.config)
        bus.users += 1
        return bus

    async def release(self, config: BusConfig) -> None:
        """Drop one user; the last one closes the bus."""
        bus = self._buses.get(config.key)
        if bus is None:
            return
        bus.users -= 1
        if bus.users <= 0:
            del self._buses[config.key]
            await bus.link.close()

    def users(self, config: BusConfig) -> int:
        """How many batteries use the bus of ``config``."""
        bus = self._buses.get(config.key)
        return bus.users if bus else 0


# DriverContext is a frozen, slotted dataclass of hub/ and cannot carry another attribute, so
# each context's registry hangs off its serial PortRegistry (one per hub, like the CAN buses).
_REGISTRIES: weakref.WeakKeyDictionary[PortRegistry, CanBusRegistry] = weakref.WeakKeyDictionary()


def registry_for(context: DriverContext) -> CanBusRegistry:
    """The CAN bus registry of a driver context: batteries of one hub share their buses."""
    registry = _REGISTRIES.get(context.ports)
    if registry is None:
        registry = _REGISTRIES[context.ports] = CanBusRegistry()
    return registry
