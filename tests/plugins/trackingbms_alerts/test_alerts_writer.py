"""The writer on a real SQLite store and bus: contract payloads, ordering, storage outages, duplicates."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from trackingbms_alerts.engine import Engine
from trackingbms_alerts.lifecycle import DATA_ALERT_ACKNOWLEDGED, DATA_ALERT_CLEARED, DATA_ALERT_GENERATED
from trackingbms_alerts.writer import Writer

from hub.bus import Event, EventBus
from hub.storage.base import StorageError, TenantStore
from hub.storage.records import AlertRecord
from hub.storage.sqlite import SQLiteStorage, SQLiteTenantStore
from tests.helpers import wait_for
from tests.plugins.trackingbms_alerts.alerts_synthetic import at, engine, feed, rule

CONTRACT_KEYS: dict[str, Any] = {
    "id": str,
    "tenant_id": str,
    "rule_id": str,
    "rule_name": str,
    "kind": str,
    "battery_id": str,
    "battery_name": str,
    "site_id": (str, type(None)),
    "client_path": list,
    "severity": str,
    "state": str,
    "metric": (str, type(None)),
    "value": (float, type(None)),
    "threshold": (float, type(None)),
    "unit": (str, type(None)),
    "message": dict,
    "raised_at": str,
    "acknowledged_at": (str, type(None)),
    "acknowledged_by": (str, type(None)),
    "comment": (str, type(None)),
    "cleared_at": (str, type(None)),
    "reminder": bool,
    "sequence": int,
}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TenantStore]:
    storage = SQLiteStorage(tmp_path / "alerts.db")
    await storage.open()
    yield storage.for_tenant("default")
    await storage.close()


class Harness:
    """A writer with a recorded bus, health reports and conflict adoptions."""

    def __init__(self, store: TenantStore, eng: Engine) -> None:
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe("data.alert.*", self.events.append, name="test.alerts")
        self.reports: list[str | None] = []
        self.writer = Writer(self.bus, store, 100, self.reports.append, eng.replace)
        self.writer.start()


async def test_events_follow_the_contract_and_every_step_is_stored_with_its_history(store: TenantStore) -> None:
    eng = engine(rule(delay=0))
    harness = Harness(store, eng)
    raised = feed(eng, "cell_max", [(0, 3.9)])
    acked = eng.acknowledge(raised[0].alert.id, "ann", "looking", at(5))
    assert acked is not None
    cleared = feed(eng, "cell_max", [(20, 3.0)])
    await harness.writer.submit([*raised, acked, *cleared])
    await wait_for(lambda: len(harness.events) == 3)
    assert [e.name for e in harness.events] == [DATA_ALERT_GENERATED, DATA_ALERT_ACKNOWLEDGED, DATA_ALERT_CLEARED]
    for event in harness.events:
        data = event.data
        assert event.origin == "plugin.alerts"
        assert set(data) == set(CONTRACT_KEYS)
        for key, kind in CONTRACT_KEYS.items():
            assert isinstance(data[key], kind), key
        assert set(data["message"]) == {"en", "fr"}
        json.dumps(data)  # plain JSON-ready data, never a dataclass
    first, ack, clear = (e.data for e in harness.events)
    assert [first["sequence"], ack["sequence"], clear["sequence"]] == [1, 2, 3]
    assert (first["state"], ack["state"], clear["state"]) == ("raised", "acknowledged", "cleared")
    assert first["tenant_id"] == "default" and first["client_path"] == ["acme", "north"] and first["site_id"] == "home"
    assert first["raised_at"] == "2026-06-01T12:00:00Z" and first["value"] == 3.9 and first["unit"] == "V"
    assert ack["acknowledged_by"] == "ann" and ack["comment"] == "looking"
    assert ack["message"]["en"].startswith("Acknowledged by ann: Pack one: highest cell voltage 3.900 V")
    assert ack["message"]["fr"].startswith("Acquittée par ann : Pack one : tension de cellule la plus haute 3,900 V")
    assert clear["value"] == 3.0 and clear["cleared_at"] == "2026-06-01T12:00:20Z"
    assert "back to 3.000 V" in clear["message"]["en"] and "revenu à 3,000 V" in clear["message"]["fr"]
    assert not first["reminder"]

    await wait_for(lambda: not harness.writer.unsaved and harness.writer.stats.stored == 3)
    stored = await store.get_alert(first["id"])
    assert stored is not None and stored.state == "cleared" and stored.acknowledged_by == "ann"
    history = await store.alert_events(first["id"])
    assert [h.kind for h in history] == ["raised", "acknowledged", "cleared"]
    assert [h.details["sequence"] for h in history] == [1, 2, 3]
    assert await store.load_state("_alerts", "sequence") == {"last": 3}
    await harness.writer.stop()


async def test_a_storage_outage_keeps_decisions_in_order_and_loses_none(
    store: TenantStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = SQLiteTenantStore.save_alert
    down = {"on": True}

    async def flaky(self: SQLiteTenantStore, alert: AlertRecord) -> None:
        if down["on"]:
            raise StorageError("SQLite alert write failed: disk I/O error")
        await real_save(self, alert)

    monkeypatch.setattr(SQLiteTenantStore, "save_alert", flaky)
    eng = engine(rule(delay=0))
    harness = Harness(store, eng)
    decisions = feed(eng, "cell_max", [(0, 3.9), (10, 3.0), (20, 3.9), (30, 3.0), (40, 3.9)])
    await harness.writer.submit(decisions)
    await wait_for(lambda: len(harness.events) == 5)  # published at once, storage or not
    await wait_for(lambda: "5 alert writes kept in memory" in str(harness.reports[-1:]))  # reported at each retry
    assert "disk I/O error" in str(harness.reports[-1])
    assert len(harness.writer.unsaved) == 5
    down["on"] = False
    await wait_for(lambda: not harness.writer.unsaved, timeout=30)
    assert harness.reports[-1] is None  # recovered
    stored, total = await store.alerts()
    assert total == 3 and sum(a.open for a in stored) == 1
    assert sorted(a.state for a in stored) == ["cleared", "cleared", "raised"]
    await harness.writer.stop()


async def test_an_open_alert_already_in_storage_is_adopted_not_duplicated(store: TenantStore) -> None:
    other = engine(rule(delay=0))
    existing = feed(other, "cell_max", [(0, 3.9)])[0].alert.replace(id="stored-1")
    await store.save_alert(existing)  # e.g. written by an earlier run whose alerts could not be loaded
    eng = engine(rule(delay=0))
    harness = Harness(store, eng)
    await harness.writer.submit(feed(eng, "cell_max", [(5, 3.95)]))
    await wait_for(lambda: harness.writer.stats.conflicts == 1)
    assert eng.open[("cell-high", "one")].id == existing.id
    _, total = await store.alerts(state="open")
    assert total == 1
    await harness.writer.stop()


async def test_a_stopped_writer_publishes_what_was_queued_and_continues_the_sequence(store: TenantStore) -> None:
    eng = engine(rule(delay=0))
    harness = Harness(store, eng)
    harness.writer.sequence = 41
    await harness.writer.stop()  # the task is gone: what is submitted now waits in the queue
    await harness.writer.submit(feed(eng, "cell_max", [(0, 3.9)]))
    await harness.writer.stop()
    await wait_for(lambda: len(harness.events) == 1)
    assert harness.events[0].data["sequence"] == 42
    later = Writer(harness.bus, store, 10, lambda _: None, eng.replace)
    await later.load_sequence()
    assert later.sequence == 42
