"""Retention on both backends: per-class pruning in chunks, the background pruner, its config, rollups kept past raw."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol

from hub.reading import Reading
from hub.storage import DEFAULT_TENANT, StorageError
from hub.storage.base import Storage, TenantStore
from hub.storage.packing import to_millis
from hub.storage.pg_backup import connect
from hub.storage.pg_partitions import Partitions, month_of
from hub.storage.pg_schema import migrate
from hub.storage.postgres import PostgreSQLStorage
from hub.storage.retention import RETENTION_SCHEMA, MaintenanceOutcome, Pruner, Retention
from hub.storage.rollups import BY_NAME
from hub.storage.sqlite import SQLiteStorage, migrations
from tests.hub.storage.backends import Location, sql

NOW = datetime(2025, 6, 15, 12, 0, 3, tzinfo=UTC)
DAY = timedelta(days=1)


def reading(moment: datetime, voltage: float = 52.0, battery: str = "pack") -> Reading:
    return Reading(battery, timestamp=moment, voltage=voltage, current=2.0, soc=50.0)


@pytest.fixture
async def store(storage: Storage) -> TenantStore:
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("pack", "Pack", "daly")
    return store


async def rows(storage: Storage, query: str, *args: object) -> list[tuple[Any, ...]]:
    return await sql(storage, query, *args)


async def raw_times(storage: Storage) -> list[int]:
    """Every stored reading's time (rows and compacted hours alike), through the storage API."""
    store = storage.for_tenant(DEFAULT_TENANT)
    found = [r.timestamp for b in await store.batteries() for r in await store.history(b.id, None, None, 10**9)]
    return sorted(to_millis(moment) for moment in found)


async def bucket_starts(storage: Storage, name: str) -> list[int]:
    found = await rows(storage, "SELECT bucket_start FROM rollups WHERE class = ? ORDER BY bucket_start", name)
    return [r[0] for r in found]


async def two_years(store: TenantStore) -> None:
    """Three readings a day at noon for two years before NOW (a batch per day)."""
    for day in range(730, -1, -1):
        noon = NOW - day * DAY
        await store.write_readings([reading(noon + timedelta(seconds=s)) for s in (0, 10, 20)])


async def test_each_class_loses_exactly_its_expired_rows(storage: Storage, store: TenantStore) -> None:
    await two_years(store)
    before = {name: await bucket_starts(storage, name) for name in BY_NAME}
    raw_before = await raw_times(storage)
    retention = Retention()  # raw 30 days, 5m 365 days, coarser forever
    result = await Pruner(storage, retention).run_once(NOW)

    raw_cut = to_millis(NOW - 30 * DAY) // 300_000 * 300_000  # raw is cut on a 5-minute boundary
    assert await raw_times(storage) == [ts for ts in raw_before if ts >= raw_cut]
    five_cut = to_millis(NOW - 365 * DAY) // 300_000 * 300_000
    assert await bucket_starts(storage, "5m") == [s for s in before["5m"] if s >= five_cut]
    for name in ("1h", "1d", "1mo"):
        assert await bucket_starts(storage, name) == before[name]  # kept forever
    assert result == {"raw": len(raw_before) - len(await raw_times(storage)), "5m": 365 * 1}
    assert await Pruner(storage, retention).run_once(NOW) == {"raw": 0, "5m": 0}  # nothing left to do


async def test_small_chunks_delete_everything_expired(storage: Storage, store: TenantStore) -> None:
    await store.write_readings([reading(NOW - 40 * DAY + timedelta(seconds=s)) for s in range(0, 600, 7)])
    await store.write_readings([reading(NOW)])
    pruned = await storage.prune({"raw": NOW - 30 * DAY, "1h": NOW - 31 * DAY}, chunk=4)
    assert pruned == {"raw": 86, "1h": 1}
    assert await raw_times(storage) == [to_millis(NOW)]
    assert len(await bucket_starts(storage, "5m")) == 3  # untouched: not in the cutoffs


async def test_a_bucket_still_holding_unexpired_time_is_kept(storage: Storage, store: TenantStore) -> None:
    await store.write_readings([reading(datetime(2025, 5, 1, tzinfo=UTC)), reading(datetime(2025, 5, 31, tzinfo=UTC))])
    await storage.prune({"1mo": datetime(2025, 5, 20, tzinfo=UTC)})
    assert await bucket_starts(storage, "1mo") == [to_millis(datetime(2025, 5, 1, tzinfo=UTC))]
    await storage.prune({"1mo": datetime(2025, 6, 1, tzinfo=UTC)})
    assert await bucket_starts(storage, "1mo") == []


async def test_unknown_class_is_refused(storage: Storage) -> None:
    with pytest.raises(ValueError, match="unknown storage classes"):
        await storage.prune({"2w": NOW})


async def test_rebuild_after_pruning_keeps_the_rollups_of_pruned_readings(storage: Storage, store: TenantStore) -> None:
    await two_years(store)
    await Pruner(storage, Retention()).run_once(NOW)
    every = "SELECT * FROM rollups WHERE class = ? ORDER BY bucket_start"
    before = {name: await rows(storage, every, name) for name in BY_NAME}
    assert await store.rebuild_rollups("pack") == 31  # one 5-minute bucket per day still in raw
    for name in BY_NAME:
        assert await rows(storage, every, name) == before[name]


async def test_a_late_reading_in_a_pruned_bucket_is_merged(storage: Storage, store: TenantStore) -> None:
    await two_years(store)
    await Pruner(storage, Retention()).run_once(NOW)
    old_noon = to_millis(NOW - 100 * DAY) // 300_000 * 300_000
    [(n_before, v_max)] = await rows(
        storage, "SELECT n, voltage_max FROM rollups WHERE class = '5m' AND bucket_start = ?", old_noon
    )
    await store.write_readings([reading(NOW - 100 * DAY + timedelta(seconds=30), voltage=60.0)])
    [(n_after, v_max_after)] = await rows(
        storage, "SELECT n, voltage_max FROM rollups WHERE class = '5m' AND bucket_start = ?", old_noon
    )
    assert (n_before, v_max, n_after, v_max_after) == (3, 52.0, 4, 60.0)


def test_retention_config_defaults_and_validation() -> None:
    assert Retention.from_config({}) == Retention()
    assert Retention().days == {"raw": 30, "5m": 365, "1h": None, "1d": None, "1mo": None}
    custom = Retention.from_config({"retention": {"raw_days": "7", "rollup_1h_days": 800, "rollup_1d_days": 900}})
    assert custom.days["raw"] == 7.0 and custom.days["1h"] == 800 and custom.days["1mo"] is None
    assert Retention().cutoffs(NOW) == {"raw": NOW - 30 * DAY, "5m": NOW - 365 * DAY}
    for bad in (
        {"raw_days": 0},
        {"raw_days": 400},  # more raw than 5-minute rollups: they could not be rebuilt
        {"rollup_1h_days": 100},  # hourly kept shorter than 5-minute
        {"rollup_5m_days": None, "rollup_1h_days": 500},  # 5-minute forever, hourly not
        {"prune_interval": 0},
        {"weekly_days": 3},
    ):
        with pytest.raises(vol.Invalid):
            vol.Schema(RETENTION_SCHEMA)(bad)


async def test_storage_with_retention_runs_the_pruner_in_the_background(location: Location) -> None:
    storage: Any = location.make()
    storage.retention = Retention(interval_s=0.05)
    await storage.open()
    try:
        assert storage.pruner is not None
        storage.pruner.first_delay = 0  # the first run is normally a minute after start
        store = storage.for_tenant(DEFAULT_TENANT)
        await store.ensure_battery("pack", "Pack", "daly")
        await store.write_readings([reading(datetime(2020, 1, 1, tzinfo=UTC)), reading(datetime.now(UTC))])
        for _ in range(400):
            if len(await raw_times(storage)) == 1:
                break
            await asyncio.sleep(0.05)
        assert len(await raw_times(storage)) == 1
    finally:
        await storage.close()
    assert storage.pruner is None


async def test_opening_without_retention_prunes_nothing(storage: Any) -> None:
    assert storage.pruner is None


async def test_pruning_drops_whole_expired_partitions(pg_storage: PostgreSQLStorage) -> None:
    storage = pg_storage
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("pack", "Pack", "daly")
    await two_years(store)
    partitions = storage.partitions
    assert len(partitions.known) == 25  # one per month touched
    raw_before = await raw_times(storage)
    pruned = await storage.prune({"raw": NOW - 30 * DAY})
    cut = to_millis(NOW - 30 * DAY) // 300_000 * 300_000
    assert pruned == {"raw": len([ts for ts in raw_before if ts < cut])}
    async with storage.connection("test") as conn:
        left = sorted(lo for _, lo, _ in await partitions.listing(conn))
    assert left == [month_of(cut), month_of(to_millis(NOW))]  # the month holding the cutoff stays
    assert partitions.known == set(left)
    await store.write_readings([reading(NOW - 100 * DAY)])  # a late reading gets its month back
    assert month_of(to_millis(NOW - 100 * DAY)) in partitions.known
    assert to_millis(NOW - 100 * DAY) in await raw_times(storage)


async def test_a_write_recreates_a_partition_another_hub_dropped(
    pg_location: Location, pg_storage: PostgreSQLStorage
) -> None:
    store = pg_storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("pack", "Pack", "daly")
    await store.write_readings([reading(NOW)])
    other = pg_location.make()  # a second hub on the same database prunes the month away
    await other.open()
    try:
        assert await other.prune({"raw": NOW + 40 * DAY}) == {"raw": 1}
    finally:
        await other.close()
    await store.write_readings([reading(NOW + timedelta(seconds=10))])  # the first still counted on it
    assert await raw_times(pg_storage) == [to_millis(NOW + timedelta(seconds=10))]


async def test_upgrading_a_postgresql_schema_builds_rollups_of_its_readings(pg_location: Location) -> None:
    conn = await connect(pg_location.settings)
    try:  # a schema as version 3 left it, with readings
        await migrate(conn, pg_location.schema, upto=3)
        partitions = Partitions()
        partitions.schema = pg_location.schema
        start = to_millis(NOW)
        async with conn.transaction():
            await partitions.create(conn, [month_of(start)])
        await conn.execute(
            "INSERT INTO batteries (pk, tenant_id, id, name, driver, created_at) "
            "VALUES (1, 'default', 'pack', 'Pack', 'daly', now())"
        )
        await conn.executemany(
            "INSERT INTO readings (battery_pk, ts, voltage, current) VALUES (1, $1, $2, 200)",
            [(start + i * 60_000, 5200 + i) for i in range(30)],
        )
    finally:
        await conn.close()
    storage = pg_location.make()
    await storage.open()
    try:
        assert await storage.schema_version() == migrations()[-1][0]
        buckets = [
            b async for chunk in storage.for_tenant("default").iter_buckets("pack", "1h", None, None) for b in chunk
        ]
        assert [b.n for b in buckets] == [30]
        assert buckets[0].charged_wh == pytest.approx(sum((104 + 0.02 * i + 0.01) / 60 for i in range(29)))
    finally:
        await storage.close()


async def test_upgrading_a_database_builds_rollups_of_its_readings(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # a database as version 3 left it, with readings
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
        for version, name, sql in migrations()[:3]:
            db.executescript(sql)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, '')", (version, name))
        db.execute("INSERT INTO batteries VALUES (1, 'default', 'pack', 'Pack', 'daly', '')")
        start = to_millis(NOW)
        db.executemany(
            "INSERT INTO readings (battery_pk, ts, voltage, current) VALUES (1, ?, ?, 200)",
            [(start + i * 60_000, 5200 + i) for i in range(30)],
        )
    storage = SQLiteStorage(path)
    await storage.open()
    try:
        assert await storage.schema_version() == migrations()[-1][0]
        store = storage.for_tenant("default")
        buckets = [b async for chunk in store.iter_buckets("pack", "1h", None, None) for b in chunk]
        assert [b.n for b in buckets] == [30]
        assert buckets[0].maxs[0] == 52.29
        assert buckets[0].charged_wh == pytest.approx(sum((104 + 0.02 * i + 0.01) / 60 for i in range(29)))
    finally:
        await storage.close()


async def test_a_long_reader_delays_partition_ddl_but_blocks_no_write(
    pg_storage: PostgreSQLStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hub.storage.postgres._DDL_LOCK_TIMEOUT", "SET LOCAL lock_timeout = '200ms'")
    store = pg_storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("pack", "Pack", "daly")
    old = [reading(NOW - 100 * DAY + timedelta(seconds=s)) for s in range(3)]
    await store.write_readings([*old, reading(NOW)])
    reader = await connect(pg_storage.settings)
    try:
        await reader.execute("BEGIN; SELECT COUNT(*) FROM readings")  # a backup's snapshot holds the table
        # Expired rows still go (row by row); their partition stays for the next run.
        assert await pg_storage.prune({"raw": NOW - 30 * DAY}) == {"raw": 3}
        assert month_of(to_millis(NOW - 100 * DAY)) in pg_storage.partitions.known
        with pytest.raises(StorageError, match="lock timeout"):  # a new month must wait: the recorder retries
            await store.write_readings([reading(NOW + 40 * DAY)])
        await store.write_readings([reading(NOW + timedelta(seconds=1))])  # other writes go on meanwhile
    finally:
        await reader.close()
    await store.write_readings([reading(NOW + 40 * DAY)])
    assert await pg_storage.prune({"raw": NOW - 30 * DAY}) == {"raw": 0}
    assert month_of(to_millis(NOW - 100 * DAY)) not in pg_storage.partitions.known
    assert len(await raw_times(pg_storage)) == 3


async def test_each_run_tells_what_it_compacted_and_pruned_or_why_it_failed(
    storage: Storage, store: TenantStore
) -> None:
    await store.write_readings([reading(NOW - 40 * DAY), reading(NOW - 2 * DAY), reading(NOW - timedelta(minutes=1))])
    pruner = Pruner(storage, Retention())
    heard: list[MaintenanceOutcome] = []
    pruner.on_result = heard.append
    done = await pruner.run_and_report(NOW)
    assert (done.error, done.compacted, done.pruned["raw"]) == (None, 2, 1)  # the newest hour is still open
    await storage.close()  # the database goes away: the next run fails, reported, not raised
    failed = await pruner.run_and_report(NOW)
    assert failed.error is not None and "StorageError" in failed.error
    assert heard == [done, failed]
