"""The alert's delivery history: "notified" / "delivery_failed" entries, kept in order per alert."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from hub.storage.base import StorageError, TenantStore

_LOGGER = logging.getLogger(__name__)
# The alerts plugin publishes an event before it stores the alert (so storage never delays a
# notification); a history entry for an alert not stored yet is retried after these pauses.
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
MAX_WAITING = 1000  # alerts with entries waiting for their alert row

Entry = tuple[str, dict[str, Any]]  # kind, details


class HistoryWriter:
    """Appends to alert histories without ever holding up a delivery."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._waiting: dict[str, tuple[TenantStore, deque[Entry]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def add(self, store: TenantStore, alert_id: str, kind: str, details: dict[str, Any]) -> None:
        """Write now, or behind the entries of the same alert that are waiting for its row."""
        waiting = self._waiting.get(alert_id)
        if waiting is not None:
            waiting[1].append((kind, details))
            return
        try:
            await store.add_alert_event(alert_id, kind, details)
        except KeyError:
            self._wait(store, alert_id, (kind, details))
        except StorageError as err:
            _LOGGER.warning("Notifier %s: delivery history of alert %s not saved: %s", self.name, alert_id, err)

    def _wait(self, store: TenantStore, alert_id: str, entry: Entry) -> None:
        if len(self._waiting) >= MAX_WAITING:
            _LOGGER.warning(
                "Notifier %s: alert %s is not stored; its delivery history is not kept", self.name, alert_id
            )
            return
        self._waiting[alert_id] = (store, deque([entry]))
        task = asyncio.get_running_loop().create_task(self._retry(alert_id), name=f"notifier.{self.name}.history")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry(self, alert_id: str) -> None:
        store, entries = self._waiting[alert_id]
        try:
            for delay in RETRY_DELAYS:
                await asyncio.sleep(delay)
                if await self._flush(store, alert_id, entries):
                    return
            _LOGGER.info(
                "Notifier %s: alert %s was never stored; %d history entries dropped", self.name, alert_id, len(entries)
            )
        finally:
            self._waiting.pop(alert_id, None)

    async def _flush(self, store: TenantStore, alert_id: str, entries: deque[Entry]) -> bool:
        """Write the waiting entries in order; False while the alert row is still missing."""
        while entries:
            kind, details = entries[0]
            try:
                await store.add_alert_event(alert_id, kind, details)
            except KeyError:
                return False
            except StorageError as err:
                _LOGGER.warning("Notifier %s: delivery history of alert %s not saved: %s", self.name, alert_id, err)
            entries.popleft()
        return True

    async def close(self) -> None:
        """Stop waiting (entries still waiting are dropped)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
