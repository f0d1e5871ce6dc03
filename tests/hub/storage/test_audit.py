"""The audit log on both backends: who, before/after, request id, filters, paging, tenant scope, chunked reads."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.storage import DEFAULT_TENANT
from hub.storage.audit import AuditQuery
from hub.storage.base import AuditEntry, Storage, TenantStore
from tests.hub.storage.backends import add_tenant

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def entry(n: int, **changes: object) -> AuditEntry:
    base = AuditEntry(
        actor="ann" if n % 2 == 0 else "bob",
        user_id="u-ann" if n % 2 == 0 else "u-bob",
        action="bms.soc" if n % 3 else "client.update",
        target=f"t{n % 4}",
        result="ok" if n % 5 else "rejected",
        request={"n": n},
        details={"step": n},
        source_ip="10.0.0.7",
        request_id=f"req-{n}",
        before={"name": f"old {n}"},
        after={"name": f"new {n}"},
        timestamp=T0 + timedelta(minutes=n, microseconds=n * 1000),
    )
    return replace(base, **changes)


@pytest.fixture
async def stores(storage: Storage) -> tuple[TenantStore, TenantStore]:
    await add_tenant(storage, "other")
    mine, theirs = storage.for_tenant(DEFAULT_TENANT), storage.for_tenant("other")
    for n in range(20):
        await mine.add_audit(entry(n))
    await theirs.add_audit(entry(100, actor="eve", user_id="u-eve", target="t0"))
    return mine, theirs


async def test_an_entry_reads_back_with_who_before_after_and_request(stores: tuple[TenantStore, TenantStore]) -> None:
    mine, _ = stores
    entries, total = await mine.audit(1)
    assert total == 20
    (newest,) = entries
    assert newest == entry(19, tenant_id=DEFAULT_TENANT)
    assert newest.id is not None
    as_json = newest.to_dict()
    assert as_json["before"] == {"name": "old 19"}
    assert as_json["after"] == {"name": "new 19"}
    assert (as_json["actor"], as_json["user_id"], as_json["request_id"]) == ("bob", "u-bob", "req-19")


async def test_nothing_recorded_stays_none_and_odd_values_survive(storage: Storage) -> None:
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.add_audit(AuditEntry("mqtt", "bms.restart", "pack", "failed", timestamp=T0))
    await store.add_audit(
        AuditEntry("ann", "x", "pack", "ok", before=[1, "two", None], after=math.nan, details={"t": T0}, timestamp=T0)
    )
    (odd, plain), _ = await store.audit(10)
    assert (plain.before, plain.after, plain.user_id, plain.request_id) == (None, None, None, None)
    assert odd.before == [1, "two", None]
    assert math.isnan(odd.after)
    assert odd.details == {"t": str(T0)}  # what json default=str makes of a datetime


async def test_filters_narrow_and_combine(stores: tuple[TenantStore, TenantStore]) -> None:
    mine, _ = stores

    async def ids(**filters: object) -> list[str | None]:
        entries, total = await mine.audit(100, query=AuditQuery(**filters))  # type: ignore[arg-type]
        assert total == len(entries)
        return [e.request_id for e in entries]

    assert await ids(actor="ann") == [f"req-{n}" for n in range(18, -1, -2)]
    assert await ids(actor="u-bob") == [f"req-{n}" for n in range(19, 0, -2)]  # by user id too
    assert await ids(action="client.update") == [f"req-{n}" for n in (18, 15, 12, 9, 6, 3, 0)]
    assert await ids(action="bms.*") == [f"req-{n}" for n in range(19, -1, -1) if n % 3]
    assert await ids(action="bms_*") == []  # "_" is no wildcard
    assert await ids(target="t1", result="ok") == ["req-17", "req-13", "req-9", "req-1"]
    assert await ids(result="rejected", actor="ann") == ["req-10", "req-0"]
    start, end = entry(5).timestamp, entry(8).timestamp
    assert await ids(start=start, end=end) == ["req-8", "req-7", "req-6", "req-5"]  # both ends inclusive
    assert await ids(start=start.replace(tzinfo=None), end=end) == ["req-8", "req-7", "req-6", "req-5"]  # naive = UTC
    assert await ids(start=start - timedelta(microseconds=1), end=start) == ["req-5"]
    assert await ids(start=start + timedelta(microseconds=1), end=end) == ["req-8", "req-7", "req-6"]


async def test_pages_and_the_target_argument(stores: tuple[TenantStore, TenantStore]) -> None:
    mine, _ = stores
    first, total = await mine.audit(3, 0)
    second, _ = await mine.audit(3, 3)
    assert total == 20
    assert [e.request_id for e in [*first, *second]] == [f"req-{n}" for n in range(19, 13, -1)]
    by_target, count = await mine.audit(100, 0, "t2")
    assert count == 5
    assert {e.target for e in by_target} == {"t2"}


async def test_a_tenant_never_reads_another_tenants_entries(stores: tuple[TenantStore, TenantStore]) -> None:
    mine, theirs = stores
    assert [e.actor for e in (await theirs.audit(100))[0]] == ["eve"]
    assert (await mine.audit(100, query=AuditQuery(actor="eve")))[1] == 0
    # A query naming another tenant is still held to the store's own.
    assert (await mine.audit(100, query=AuditQuery(tenant="other")))[1] == 20
    assert [e.actor async for chunk in theirs.iter_audit(AuditQuery(tenant=DEFAULT_TENANT)) for e in chunk] == ["eve"]


async def test_system_wide_reads_span_tenants_or_pick_one(
    storage: Storage, stores: tuple[TenantStore, TenantStore]
) -> None:
    everything, total = await storage.audit_entries(AuditQuery(), 5)
    assert total == 21
    assert (everything[0].actor, everything[0].tenant_id) == ("eve", "other")
    theirs, count = await storage.audit_entries(AuditQuery(tenant="other"), 100)
    assert (count, [e.actor for e in theirs]) == (1, ["eve"])
    t0_everywhere, _ = await storage.audit_entries(AuditQuery(target="t0", actor="ann"), 100)
    assert len(t0_everywhere) == 5


async def test_chunked_reads_cover_every_entry_once_newest_first(
    storage: Storage, stores: tuple[TenantStore, TenantStore]
) -> None:
    mine, _ = stores
    chunks = [chunk async for chunk in mine.iter_audit(AuditQuery(actor="ann"), chunk=3)]
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [e.request_id for c in chunks for e in c] == [f"req-{n}" for n in range(18, -1, -2)]
    exact = [chunk async for chunk in mine.iter_audit(chunk=10)]
    assert [len(c) for c in exact] == [10, 10]
    everywhere = [e async for chunk in storage.iter_audit_entries(AuditQuery(), chunk=7) for e in chunk]
    assert len(everywhere) == 21
    assert len({e.id for e in everywhere}) == 21
    assert [chunk async for chunk in mine.iter_audit(AuditQuery(actor="nobody"))] == []


async def test_entries_written_during_a_chunked_read_are_not_repeated(
    stores: tuple[TenantStore, TenantStore],
) -> None:
    mine, _ = stores
    seen: list[str | None] = []
    async for chunk in mine.iter_audit(chunk=4):
        seen.extend(e.request_id for e in chunk)
        await mine.add_audit(entry(50 + len(seen)))  # newer than everything being read
    assert seen == [f"req-{n}" for n in range(19, -1, -1)]
