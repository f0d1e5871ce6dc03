"""The recorder: one writer task that batches readings from the bus into storage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from hub.bus import DATA_BMS_NEW, DATA_BMS_STORED, Event, EventBus, Subscription
from hub.reading import Reading
from hub.registry import Health, ServiceRegistry
from hub.storage.base import TenantStore

_LOGGER = logging.getLogger(__name__)
SERVICE = "core.recorder"
# Back-pressure: above HIGH of the queue, polling waits for the writer; below LOW it resumes.
HIGH_WATER = 0.8
LOW_WATER = 0.5


class Recorder:
    """Collects readings and commits them in batches; a failed batch is kept and retried.

    When the disk is slower than the readings arrive, the queue fills up to its high-water mark
    and :meth:`wait_for_room` holds the pollers back (back-pressure) until the writer has caught
    up to the low-water mark, so memory stays bounded and nothing is dropped. Dropping the oldest
    reading remains the last resort for producers that do not wait (a replay, another plugin).
    """

    def __init__(
        self,
        bus: EventBus,
        registry: ServiceRegistry,
        store: TenantStore,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        queue_size: int = 10_000,
    ) -> None:
        self._bus = bus
        self._registry = registry
        self._store = store
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._queue: asyncio.Queue[Reading] = asyncio.Queue(maxsize=queue_size)
        self._high = max(1, int(queue_size * HIGH_WATER))
        self._low = int(queue_size * LOW_WATER)
        self._room = asyncio.Event()
        self._room.set()
        self.throttled = 0  # times the pollers were held back
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: list[Reading] = []
        self.stored = 0
        self.dropped = 0
        self.failures = 0

    async def start(self) -> None:
        """Subscribe to new readings and start the writer task."""
        self._registry.register(SERVICE, "core", Health.OK)
        self._sub = self._bus.subscribe(DATA_BMS_NEW, self._on_reading, name=SERVICE)
        self._task = asyncio.create_task(self._run(), name=SERVICE)

    def _on_reading(self, event: Event) -> None:
        if self._queue.full():
            # The disk cannot keep up: drop the oldest and say so instead of growing memory.
            self._queue.get_nowait()
            self.dropped += 1
            self._registry.set_health(SERVICE, Health.DEGRADED, "write queue full, dropping oldest")
        self._queue.put_nowait(event.data)
        if self._room.is_set() and self.backlog >= self._high:
            self._room.clear()
            self.throttled += 1
            self._registry.set_health(
                SERVICE, Health.DEGRADED, "storage is slow: polling held back", queued=self._queue.qsize()
            )

    @property
    def backlog(self) -> int:
        """Readings received and not yet committed."""
        return self._queue.qsize() + len(self._pending)

    async def wait_for_room(self) -> None:
        """Return once the writer has room for more readings (pollers await this before polling)."""
        await self._room.wait()

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._pending.append(await self._queue.get())
            await self._collect()
            await self._write_pending()

    async def _collect(self) -> None:
        """Gather up to a batch, waiting at most flush_interval for more."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.flush_interval
        while len(self._pending) < self.batch_size:
            while not self._queue.empty() and len(self._pending) < self.batch_size:
                self._pending.append(self._queue.get_nowait())
            remaining = deadline - loop.time()
            if len(self._pending) >= self.batch_size or remaining <= 0:
                return
            try:
                # Not asyncio.wait_for: on Python 3.11 it swallows a cancel that races with a reading
                # arriving, and stop() would then wait forever for this task.
                async with asyncio.timeout(remaining):
                    item = await self._queue.get()
            except TimeoutError:
                return
            self._pending.append(item)

    async def _write_pending(self) -> None:
        batch = self._pending
        try:
            await self._store.write_readings(batch)
        except Exception as err:  # StorageError, or a backend bug: keep the batch and retry
            self.failures += 1
            self._registry.set_health(SERVICE, Health.FAILED, str(err), pending=self.backlog)
            _LOGGER.error("Storing %d readings failed, will retry: %s", len(batch), err)
            await asyncio.sleep(min(30.0, 0.5 * 2 ** min(self.failures, 6)))
            return
        self._pending = []
        self.failures = 0
        self.stored += len(batch)
        if self.backlog <= self._low:
            self._room.set()
            self._registry.set_health(SERVICE, Health.OK, None, stored=self.stored, dropped=self.dropped)
        self._bus.publish(DATA_BMS_STORED, _summary(batch), origin=SERVICE)

    async def stop(self) -> None:
        """Stop the writer after flushing everything still queued (graceful shutdown)."""
        if self._sub is not None:
            await self._sub.drain()
            self._sub.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while not self._queue.empty():
            self._pending.append(self._queue.get_nowait())
        if self._pending:
            try:
                await self._store.write_readings(self._pending)
                self.stored += len(self._pending)
                self._bus.publish(DATA_BMS_STORED, _summary(self._pending), origin=SERVICE)
                self._pending = []
            except Exception as err:
                _LOGGER.error("Could not flush %d readings at shutdown: %s", len(self._pending), err)
        self._room.set()  # nobody may stay waiting on a stopped writer
        self._registry.set_health(SERVICE, Health.STOPPED, None)

    def stats(self) -> dict[str, Any]:
        """Counters for health."""
        return {
            "stored": self.stored,
            "dropped": self.dropped,
            "queued": self._queue.qsize(),
            "throttled": self.throttled,
            "holding_back": not self._room.is_set(),
        }


def _summary(batch: Sequence[Reading]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for reading in batch:
        counts[reading.battery_id] = counts.get(reading.battery_id, 0) + 1
    return {"count": len(batch), "batteries": counts, "last": batch[-1].timestamp.isoformat()}
