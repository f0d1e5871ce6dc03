"""The bounded outgoing queue: bus handlers put without waiting, the publisher takes; state topics coalesce."""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutMessage:
    """One message to publish."""

    topic: str
    payload: str
    retain: bool = False
    qos: int = 0


class Outbox:
    """Latest-wins per topic for state-like messages, first-in first-out otherwise, oldest dropped when full.

    While the broker is away the queue holds at most one message per coalesced topic, so a long outage
    costs memory only for events (alerts, command results), and reconnecting sends the latest values.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.dropped = 0
        self._items: OrderedDict[Hashable, OutMessage] = OrderedDict()
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._unique = itertools.count()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: OutMessage, *, coalesce: bool = True) -> None:
        """Queue a message; never waits. A coalesced message replaces the queued one of its topic."""
        key: Hashable = message.topic if coalesce else (message.topic, next(self._unique))
        if key in self._items:
            del self._items[key]
        elif len(self._items) >= self.maxsize:
            self._items.popitem(last=False)
            self.dropped += 1
        self._items[key] = message
        self._ready.set()
        self._empty.clear()

    async def get(self) -> tuple[Hashable, OutMessage]:
        """Wait for and take the oldest message, with its key (for :meth:`requeue`)."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        key, message = self._items.popitem(last=False)
        if not self._items:
            self._ready.clear()
            self._empty.set()
        return key, message

    def requeue(self, key: Hashable, message: OutMessage) -> None:
        """Put back at the front a message that could not be sent, unless a newer one replaced it."""
        if key in self._items:
            return
        if len(self._items) >= self.maxsize:
            self.dropped += 1
            return
        self._items[key] = message
        self._items.move_to_end(key, last=False)
        self._ready.set()
        self._empty.clear()

    async def wait_empty(self) -> None:
        """Wait until every queued message was taken."""
        await self._empty.wait()
