"""Catch-up: alert events a notifier missed (raised before it started, or while it reloaded), found in storage."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from hub.storage.base import Storage, TenantStore
from hub.storage.records import AlertEvent, AlertRecord, iso
from trackingbms_notify.settings import NotifierEntry

# Open alerts are looked at whatever their age; cleared ones only if raised this recently.
CLEARED_LOOKBACK = timedelta(hours=1)
SWEEP_INTERVAL = 60.0  # seconds between sweeps after the one at start
PAGE = 500
MAX_OFFERED = 10_000  # delivery ids remembered between sweeps (a cache: the outbox deduplicates anyway)
_NAMESPACE = uuid.UUID("5b0c7a52-8d3e-4a55-9d0b-6f1f2c9e7a10")
# History steps (written by the alerts plugin) that publish a route event; "released" is a raise
# held back by quiet hours and announced when they ended.
_STEP_EVENTS = {"raised": "generated", "released": "generated", "cleared": "cleared"}

Offer = Callable[[str, Mapping[str, Any]], bool]


def delivery_key(notifier: str, alert: Mapping[str, Any], event: str) -> str:
    """The delivery id of one alert event for one notifier: the same whether the event came from
    the bus or from a catch-up sweep, so the outbox keeps it once; random without an id/sequence."""
    alert_id, sequence = alert.get("id"), alert.get("sequence")
    if not alert_id or sequence is None:
        return uuid.uuid4().hex
    tenant = alert.get("tenant_id") or "default"
    return uuid.uuid5(_NAMESPACE, f"{notifier}|{tenant}|{alert_id}|{event}|{sequence}").hex


def step_payload(record: AlertRecord, tenant: str, event: str, sequence: int) -> dict[str, Any]:
    """The alert event as the alerts plugin published it (docs/notifications.md, "The alert")."""
    details = record.details
    cleared = event == "cleared"
    clear_message = details.get("clear_message")
    return {
        "id": record.id,
        "tenant_id": tenant,
        "rule_id": record.rule_id,
        "rule_name": str(details.get("rule_name", record.rule_id)),
        "kind": record.kind,
        "battery_id": record.battery_id,
        "battery_name": str(details.get("battery_name", record.battery_id)),
        "site_id": details.get("site_id"),
        "client_path": list(details.get("client_path") or []),
        "severity": record.severity,
        "state": record.state if cleared else "raised",
        "metric": record.metric,
        "value": details.get("clear_value") if cleared else record.value,
        "threshold": record.threshold,
        "unit": details.get("unit"),
        "message": dict(clear_message) if cleared and isinstance(clear_message, dict) else dict(record.message),
        "raised_at": iso(record.raised_at),
        "acknowledged_at": iso(record.acknowledged_at) if cleared else None,
        "acknowledged_by": record.acknowledged_by if cleared else None,
        "comment": record.comment if cleared else None,
        "cleared_at": iso(record.cleared_at) if cleared else None,
        "reminder": False,
        "sequence": sequence,
    }


def _handled(name: str, history: list[AlertEvent]) -> set[str]:
    """Delivery ids this notifier sent or gave up (a failure still being retried is in the outbox)."""
    return {
        str(step.details.get("delivery_id"))
        for step in history
        if step.details.get("notifier") == name
        and (step.kind == "notified" or (step.kind == "delivery_failed" and step.details.get("final")))
    }


class CatchUp:
    """Finds published alert steps this notifier has neither delivered, given up nor queued, and queues them.

    An alert event goes out on the bus once: a notifier that was not subscribed then (the hub
    starting, the section reloading) would never see it. Storage keeps the alert and its published
    steps (with their sequence numbers), so each sweep rebuilds the missing events; the delivery id
    derives from the step, so an event both routed live and found by a sweep is queued once.
    """

    def __init__(self, entry: NotifierEntry, storage: Storage, tenants: set[str], offer: Offer) -> None:
        self.entry = entry
        self.storage = storage
        self.tenants = tenants  # the channel's set: it grows as events of new tenants arrive
        self.offer = offer
        self.offered: set[str] = set()
        self._settled: set[tuple[str, str]] = set()  # (alert id, state) with every step handled

    def remember(self, key: str) -> None:
        """A delivery id queued by the live route."""
        if len(self.offered) >= MAX_OFFERED:
            self.offered.clear()
        self.offered.add(key)

    async def sweep(self, now: datetime) -> int:
        """Queue every missed event of open alerts, and of cleared alerts raised within the lookback."""
        queued = 0
        seen: set[tuple[str, str]] = set()
        for tenant in sorted(self.tenants):
            store = self.storage.for_tenant(tenant)
            records = await self._records(store, "open", None) + await self._records(
                store, "cleared", now - CLEARED_LOOKBACK
            )
            for record in sorted(records, key=lambda r: (r.raised_at, r.id)):
                marker = (record.id, "cleared" if record.state == "cleared" else "open")
                seen.add(marker)
                if marker not in self._settled:
                    queued += await self._alert(store, tenant, record, marker)
        self._settled &= seen
        return queued

    async def _records(self, store: TenantStore, state: str, start: datetime | None) -> list[AlertRecord]:
        found: list[AlertRecord] = []
        while True:
            page, total = await store.alerts(state=state, start=start, limit=PAGE, offset=len(found))
            found += page
            if not page or len(found) >= total:
                return found

    async def _alert(self, store: TenantStore, tenant: str, record: AlertRecord, marker: tuple[str, str]) -> int:
        history = await store.alert_events(record.id)
        handled = _handled(self.entry.name, history)
        queued, waiting = 0, False
        for step in history:
            event = _STEP_EVENTS.get(step.kind)
            sequence = step.details.get("sequence")
            if event is None or not step.details.get("published") or not isinstance(sequence, int):
                continue
            payload = step_payload(record, tenant, event, sequence)
            if not self.entry.route.matches(event, payload):
                continue
            key = delivery_key(self.entry.name, payload, event)
            if key in handled:
                continue
            waiting = True  # queued now or earlier: not settled until its history says so
            if key not in self.offered and self.offer(event, payload):
                self.remember(key)
                queued += 1
        # The alerts plugin stores the alert row, then its step: a row whose step is not written yet
        # is looked at again by the next sweep.
        written = {step.kind for step in history}
        if not waiting and "raised" in written and (record.state != "cleared" or "cleared" in written):
            self._settled.add(marker)
        return queued
