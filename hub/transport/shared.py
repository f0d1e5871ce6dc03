"""Serial ports shared by several batteries (RS485 multi-drop): one open port, one request at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from hub.transport.link import ByteLink
from hub.transport.serial import SerialLink


@dataclass(eq=False)
class SharedPort:
    """One serial port and the lock that serialises request/answer exchanges on it."""

    link: ByteLink
    users: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Half-duplex buses need a pause between one board's answer and the next request (daly.md §1.7).
    gap: float = 0.0
    # The longest fixed gap any battery on this port asked for; an adaptive gap never goes below it.
    floor: float = 0.0
    _last_release: float = 0.0

    @contextlib.asynccontextmanager
    async def exchange(self) -> AsyncIterator[ByteLink]:
        """Hold the bus for one request and its answer; other batteries on the port wait."""
        async with self.lock:
            loop = asyncio.get_running_loop()
            wait = self._last_release + self.gap - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                if not self.link.is_open:
                    await self.link.open()
                yield self.link
            finally:
                self._last_release = loop.time()


class PortRegistry:
    """Hands out one SharedPort per device path, opened on first use and closed with its last user."""

    def __init__(self) -> None:
        self._ports: dict[str, SharedPort] = {}

    def acquire(self, url: str, baudrate: int = 9600, gap: float = 0.0) -> SharedPort:
        """The shared port for ``url``; every acquire needs a matching release."""
        port = self._ports.get(url)
        if port is None:
            port = SharedPort(SerialLink(url, baudrate), gap=gap)
            self._ports[url] = port
        port.gap = max(port.gap, gap)
        port.floor = max(port.floor, gap)
        port.users += 1
        return port

    async def release(self, url: str) -> None:
        """Drop one user; the last one closes the port."""
        port = self._ports.get(url)
        if port is None:
            return
        port.users -= 1
        if port.users <= 0:
            del self._ports[url]
            async with port.lock:
                await port.link.close()

    def users(self, url: str) -> int:
        """How many batteries use a port."""
        port = self._ports.get(url)
        return port.users if port else 0
