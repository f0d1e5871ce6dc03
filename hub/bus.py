"""The event bus: dotted event names, wildcard subscriptions, one bounded queue per subscriber."""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hub.reading import utc_now

_LOGGER = logging.getLogger(__name__)
_MATCH_CACHE_SIZE = 1024

# Seed event names (seed §4.3) and the ones this hub adds in the same dotted style.
SYSTEM_MODULE_STARTED = "system.module.started"
SYSTEM_MODULE_STOPPED = "system.module.stopped"
SYSTEM_MODULE_HEALTH_CHANGED = "system.module.health_changed"
SYSTEM_HUB_STARTED = "system.hub.started"
SYSTEM_HUB_STOPPING = "system.hub.stopping"
SYSTEM_CONFIG_CHANGED = "system.config.changed"
DATA_BMS_RAW = "data.bms.raw"
DATA_BMS_NEW = "data.bms.new"
DATA_BMS_STORED = "data.bms.stored"
DATA_BMS_LINK_CHANGED = "data.bms.link_changed"
DATA_BMS_ANALYTICS = "data.bms.analytics"
DATA_ALERT_GENERATED = "data.alert.generated"
DATA_ALERT_ACKNOWLEDGED = "data.alert.acknowledged"
DATA_ALERT_CLEARED = "data.alert.cleared"
AUTH_USER_LOGIN = "auth.user.login"
AUTH_USER_LOGOUT = "auth.user.logout"


@dataclass(frozen=True, slots=True)
class Event:
    """One event: a dotted name, its payload, and where and when it was published."""

    name: str
    data: Any
    origin: str = "hub"
    time: Any = field(default_factory=utc_now)


Handler = Callable[[Event], Awaitable[None] | None]


class Subscription:
    """A subscriber's pattern, bounded queue and worker task."""

    def __init__(self, bus: EventBus, pattern: str, handler: Handler, maxsize: int, name: str) -> None:
        self.bus = bus
        self.pattern = pattern
        self.handler = handler
        self.name = name
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0
        self.failed = 0
        self.handled = 0
        self._task: asyncio.Task[None] | None = None

    def matches(self, event_name: str) -> bool:
        """Tell whether this subscription wants an event of that name."""
        return self.pattern == event_name or fnmatch.fnmatchcase(event_name, self.pattern)

    def offer(self, event: Event) -> None:
        """Queue an event; a full queue drops its oldest event so a slow consumer never blocks."""
        if self.queue.full():
            self.queue.get_nowait()
            self.queue.task_done()  # the dropped event will never be handled; drain() must not wait for it
            self.dropped += 1
        self.queue.put_nowait(event)

    def start(self) -> None:
        """Start the worker that feeds queued events to the handler."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"bus:{self.name}")

    async def _run(self) -> None:
        queue = self.queue
        while True:
            # get() would not suspend on a non-empty queue either; get_nowait() spares its coroutine.
            event = queue.get_nowait() if queue.qsize() else await queue.get()
            try:
                result = self.handler(event)
                if result is not None and inspect.isawaitable(result):
                    await result
                self.handled += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failing listener is contained here: the publisher never sees it.
                self.failed += 1
                _LOGGER.exception("Event handler %s failed on %s", self.name, event.name)
            finally:
                self.queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued event has been handled."""
        await self.queue.join()

    def cancel(self) -> None:
        """Stop receiving events and stop the worker."""
        self.bus._remove(self)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def stats(self) -> dict[str, Any]:
        """Counters for health and diagnostics."""
        return {
            "pattern": self.pattern,
            "name": self.name,
            "queued": self.queue.qsize(),
            "handled": self.handled,
            "dropped": self.dropped,
            "failed": self.failed,
        }


class EventBus:
    """Publish/subscribe hub for runtime data; publishing never blocks and never raises."""

    def __init__(self, default_queue_size: int = 1000) -> None:
        self._subs: list[Subscription] = []
        self.default_queue_size = default_queue_size
        # The subscribers matching each event name, so publish does not glob-match every pattern on
        # every event; cleared whenever a subscription comes or goes.
        self._matching: dict[str, tuple[Subscription, ...]] = {}

    def subscribe(
        self, pattern: str, handler: Handler, *, maxsize: int | None = None, name: str | None = None
    ) -> Subscription:
        """Subscribe to events whose name matches a glob pattern (``data.bms.*``, ``*``)."""
        sub = Subscription(
            self,
            pattern,
            handler,
            maxsize or self.default_queue_size,
            name or str(getattr(handler, "__qualname__", repr(handler))),
        )
        self._subs.append(sub)
        self._matching.clear()
        sub.start()
        return sub

    def publish(self, name: str, data: Any = None, *, origin: str = "hub") -> Event:
        """Hand an event to every matching subscriber's queue and return it."""
        event = Event(name, data, origin)
        subs = self._matching.get(name)
        if subs is None:
            if len(self._matching) >= _MATCH_CACHE_SIZE:  # event names are few; bound it all the same
                self._matching.clear()
            subs = self._matching[name] = tuple(sub for sub in self._subs if sub.matches(name))
        for sub in subs:
            sub.offer(event)
        return event

    async def drain(self) -> None:
        """Wait until all subscribers have handled what is queued (used at shutdown)."""
        for sub in list(self._subs):
            await sub.drain()

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._matching.clear()

    def close(self) -> None:
        """Cancel every subscription."""
        for sub in list(self._subs):
            sub.cancel()

    def stats(self) -> list[dict[str, Any]]:
        """Counters of every subscription."""
        return [sub.stats() for sub in self._subs]
