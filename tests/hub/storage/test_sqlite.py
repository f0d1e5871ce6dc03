"""Tests for the SQLite backend on real database files."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.reading import BatteryState, Reading
from hub.storage import DEFAULT_TENANT, StorageError
from hub.storage.base import BatteryRecord
from hub.storage.sqlite import SQLiteStorage, SQLiteTenantStore, migrations

T0 = datetime(2024, 7, 1, 6, 0, 0, tzinfo=UTC)


def reading(battery: str, second: int, voltage: float = 52.0) -> Reading:
    return Reading(battery, timestamp=T0 + timedelta(seconds=second), voltage=voltage, current=1.5, soc=50.0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "hub.db"


@pytest.fixture
async def storage(db_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(db_path)
    await storage.open()
    yield storage
    await storage.close()


@pytest.fixture
async def store(storage: SQLiteStorage) -> SQLiteTenantStore:
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("garage", "Garage", "daly")
    return store


async def test_open_creates_the_schema(storage: SQLiteStorage, db_path: Path) -> None:
    known = migrations()
    assert known[0][:2] == (1, "001_initial")
    assert [v for v, _, _ in known] == list(range(1, len(known) + 1))  # numbered without gaps
    assert await storage.schema_version() == known[-1][0]
    with sqlite3.connect(db_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"schema_migrations", "tenants", "batteries", "readings"} <= tables
        assert db.execute("SELECT id FROM tenants").fetchall() == [(DEFAULT_TENANT,)]
        applied = db.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert applied == [(v, name) for v, name, _ in known]


async def test_reopening_does_not_migrate_again_and_keeps_data(db_path: Path) -> None:
    first = SQLiteStorage(db_path)
    await first.open()
    store = first.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("garage", "Garage", "daly")
    await store.write_readings([reading("garage", 0)])
    await first.close()

    second = SQLiteStorage(db_path)
    await second.open()
    try:
        known = migrations()
        assert await second.schema_version() == known[-1][0]
        async with second.db.execute("SELECT version, name FROM schema_migrations ORDER BY version") as cur:
            assert await cur.fetchall() == [(v, name) for v, name, _ in known]  # each applied once
        latest = await second.for_tenant(DEFAULT_TENANT).latest("garage")
        assert latest is not None
        assert latest.timestamp == T0
    finally:
        await second.close()


async def test_database_is_in_wal_mode(storage: SQLiteStorage, db_path: Path) -> None:
    async with storage.db.execute("PRAGMA journal_mode") as cur:
        row = await cur.fetchone()
    assert row is not None
    assert row[0] == "wal"
    # WAL is a property of the file: another process opening it sees it too.
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_closed_storage_raises_storage_error(db_path: Path) -> None:
    storage = SQLiteStorage(db_path)
    with pytest.raises(StorageError):
        await storage.schema_version()


async def test_ensure_battery_creates_and_updates(store: SQLiteTenantStore) -> None:
    await store.ensure_battery("shed", "Shed", "daly")
    await store.ensure_battery("garage", "Garage 48 V", "jbd")
    assert await store.batteries() == [
        BatteryRecord("garage", "Garage 48 V", "jbd"),
        BatteryRecord("shed", "Shed", "daly"),
    ]


async def test_latest_is_the_newest_reading(store: SQLiteTenantStore) -> None:
    assert await store.latest("garage") is None
    await store.write_readings([reading("garage", s, voltage=50 + s) for s in (3, 1, 2)])
    latest = await store.latest("garage")
    assert latest is not None
    assert (latest.battery_id, latest.timestamp, latest.voltage) == ("garage", T0 + timedelta(seconds=3), 53.0)
    assert latest.state == BatteryState.CHARGING  # derived values come back
    assert latest.power == pytest.approx(53.0 * 1.5)


async def test_history_ranges_are_inclusive_and_oldest_first(store: SQLiteTenantStore) -> None:
    await store.write_readings([reading("garage", s) for s in range(10)])

    def seconds(readings: list[Reading]) -> list[int]:
        return [int((r.timestamp - T0).total_seconds()) for r in readings]

    assert seconds(await store.history("garage", None, None, 100)) == list(range(10))
    start, end = T0 + timedelta(seconds=2), T0 + timedelta(seconds=5)
    assert seconds(await store.history("garage", start, end, 100)) == [2, 3, 4, 5]
    assert seconds(await store.history("garage", start, None, 100)) == list(range(2, 10))
    assert seconds(await store.history("garage", None, end, 100)) == list(range(6))
    # A limit keeps the newest readings of the range, still oldest first.
    assert seconds(await store.history("garage", None, None, 3)) == [7, 8, 9]
    assert seconds(await store.history("garage", start, end, 2)) == [4, 5]
    assert await store.history("garage", T0 + timedelta(hours=1), None, 100) == []
    assert await store.history("nobody", None, None, 100) == []


async def test_range_bounds_match_millisecond_timestamps_exactly(store: SQLiteTenantStore) -> None:
    # A time whose float seconds * 1000 falls just below the whole millisecond.
    moment = datetime(2004, 6, 29, 4, 58, 50, 133000, tzinfo=UTC)
    await store.write_readings([Reading("garage", timestamp=moment, voltage=51.0)])
    found = await store.history("garage", moment, moment, 10)
    assert [r.timestamp for r in found] == [moment]


async def test_rewriting_a_batch_does_not_duplicate(store: SQLiteTenantStore) -> None:
    batch = [reading("garage", s) for s in range(5)]
    await store.write_readings(batch)
    await store.write_readings(batch)  # a retry after an uncertain commit
    assert len(await store.history("garage", None, None, 100)) == 5


async def test_failed_batch_stores_nothing(store: SQLiteTenantStore) -> None:
    batch = [reading("garage", 0), reading("not-registered", 1), reading("garage", 2)]
    with pytest.raises(StorageError):
        await store.write_readings(batch)
    assert await store.history("garage", None, None, 100) == []
    # The connection is usable afterwards.
    await store.write_readings([reading("garage", 3)])
    assert len(await store.history("garage", None, None, 100)) == 1


async def test_second_tenant_sees_nothing_of_the_first(storage: SQLiteStorage, store: SQLiteTenantStore) -> None:
    await store.write_readings([reading("garage", s, voltage=52.0) for s in range(3)])
    await storage.db.execute(
        "INSERT INTO tenants (id, name, created_at) VALUES ('other', 'Other', ?)", (T0.isoformat(),)
    )
    await storage.db.commit()
    other = storage.for_tenant("other")

    assert await other.batteries() == []
    assert await other.latest("garage") is None
    assert await other.history("garage", None, None, 100) == []
    # Writing to a battery of another tenant fails instead of landing in that tenant's data.
    with pytest.raises(StorageError):
        await other.write_readings([reading("garage", 10, voltage=12.0)])

    # The same battery id in the second tenant is a different battery.
    await other.ensure_battery("garage", "Their garage", "jbd")
    await other.write_readings([reading("garage", 10, voltage=12.0)])
    theirs = await other.history("garage", None, None, 100)
    ours = await store.history("garage", None, None, 100)
    assert [r.voltage for r in theirs] == [12.0]
    assert [r.voltage for r in ours] == [52.0, 52.0, 52.0]
    assert await store.batteries() == [BatteryRecord("garage", "Garage", "daly")]
    assert await other.batteries() == [BatteryRecord("garage", "Their garage", "jbd")]


async def test_battery_state_round_trip_and_isolation(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "state.db")
    await storage.open()
    try:
        store = storage.for_tenant("default")
        assert await store.load_state("pack", "energy") is None
        await store.save_state("pack", "energy", {"charged_kwh": 1.5})
        await store.save_state("pack", "energy", {"charged_kwh": 2.25, "discharged_kwh": 0.5})
        assert await store.load_state("pack", "energy") == {"charged_kwh": 2.25, "discharged_kwh": 0.5}
        assert await storage.for_tenant("other").load_state("pack", "energy") is None
    finally:
        await storage.close()
    reopened = SQLiteStorage(tmp_path / "state.db")
    await reopened.open()
    try:
        assert await reopened.for_tenant("default").load_state("pack", "energy") == {
            "charged_kwh": 2.25,
            "discharged_kwh": 0.5,
        }
    finally:
        await reopened.close()
