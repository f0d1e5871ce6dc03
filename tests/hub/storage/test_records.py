"""Alerts, rules, outbox and scopes in storage, on both backends: tenant isolation, one open alert, ordering."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hub.storage.base import Storage, StorageError
from hub.storage.records import AlertRecord, BatteryScope
from tests.hub.storage.backends import Location, add_tenant, sql

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
async def other_tenant(storage: Storage) -> None:
    await add_tenant(storage, "other")


def alert(rule: str = "cell_high", battery: str = "one", **changes: object) -> AlertRecord:
    base = AlertRecord(
        id=uuid.uuid4().hex,
        rule_id=rule,
        kind="threshold",
        battery_id=battery,
        severity="warning",
        state="raised",
        raised_at=T0,
        metric="cell_max",
        value=3.66,
        threshold=3.65,
        message={"en": "Cell high", "fr": "Cellule haute"},
    )
    return base.replace(**changes)


async def test_alert_round_trip_and_lifecycle(storage: Storage) -> None:
    store = storage.for_tenant("default")
    raised = alert()
    await store.save_alert(raised)
    assert await store.get_alert(raised.id) == raised
    acked = raised.replace(state="acknowledged", acknowledged_at=T0 + timedelta(minutes=1), acknowledged_by="ann")
    await store.save_alert(acked.replace(comment="on it"))
    cleared = acked.replace(state="cleared", cleared_at=T0 + timedelta(minutes=5), comment="on it")
    await store.save_alert(cleared)
    assert await store.get_alert(raised.id) == cleared
    await store.add_alert_event(raised.id, "raised", {"value": 3.66})
    await store.add_alert_event(raised.id, "cleared")
    events = await store.alert_events(raised.id)
    assert [e.kind for e in events] == ["raised", "cleared"]
    assert events[0].details == {"value": 3.66}


async def test_one_open_alert_per_rule_and_battery(storage: Storage) -> None:
    store = storage.for_tenant("default")
    first = alert()
    await store.save_alert(first)
    with pytest.raises(StorageError):
        await store.save_alert(alert())  # same rule, same battery, still open
    await store.save_alert(alert(battery="two"))  # another battery is fine
    await store.save_alert(first.replace(state="cleared", cleared_at=T0))
    await store.save_alert(alert())  # once cleared, a new one may open
    opened, total = await store.alerts(state="open")
    assert total == 2
    assert {a.battery_id for a in opened} == {"one", "two"}


async def test_alert_listing_filters_and_pages(storage: Storage) -> None:
    store = storage.for_tenant("default")
    for i in range(5):
        await store.save_alert(
            alert(rule=f"r{i}", raised_at=T0 + timedelta(minutes=i), severity="critical" if i % 2 else "info")
        )
    page, total = await store.alerts(limit=2, offset=1)
    assert total == 5
    assert [a.rule_id for a in page] == ["r3", "r2"]  # newest first
    critical, total = await store.alerts(severity="critical")
    assert total == 2
    assert {a.rule_id for a in critical} == {"r1", "r3"}
    window, _ = await store.alerts(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=2))
    assert [a.rule_id for a in window] == ["r2", "r1"]
    with pytest.raises(ValueError, match="unknown alert state"):
        await store.alerts(state="bogus")


async def test_alert_listing_keeps_only_the_batteries_asked(storage: Storage) -> None:
    store = storage.for_tenant("default")
    for i, battery in enumerate(("one", "two", "three")):
        await store.save_alert(alert(rule=f"r{i}", battery=battery, raised_at=T0 + timedelta(minutes=i)))
    some, total = await store.alerts(battery_ids={"one", "three"}, limit=1)
    assert total == 2 and [a.battery_id for a in some] == ["three"]
    assert await store.alerts(battery_ids=set()) == ([], 0)  # a user who may see no battery sees nothing
    assert (await store.alerts(battery_ids=None))[1] == 3


async def test_tenants_never_see_each_other(storage: Storage) -> None:
    mine, theirs = storage.for_tenant("default"), storage.for_tenant("other")
    secret = alert()
    await mine.save_alert(secret)
    await mine.save_rule("r1", {"metric": "soc"})
    await mine.outbox_add("webhook", "d1", {"x": 1})
    assert await theirs.get_alert(secret.id) is None
    assert await theirs.alerts() == ([], 0)
    assert await theirs.alert_events(secret.id) == []
    with pytest.raises(KeyError):
        await theirs.add_alert_event(secret.id, "acknowledged")
    with pytest.raises(StorageError):
        await theirs.save_alert(secret)  # cannot take over another tenant's alert by id
    assert await theirs.rules() == {}
    assert not await theirs.delete_rule("r1")
    assert await theirs.outbox_pending("webhook") == []
    assert await mine.rules() == {"r1": {"metric": "soc"}}


async def test_rules_replace_and_delete(storage: Storage) -> None:
    store = storage.for_tenant("default")
    await store.save_rule("r1", {"metric": "soc", "below": 20})
    await store.save_rule("r1", {"metric": "soc", "below": 10})
    await store.save_rule("r0", {"metric": "current"})
    assert await store.rules() == {"r0": {"metric": "current"}, "r1": {"metric": "soc", "below": 10}}
    assert await store.delete_rule("r1")
    assert not await store.delete_rule("r1")


async def test_outbox_order_retry_and_done(storage: Storage) -> None:
    store = storage.for_tenant("default")
    first = await store.outbox_add("webhook", "d1", {"n": 1})
    second = await store.outbox_add("webhook", "d2", {"n": 2})
    assert await store.outbox_add("webhook", "d1", {"n": 99}) == first  # same delivery id: kept once
    await store.outbox_add("email", "d1", {"n": 3})  # another channel has its own keys
    now = datetime.now(UTC)
    due = await store.outbox_due("webhook", now)
    assert [(i.id, i.payload) for i in due] == [(first, {"n": 1}), (second, {"n": 2})]
    await store.outbox_retry(first, now + timedelta(minutes=5), "connection refused")
    assert [i.id for i in await store.outbox_due("webhook", now)] == [second]
    pending = await store.outbox_pending("webhook")
    assert [(i.id, i.attempts, i.last_error) for i in pending] == [(first, 1, "connection refused"), (second, 0, None)]
    await store.outbox_done(second)
    assert [i.id for i in await store.outbox_pending("webhook")] == [first]
    assert [i.id for i in await store.outbox_due("webhook", now + timedelta(minutes=6))] == [first]


async def test_outbox_survives_reopen(storage: Storage, location: Location) -> None:
    await storage.for_tenant("default").outbox_add("webhook", "d1", {"n": 1})
    await storage.close()
    again = location.make()
    await again.open()
    try:
        assert [i.key for i in await again.for_tenant("default").outbox_pending("webhook")] == ["d1"]
    finally:
        await again.close()


async def test_battery_scope_follows_the_client_tree(storage: Storage) -> None:
    store = storage.for_tenant("default")
    await store.ensure_battery("one", "One", "daly")
    assert await store.battery_scope("one") == BatteryScope()
    for cid, parent in (("acme", None), ("acme-south", "acme"), ("farm", "acme-south")):
        await sql(
            storage,
            "INSERT INTO clients (tenant_id, id, parent_id, name, created_at) VALUES ('default', ?, ?, ?, ?)",
            cid,
            parent,
            cid,
            T0,
        )
    await sql(
        storage,
        "INSERT INTO sites (tenant_id, id, client_id, name, created_at) VALUES ('default', 'barn', 'farm', 'Barn', ?)",
        T0,
    )
    await sql(storage, "UPDATE batteries SET site_id = 'barn' WHERE id = 'one'")
    assert await store.battery_scope("one") == BatteryScope("barn", ("acme", "acme-south", "farm"))
    assert await storage.for_tenant("other").battery_scope("one") == BatteryScope()
