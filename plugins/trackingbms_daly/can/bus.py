"""One python-can bus per (interface, channel), shared by every Daly board on it and routed by ID."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import can

from hub.specs import DriverContext
from hub.transport import can as hub_can
from hub.transport.shared import PortRegistry
from trackingbms_daly.can.ids import BITRATE, HOST, is_reply, parse_id

__all__ = ["BusConfig", "CanBusRegistry", "CanLink", "SharedCanBus", "registry_for"]

_LOGGER = logging.getLogger(__name__)
ReplyHandler = Callable[[int, bytes], None]


@dataclass(frozen=True, slots=True)
class BusConfig(hub_can.BusConfig):
    """The hub's bus settings with Daly's bit rate as the default."""

    bitrate: int = BITRATE


class CanLink(hub_can.CanLink):
    """The hub's CanLink sending extended (29-bit) frames, the only kind Daly boards answer."""

    def __init__(self, config: hub_can.BusConfig, on_message: Callable[[can.Message], None]) -> None:
        super().__init__(config, on_message, extended=True, name="daly-can")


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
