"""The alert writer: one task that publishes decisions at once and stores them in order, retrying failures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.storage.base import StorageError, TenantStore
from hub.storage.records import AlertRecord
from trackingbms_alerts.lifecycle import Decision
from trackingbms_alerts.payload import event_payload

if TYPE_CHECKING:
    from hub.bus import EventBus

_LOGGER = logging.getLogger(__name__)
ORIGIN = "plugin.alerts"
STATE_BATTERY = "_alerts"  # battery_state row holding the last published sequence number
STATE_KEY = "sequence"
MAX_BACKOFF = 30.0


@dataclass(slots=True)
class Job:
    """One decision on its way: published once, then stored (alert row, then history entry)."""

    decision: Decision
    done: asyncio.Future[bool] | None = None
    sequence: int | None = None
    saved: bool = False


@dataclass(slots=True)
class WriterStats:
    """Counters for health and tests."""

    published: int = 0
    stored: int = 0
    failures: int = 0
    conflicts: int = 0
    last_error: str | None = None
    pending: int = 0


class Writer:
    """Publishing never waits for storage: a storage outage keeps the decisions in memory, in order,
    and retries them with a growing backoff, so nothing is lost and nothing is stored out of order."""

    def __init__(
        self,
        bus: EventBus,
        store: TenantStore,
        queue_size: int,
        report: Callable[[str | None], None],
        on_conflict: Callable[[AlertRecord], None],
    ) -> None:
        self.bus = bus
        self.store = store
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_size)
        self.unsaved: deque[Job] = deque()
        self.sequence = 0
        self.stats = WriterStats()
        self._saved_sequence = 0
        self._report = report
        self._on_conflict = on_conflict
        self._backoff = 0.0
        self._retry_at = 0.0
        self._task: asyncio.Task[None] | None = None

    async def load_sequence(self) -> None:
        """Continue the event sequence where the last run stopped."""
        state = await self.store.load_state(STATE_BATTERY, STATE_KEY)
        last = int(state.get("last", 0)) if state else 0
        self.sequence = self._saved_sequence = max(self.sequence, last)

    def start(self) -> None:
        """Start the writer task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="alerts.writer")

    async def submit(self, decisions: Iterable[Decision], wait: bool = False) -> list[Job]:
        """Queue decisions (waits only when the bounded queue is full); ``wait`` gives each a future
        that is resolved once it is stored."""
        jobs = []
        for decision in decisions:
            job = Job(decision, asyncio.get_running_loop().create_future() if wait else None)
            await self.queue.put(job)
            jobs.append(job)
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self._next()
            if job is not None:
                self._take(job)
            if loop.time() >= self._retry_at:  # during an outage, new jobs wait for the next retry
                await self.flush()

    async def _next(self) -> Job | None:
        if not self.unsaved:
            return await self.queue.get()
        try:
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancel racing with an item.
            async with asyncio.timeout(max(0.0, self._retry_at - asyncio.get_running_loop().time())):
                return await self.queue.get()
        except TimeoutError:
            return None

    def _take(self, job: Job) -> None:
        decision = job.decision
        if decision.publish:
            self.sequence += 1
            job.sequence = self.sequence
            payload = event_payload(decision, self.store.tenant_id, self.sequence)
            self.bus.publish(decision.event, payload, origin=ORIGIN)
            self.stats.published += 1
        self.unsaved.append(job)
        self.stats.pending = len(self.unsaved)

    async def flush(self) -> bool:
        """Store what is waiting, oldest first; stops at the first failure. True when all is stored."""
        while self.unsaved:
            job = self.unsaved[0]
            try:
                await self._persist(job)
            except StorageError as err:
                if not job.saved and job.decision.action == "raised" and "UNIQUE" in str(err):
                    await self._conflict(job)
                    continue
                self._failed(err)
                return False
            self.unsaved.popleft()
            self.stats.stored += 1
            if job.done is not None and not job.done.done():
                job.done.set_result(True)
        self.stats.pending = 0
        if self._backoff:
            self._backoff = self._retry_at = 0.0
            self.stats.last_error = None
            self._report(None)
        await self._save_sequence()
        return True

    async def _persist(self, job: Job) -> None:
        alert = job.decision.alert
        if not job.saved:
            await self.store.save_alert(alert)
            job.saved = True
        details = {**job.decision.history, "sequence": job.sequence, "published": job.decision.publish}
        try:
            await self.store.add_alert_event(alert.id, job.decision.action, details)
        except KeyError:
            _LOGGER.warning("Alert %s vanished before its %s step was recorded", alert.id, job.decision.action)

    async def _conflict(self, job: Job) -> None:
        """Storage already holds an open alert of this rule and battery (another writer, or one the
        engine could not load): adopt the stored one rather than keep a duplicate."""
        alert = job.decision.alert
        self.unsaved.popleft()
        self.stats.conflicts += 1
        stored, _ = await self.store.alerts(rule_id=alert.rule_id, battery_id=alert.battery_id, state="open", limit=1)
        _LOGGER.warning(
            "Alert %s of %s on %s already open in storage; adopting it", alert.id, alert.rule_id, alert.battery_id
        )
        if stored:
            self._on_conflict(stored[0])
        if job.done is not None and not job.done.done():
            job.done.set_result(False)

    def _failed(self, err: Exception) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(err)
        self.stats.pending = len(self.unsaved)
        self._backoff = min(MAX_BACKOFF, max(0.5, self._backoff * 2))
        self._retry_at = asyncio.get_running_loop().time() + self._backoff
        _LOGGER.warning("Alert storage failed (%d waiting, retry in %.1f s): %s", len(self.unsaved), self._backoff, err)
        self._report(f"storage: {err}; {len(self.unsaved)} alert writes kept in memory, retrying")

    async def _save_sequence(self) -> None:
        if self.sequence == self._saved_sequence:
            return
        try:
            await self.store.save_state(STATE_BATTERY, STATE_KEY, {"last": self.sequence})
            self._saved_sequence = self.sequence
        except StorageError as err:
            _LOGGER.warning("Could not save the alert event sequence: %s", err)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the task, publish what is queued and try once more to store it; what still cannot be
        stored stays in memory for the next start of the same hub."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self.queue.empty():
            self._take(self.queue.get_nowait())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.flush()
