"""Tests for the recorder: batching, publish-after-commit, flush at stop, retries and a full queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.bus import DATA_BMS_NEW, DATA_BMS_STORED, SYSTEM_MODULE_HEALTH_CHANGED, Event, EventBus
from hub.reading import Reading
from hub.registry import Health, ServiceRegistry
from hub.storage import DEFAULT_TENANT, StorageError
from hub.storage.recorder import SERVICE, Recorder
from hub.storage.sqlite import SQLiteStorage, SQLiteTenantStore
from tests.helpers import wait_for

T0 = datetime(2024, 7, 1, 6, 0, 0, tzinfo=UTC)
TIMEOUT = 15.0


def reading(second: int, battery: str = "garage") -> Reading:
    return Reading(battery, timestamp=T0 + timedelta(seconds=second), voltage=52.0, current=1.0)


class Harness:
    """A bus, registry and real SQLite store, with the recorder's events and health changes recorded."""

    def __init__(self, bus: EventBus, storage: SQLiteStorage, store: SQLiteTenantStore) -> None:
        self.bus = bus
        self.registry = ServiceRegistry(bus)
        self.storage = storage
        self.store = store
        self.stored_events: list[dict[str, Any]] = []
        self.health: list[tuple[str, str | None]] = []
        self.recorders: list[Recorder] = []
        bus.subscribe(DATA_BMS_STORED, lambda e: self.stored_events.append(e.data))
        bus.subscribe(SYSTEM_MODULE_HEALTH_CHANGED, self._on_health)

    def _on_health(self, event: Event) -> None:
        if event.data["name"] == SERVICE:
            self.health.append((event.data["health"], event.data["reason"]))

    async def recorder(self, store: Any = None, **kwargs: Any) -> Recorder:
        recorder = Recorder(self.bus, self.registry, store or self.store, **kwargs)
        await recorder.start()
        self.recorders.append(recorder)
        return recorder

    def publish(self, *readings: Reading) -> None:
        for item in readings:
            self.bus.publish(DATA_BMS_NEW, item, origin="core.pipeline")

    async def stored_seconds(self, battery: str = "garage") -> list[int]:
        rows = await self.store.history(battery, None, None, 10_000)
        return [int((r.timestamp - T0).total_seconds()) for r in rows]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    storage = SQLiteStorage(tmp_path / "hub.db")
    await storage.open()
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("garage", "Garage", "daly")
    await store.ensure_battery("shed", "Shed", "daly")
    bus = EventBus()
    harness = Harness(bus, storage, store)
    yield harness
    for recorder in harness.recorders:
        await asyncio.wait_for(recorder.stop(), TIMEOUT)
    bus.close()
    await storage.close()


async def test_readings_are_written_in_batches(harness: Harness) -> None:
    await harness.recorder(batch_size=5, flush_interval=30.0)
    harness.publish(*(reading(s) for s in range(10)))
    await wait_for(lambda: len(harness.stored_events) == 2)
    assert [e["count"] for e in harness.stored_events] == [5, 5]
    assert harness.stored_events[-1]["batteries"] == {"garage": 5}
    assert await harness.stored_seconds() == list(range(10))


async def test_a_partial_batch_is_written_after_the_flush_interval(harness: Harness) -> None:
    recorder = await harness.recorder(batch_size=500, flush_interval=0.05)
    harness.publish(reading(0, "garage"), reading(0, "shed"))
    await wait_for(lambda: harness.stored_events)
    assert harness.stored_events == [{"count": 2, "batteries": {"garage": 1, "shed": 1}, "last": (T0).isoformat()}]
    assert recorder.stats() == {"stored": 2, "dropped": 0, "queued": 0, "throttled": 0, "holding_back": False}


async def test_stored_event_comes_after_the_commit(harness: Harness, tmp_path: Path) -> None:
    # A second connection only sees committed rows.
    reader = SQLiteStorage(tmp_path / "hub.db")
    await reader.open()
    visible: list[int] = []

    async def on_stored(event: Event) -> None:
        visible.append(len(await reader.for_tenant(DEFAULT_TENANT).history("garage", None, None, 1000)))

    harness.bus.subscribe(DATA_BMS_STORED, on_stored)
    try:
        await harness.recorder(batch_size=3, flush_interval=30.0)
        harness.publish(*(reading(s) for s in range(3)))
        await wait_for(lambda: visible)
        harness.publish(*(reading(s) for s in range(3, 6)))
        await wait_for(lambda: len(visible) == 2)
        assert visible == [3, 6]
    finally:
        await reader.close()


async def test_stop_flushes_queued_readings(harness: Harness) -> None:
    recorder = await harness.recorder(batch_size=1000, flush_interval=30.0)
    harness.publish(*(reading(s) for s in range(7)))
    await asyncio.wait_for(recorder.stop(), TIMEOUT)
    assert await harness.stored_seconds() == list(range(7))
    assert recorder.stored == 7
    service = harness.registry.get(SERVICE)
    assert service is not None
    assert service.health == Health.STOPPED


async def test_stop_while_collecting_a_batch_returns_and_flushes(harness: Harness) -> None:
    # The writer holds one reading and waits for more when a last reading arrives with the stop.
    recorder = await harness.recorder(batch_size=1000, flush_interval=30.0)
    harness.publish(reading(0))
    await harness.bus.drain()
    await wait_for(lambda: recorder.stats()["queued"] == 0)
    harness.publish(reading(1))
    await asyncio.wait_for(recorder.stop(), TIMEOUT)
    assert await harness.stored_seconds() == [0, 1]


class FlakyStore:
    """The real store, failing the first ``failures`` writes like a full disk would."""

    def __init__(self, store: SQLiteTenantStore, failures: int) -> None:
        self.store = store
        self.failures = failures
        self.attempts: list[list[Reading]] = []

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        self.attempts.append(list(readings))
        if len(self.attempts) <= self.failures:
            raise StorageError("database or disk is full")
        await self.store.write_readings(readings)


async def test_failed_batch_is_kept_retried_and_health_recovers(harness: Harness) -> None:
    flaky = FlakyStore(harness.store, failures=1)
    await harness.recorder(flaky, batch_size=4, flush_interval=30.0)
    harness.publish(*(reading(s) for s in range(4)))
    await wait_for(lambda: harness.stored_events)
    assert len(flaky.attempts) == 2
    assert flaky.attempts[0] == flaky.attempts[1]  # the same batch, nothing lost or added
    assert await harness.stored_seconds() == [0, 1, 2, 3]
    await harness.bus.drain()
    assert harness.health == [("failed", "database or disk is full"), ("ok", None)]


class GatedStore:
    """The real store, holding its first write until the test opens the gate."""

    def __init__(self, store: SQLiteTenantStore) -> None:
        self.store = store
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        self.entered.set()
        await self.gate.wait()
        await self.store.write_readings(readings)


async def test_full_queue_drops_oldest_and_reports_degraded(harness: Harness) -> None:
    gated = GatedStore(harness.store)
    recorder = await harness.recorder(gated, batch_size=100, flush_interval=0.01, queue_size=10)
    harness.publish(reading(0))
    await asyncio.wait_for(gated.entered.wait(), TIMEOUT)  # the writer is stuck on the disk
    harness.publish(*(reading(s) for s in range(1, 31)))
    await harness.bus.drain()
    assert recorder.dropped == 20
    service = harness.registry.get(SERVICE)
    assert service is not None
    assert (service.health, service.reason) == (Health.DEGRADED, "write queue full, dropping oldest")

    gated.gate.set()
    await wait_for(lambda: recorder.stored == 11)
    # The oldest queued readings went; the newest ten survived.
    assert await harness.stored_seconds() == [0, *range(21, 31)]
    await wait_for(lambda: harness.registry.get(SERVICE).health == Health.OK)  # type: ignore[union-attr]
    await harness.bus.drain()
    # Held back first (pollers would wait), then dropping for producers that do not wait.
    assert harness.health == [
        ("degraded", "storage is slow: polling held back"),
        ("degraded", "write queue full, dropping oldest"),
        ("ok", None),
    ]


async def test_slow_storage_holds_pollers_back_and_loses_nothing(harness: Harness) -> None:
    gated = GatedStore(harness.store)
    recorder = await harness.recorder(gated, batch_size=100, flush_interval=0.01, queue_size=10)
    harness.publish(reading(0))
    await asyncio.wait_for(gated.entered.wait(), TIMEOUT)  # the writer is stuck on the disk
    await recorder.wait_for_room()  # one reading in flight: room for more
    harness.publish(*(reading(s) for s in range(1, 8)))  # backlog 8 = the high-water mark of 10
    await harness.bus.drain()
    poller = asyncio.create_task(recorder.wait_for_room())
    await asyncio.sleep(0)
    assert not poller.done()  # a poller would wait here instead of adding to the backlog
    service = harness.registry.get(SERVICE)
    assert service is not None
    assert (service.health, service.reason) == (Health.DEGRADED, "storage is slow: polling held back")
    assert recorder.stats()["holding_back"]

    gated.gate.set()
    await asyncio.wait_for(poller, TIMEOUT)  # the writer caught up: polling resumes
    await wait_for(lambda: recorder.stored == 8)
    assert recorder.dropped == 0
    assert await harness.stored_seconds() == list(range(8))
    await wait_for(lambda: harness.registry.get(SERVICE).health == Health.OK)  # type: ignore[union-attr]
    assert recorder.stats()["throttled"] == 1
