"""Tests for the event bus: pattern matching, per-subscriber order, failure containment, bounded queues."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from hub.bus import Event, EventBus

NAMES = [
    "data.bms.raw",
    "data.bms.new",
    "data.bms.stored",
    "data.alert.generated",
    "system.module.started",
    "data.bms",
]


async def _collect(pattern: str) -> list[str]:
    """Publish every name in NAMES once and return the names a ``pattern`` subscriber received."""
    bus = EventBus()
    got: list[str] = []
    bus.subscribe(pattern, lambda event: got.append(event.name))
    for name in NAMES:
        bus.publish(name)
    await bus.drain()
    bus.close()
    return got


async def test_exact_subscription_receives_only_that_name() -> None:
    assert await _collect("data.bms.raw") == ["data.bms.raw"]


async def test_wildcard_subscription_receives_the_family_only() -> None:
    assert await _collect("data.bms.*") == ["data.bms.raw", "data.bms.new", "data.bms.stored"]


async def test_star_subscription_receives_everything() -> None:
    assert await _collect("*") == NAMES


async def test_pattern_matching_nothing_receives_nothing() -> None:
    assert await _collect("auth.user.*") == []


async def test_event_carries_name_data_and_origin_and_is_shared_by_subscribers() -> None:
    bus = EventBus()
    first: list[Event] = []
    second: list[Event] = []
    bus.subscribe("data.bms.raw", first.append)
    bus.subscribe("data.*", second.append)
    published = bus.publish("data.bms.raw", {"v": 1}, origin="battery.one")
    await bus.drain()
    assert first == [published]
    assert second == [published]
    assert (published.name, published.data, published.origin) == ("data.bms.raw", {"v": 1}, "battery.one")
    assert published.time.tzinfo is not None
    bus.close()


async def test_each_subscriber_sees_events_in_publish_order() -> None:
    bus = EventBus()
    fast: list[int] = []
    yielding: list[int] = []

    async def slow_handler(event: Event) -> None:
        # Give the loop away between events so interleaving would show up if order were not kept.
        for _ in range(3):
            await asyncio.sleep(0)
        yielding.append(event.data)

    bus.subscribe("n", lambda event: fast.append(event.data))
    bus.subscribe("n", slow_handler)
    for i in range(200):
        bus.publish("n", i)
        if i % 17 == 0:
            await asyncio.sleep(0)
    await bus.drain()
    assert fast == list(range(200))
    assert yielding == list(range(200))
    bus.close()


def _sync_failing(got: list[Any]) -> Any:
    def handler(event: Event) -> None:
        if event.data == "bad":
            raise RuntimeError("handler bug")
        got.append(event.data)

    return handler


def _async_failing(got: list[Any]) -> Any:
    async def handler(event: Event) -> None:
        await asyncio.sleep(0)
        if event.data == "bad":
            raise RuntimeError("handler bug")
        got.append(event.data)

    return handler


@pytest.mark.parametrize("make_handler", [_sync_failing, _async_failing], ids=["sync", "async"])
async def test_failing_handler_is_contained(make_handler: Any, caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[Any] = []
    bystander: list[Any] = []
    sub = bus.subscribe("x", make_handler(got), name="flaky")
    bus.subscribe("x", lambda event: bystander.append(event.data))
    with caplog.at_level(logging.ERROR, logger="hub.bus"):
        for data in ("a", "bad", "b", "bad", "c"):
            bus.publish("x", data)  # must not raise, whatever the handler does
        await bus.drain()
    assert got == ["a", "b", "c"]
    assert bystander == ["a", "bad", "b", "bad", "c"]
    assert (sub.failed, sub.handled) == (2, 3)
    assert sub.stats()["failed"] == 2
    failures = [r for r in caplog.records if "flaky" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info is not None for r in failures)
    bus.close()


async def test_slow_consumer_drops_oldest_while_fast_consumer_gets_everything() -> None:
    bus = EventBus()
    gate = asyncio.Event()
    entered = asyncio.Event()
    slow_got: list[int] = []
    fast_got: list[int] = []

    async def slow(event: Event) -> None:
        entered.set()
        await gate.wait()
        slow_got.append(event.data)

    slow_sub = bus.subscribe("r", slow, maxsize=5, name="slow")
    fast_sub = bus.subscribe("r", lambda event: fast_got.append(event.data), maxsize=100, name="fast")
    bus.publish("r", 0)
    await asyncio.wait_for(entered.wait(), timeout=10)  # the slow handler now holds event 0
    for i in range(1, 21):
        bus.publish("r", i)
    # The slow queue kept only the newest 5 of events 1..20.
    assert slow_sub.dropped == 15
    assert slow_sub.stats()["queued"] == 5
    gate.set()
    await asyncio.wait_for(bus.drain(), timeout=10)
    assert slow_got == [0, 16, 17, 18, 19, 20]
    assert fast_got == list(range(21))
    assert fast_sub.dropped == 0
    bus.close()


async def test_drain_waits_until_everything_queued_is_handled() -> None:
    bus = EventBus()
    handled: list[int] = []

    async def handler(event: Event) -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        handled.append(event.data)

    bus.subscribe("d", handler)
    bus.subscribe("d", handler)
    for i in range(50):
        bus.publish("d", i)
    await asyncio.wait_for(bus.drain(), timeout=10)
    assert len(handled) == 100
    assert all(s["queued"] == 0 and s["handled"] == 50 for s in bus.stats())
    bus.close()


async def test_drain_returns_after_a_subscriber_dropped_events() -> None:
    # A drop must not leave the queue waiting for an event nobody will ever handle.
    bus = EventBus()
    got: list[int] = []
    sub = bus.subscribe("d", lambda event: got.append(event.data), maxsize=3)
    for i in range(10):
        bus.publish("d", i)
    await asyncio.wait_for(bus.drain(), timeout=10)
    assert got == [7, 8, 9]
    assert sub.dropped == 7
    bus.close()


async def test_a_queue_size_of_zero_is_unbounded_and_drain_waits_for_a_handler_still_running() -> None:
    bus = EventBus(default_queue_size=0)  # as asyncio.Queue(maxsize=0): no limit
    release = asyncio.Event()
    got: list[int] = []

    async def slow(event: Event) -> None:
        await release.wait()
        got.append(event.data)

    sub = bus.subscribe("z", slow)
    await bus.drain()  # nothing queued: returns at once
    for i in range(5000):
        bus.publish("z", i)
    draining = asyncio.create_task(bus.drain())
    await asyncio.sleep(0.01)
    assert not draining.done() and sub.stats()["queued"] >= 4999  # the first is being handled
    release.set()
    await asyncio.wait_for(draining, timeout=10)
    assert got == list(range(5000)) and sub.dropped == 0
    bus.close()


async def test_cancelled_subscription_receives_nothing_more() -> None:
    bus = EventBus()
    cancelled: list[int] = []
    kept: list[int] = []
    sub = bus.subscribe("c", lambda event: cancelled.append(event.data), name="gone")
    bus.subscribe("c", lambda event: kept.append(event.data), name="kept")
    bus.publish("c", 1)
    await bus.drain()
    sub.cancel()
    bus.publish("c", 2)
    await bus.drain()
    assert cancelled == [1]
    assert kept == [1, 2]
    assert [s["name"] for s in bus.stats()] == ["kept"]
    sub.cancel()  # cancelling twice is harmless
    bus.close()


async def test_close_stops_every_subscription() -> None:
    bus = EventBus()
    got: list[int] = []
    bus.subscribe("*", lambda event: got.append(event.data))
    bus.subscribe("z", lambda event: got.append(event.data))
    bus.close()
    bus.publish("z", 1)
    await bus.drain()
    assert got == []
    assert bus.stats() == []


async def test_subscribers_added_or_removed_after_a_publish_are_taken_into_account() -> None:
    """publish remembers who matches a name; a new or cancelled subscription must change that."""
    bus = EventBus()
    first: list[int] = []
    later: list[int] = []
    sub = bus.subscribe("data.*", lambda event: first.append(event.data))
    bus.publish("data.x", 1)
    bus.subscribe("data.x", lambda event: later.append(event.data))
    bus.subscribe("*", lambda event: later.append(-event.data))
    bus.publish("data.x", 2)
    await bus.drain()
    sub.cancel()
    bus.publish("data.x", 3)
    await bus.drain()
    assert first == [1, 2]
    assert sorted(later) == [-3, -2, 2, 3]
    bus.close()
