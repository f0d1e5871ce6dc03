"""One notifier's pipe: bounded intake queue -> persisted outbox -> in-order delivery with retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.reading import utc_now
from hub.registry import Health, ServiceRegistry
from hub.storage.base import DEFAULT_TENANT, Storage, StorageError, TenantStore
from hub.storage.records import OutboxItem
from trackingbms_notify.catchup import SWEEP_INTERVAL, CatchUp, delivery_key
from trackingbms_notify.delivery import Delivery, Notifier
from trackingbms_notify.history import HistoryWriter
from trackingbms_notify.routing import EVENT_NAMES
from trackingbms_notify.settings import NotifierEntry

_LOGGER = logging.getLogger(__name__)
# outbox_due with this "now" returns every undelivered item in order, due or not: the head of the line.
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
STORAGE_RETRY = 5.0  # seconds before the delivery loop tries again after a storage failure
PERSIST_TRIES = 3
STOP_TIMEOUT = 5.0  # seconds to persist the intake queue at shutdown


def describe(err: BaseException, timeout: float) -> str:
    """A failure as one line for health and the delivery history."""
    if isinstance(err, TimeoutError):
        return f"no answer within {timeout:g} s"
    return str(err) or type(err).__name__


class Channel:
    """Delivers one notifier's messages in the order they were queued (over all tenants), never losing one."""

    def __init__(self, entry: NotifierEntry, notifier: Notifier, storage: Storage, registry: ServiceRegistry) -> None:
        self.entry = entry
        self.notifier = notifier
        self.storage = storage
        self.registry = registry
        self.service = f"notifier.{entry.name}"
        self.outbox = f"notify.{entry.name}"
        self.queue: asyncio.Queue[tuple[str, str, Mapping[str, Any]]] = asyncio.Queue(entry.queue_size)
        # Tenants whose outbox this channel reads: its route's, or "default" plus every tenant seen.
        self.tenants: set[str] = set(entry.route.tenants) or {DEFAULT_TENANT}
        self.counts = {"queued": 0, "delivered": 0, "failed_attempts": 0, "dropped": 0}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.history = HistoryWriter(entry.name)
        self.catch_up = CatchUp(entry, storage, self.tenants, self.offer)
        self._rng = random.Random()
        # The first round after a start tries each head at once: a restart or a reload (a fixed
        # secret, an endpoint back) should not wait out a backoff computed by the previous run.
        self._eager = True

    def start(self) -> None:
        """Start the intake and delivery tasks (the delivery task first sends what an earlier run left),
        and the catch-up sweeps (its first sweep queues what was raised while this channel was not running)."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._intake(), name=f"{self.service}.intake"),
            loop.create_task(self._deliver_loop(), name=f"{self.service}.deliver"),
            loop.create_task(self._sweep_loop(), name=f"{self.service}.catch_up"),
        ]

    def offer(self, event: str, alert: Mapping[str, Any]) -> bool:
        """Queue an alert event without waiting; when the queue is full the event is dropped and counted."""
        key = delivery_key(self.entry.name, alert, event)
        try:
            self.queue.put_nowait((key, event, alert))
        except asyncio.QueueFull:
            self.counts["dropped"] += 1
            reason = f"intake queue full ({self.entry.queue_size}), alert events dropped: {self.counts['dropped']}"
            self._health(Health.DEGRADED, reason)
            _LOGGER.error("Notifier %s: %s", self.entry.name, reason)
            return False
        self.catch_up.remember(key)
        return True

    async def stop(self) -> None:
        """Persist what is queued, then stop; an attempt in flight is cut and retried at the next start."""
        if self._tasks and not self._tasks[0].done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.history.close()
        close = getattr(self.notifier, "close", None)
        if close is not None:
            try:
                await close()
            except Exception:
                _LOGGER.exception("Notifier %s failed to close", self.entry.name)

    # Intake: memory queue -> outbox (a quick local write, so the queue rarely fills up).

    async def _intake(self) -> None:
        while True:
            key, event, alert = await self.queue.get()
            try:
                await self._persist(key, event, alert)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.counts["dropped"] += 1
                self._health(Health.DEGRADED, f"could not queue an alert event: {err}")
                _LOGGER.exception("Notifier %s: alert event %s lost", self.entry.name, alert.get("id"))
            finally:
                self.queue.task_done()

    async def _persist(self, key: str, event: str, alert: Mapping[str, Any]) -> None:
        """Queue in the outbox under ``key``, the delivery id (kept across retries and restarts; the
        outbox keeps the first item of a key, so an event queued twice is sent once)."""
        tenant = str(alert.get("tenant_id") or DEFAULT_TENANT)
        payload = {"event": event, "event_name": EVENT_NAMES[event], "alert": dict(alert)}
        for attempt in range(1, PERSIST_TRIES + 1):
            try:
                await self.storage.for_tenant(tenant).outbox_add(self.outbox, key, payload)
                break
            except StorageError:
                if attempt == PERSIST_TRIES:
                    raise
                await asyncio.sleep(0.2 * attempt)
        self.counts["queued"] += 1
        self.tenants.add(tenant)
        self._wake.set()

    # Catch-up: what the bus delivered while this channel was not subscribed.

    async def _sweep_loop(self) -> None:
        while True:
            try:
                queued = await self.catch_up.sweep(utc_now())
                if queued:
                    _LOGGER.info("Notifier %s: %d missed alert events queued from storage", self.entry.name, queued)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Storage down: the next sweep looks again; live events are not affected.
                _LOGGER.exception("Notifier %s: catch-up sweep failed", self.entry.name)
            await asyncio.sleep(SWEEP_INTERVAL)

    # Delivery: the oldest item first, one at a time.

    async def _deliver_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                _LOGGER.exception("Notifier %s: delivery loop failed", self.entry.name)
                self._health(Health.DEGRADED, f"outbox unavailable: {err}")
                wait = STORAGE_RETRY
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()  # new work, or the head's retry time

    async def _round(self) -> float | None:
        """Deliver what is due; seconds until the head is due again, None when everything went out."""
        while head := await self._head():
            store, item = head
            # Head of line: item n+1 waits until item n went out (or was given up).
            wait = 0.0 if self._eager else (item.next_attempt_at - utc_now()).total_seconds()
            self._eager = False
            if wait > 0:
                return wait
            retry_in = await self._attempt(store, item)
            if retry_in is not None:
                return retry_in
        self._eager = False
        return None

    async def _head(self) -> tuple[TenantStore, OutboxItem] | None:
        """The oldest undelivered item over the tenants' outboxes (one table per tenant scope)."""
        heads: list[tuple[TenantStore, OutboxItem]] = []
        for tenant in sorted(self.tenants):
            store = self.storage.for_tenant(tenant)
            heads.extend((store, item) for item in await store.outbox_due(self.outbox, FAR_FUTURE, limit=1))
        return min(heads, key=lambda head: (head[1].created_at, head[1].id), default=None)

    async def _attempt(self, store: TenantStore, item: OutboxItem) -> float | None:
        """Try an item once; None when it is done with (sent or dropped), else seconds until the retry."""
        try:
            delivery = Delivery.from_outbox(item, self.entry.name, self.entry.locale)
        except (KeyError, TypeError, ValueError) as err:
            _LOGGER.error("Notifier %s: dropping malformed outbox item %s: %s", self.entry.name, item.key, err)
            await store.outbox_done(item.id)
            return None
        if self.entry.retry.expired(item.created_at, utc_now()):
            await self._give_up(store, item, delivery, f"given up after {self.entry.retry.give_up_after:g} s")
            return None
        try:
            async with asyncio.timeout(self.entry.timeout):
                await self.notifier.send(delivery)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            return await self._failed(store, item, delivery, err)
        await store.outbox_done(item.id)
        self.counts["delivered"] += 1
        self._health(Health.OK, None)
        await self._history(store, delivery, "notified", {})
        return None

    async def _failed(self, store: TenantStore, item: OutboxItem, delivery: Delivery, err: Exception) -> float | None:
        error = describe(err, self.entry.timeout)
        self.counts["failed_attempts"] += 1
        if getattr(err, "permanent", False):
            await self._give_up(store, item, delivery, error)
            return None
        delay = self.entry.retry.delay(delivery.attempt, self._rng)
        await store.outbox_retry(item.id, utc_now() + timedelta(seconds=delay), error)
        reason = f"attempt {delivery.attempt} failed: {error}; retrying in {delay:.1f} s"
        self._health(Health.DEGRADED, reason)
        _LOGGER.warning("Notifier %s: delivery %s %s", self.entry.name, delivery.id, reason)
        await self._history(store, delivery, "delivery_failed", {"error": error, "final": False, "retry_in": delay})
        return delay

    async def _give_up(self, store: TenantStore, item: OutboxItem, delivery: Delivery, error: str) -> None:
        # The outbox has no "abandoned" state: the item is closed, the history says it failed.
        await store.outbox_done(item.id)
        self.counts["dropped"] += 1
        self._health(Health.FAILED, f"delivery {delivery.id} dropped: {error}")
        _LOGGER.error("Notifier %s: delivery %s dropped: %s", self.entry.name, delivery.id, error)
        await self._history(store, delivery, "delivery_failed", {"error": error, "final": True})

    async def _history(self, store: TenantStore, delivery: Delivery, kind: str, extra: dict[str, Any]) -> None:
        details = {
            "notifier": self.entry.name,
            "notifier_kind": self.entry.kind,
            "event": delivery.event,
            "delivery_id": delivery.id,
            "attempt": delivery.attempt,
            **extra,
        }
        await self.history.add(store, delivery.alert_id, kind, details)

    def _health(self, health: Health, reason: str | None) -> None:
        self.registry.set_health(self.service, health, reason, **self.counts)
