"""The storage interface on both backends (SQLite file, PostgreSQL schema): schema, readings, tenants, state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.reading import BatteryState, Reading
from hub.storage import DEFAULT_TENANT, StorageError
from hub.storage.base import BatteryRecord, Storage, TenantStore
from hub.storage.pg_copy import TABLES
from hub.storage.pg_schema import migrations as pg_migrations
from hub.storage.sqlite import migrations as sqlite_migrations
from tests.hub.storage.backends import Location, add_tenant, migrations_of, sql, table_names

T0 = datetime(2024, 7, 1, 6, 0, 0, tzinfo=UTC)


def reading(battery: str, second: int, voltage: float = 52.0) -> Reading:
    return Reading(battery, timestamp=T0 + timedelta(seconds=second), voltage=voltage, current=1.5, soc=50.0)


@pytest.fixture
async def store(storage: Storage) -> TenantStore:
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("garage", "Garage", "daly")
    return store


def test_both_backends_number_their_migrations_alike() -> None:
    sqlite, postgres = sqlite_migrations(), pg_migrations()
    assert [(v, name) for v, name, _ in sqlite] == [(v, name) for v, name, _ in postgres]
    assert [v for v, _, _ in sqlite] == list(range(1, len(sqlite) + 1))  # numbered without gaps


async def test_open_creates_the_schema(storage: Storage) -> None:
    known = migrations_of(storage)
    assert known[0][:2] == (1, "001_initial")
    assert await storage.schema_version() == known[-1][0]
    assert await table_names(storage) == {*TABLES, "schema_migrations"}  # the same tables on both backends
    assert await sql(storage, "SELECT id FROM tenants") == [(DEFAULT_TENANT,)]
    applied = await sql(storage, "SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied == [(v, name) for v, name, _ in known]


async def test_reopening_does_not_migrate_again_and_keeps_data(location: Location) -> None:
    first = location.make()
    await first.open()
    store = first.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("garage", "Garage", "daly")
    await store.write_readings([reading("garage", 0)])
    await first.close()

    second = location.make()
    await second.open()
    try:
        known = migrations_of(second)
        assert await second.schema_version() == known[-1][0]
        applied = await sql(second, "SELECT version, name FROM schema_migrations ORDER BY version")
        assert applied == [(v, name) for v, name, _ in known]  # each applied once
        latest = await second.for_tenant(DEFAULT_TENANT).latest("garage")
        assert latest is not None
        assert latest.timestamp == T0
    finally:
        await second.close()


async def test_closed_storage_raises_storage_error(location: Location) -> None:
    with pytest.raises(StorageError):
        await location.make().schema_version()


async def test_ensure_battery_creates_and_updates(store: TenantStore) -> None:
    await store.ensure_battery("shed", "Shed", "daly")
    await store.ensure_battery("garage", "Garage 48 V", "jbd")
    await store.ensure_battery("Garage-2", "Upper case sorts first in byte order", "jbd")
    assert await store.batteries() == [
        BatteryRecord("Garage-2", "Upper case sorts first in byte order", "jbd"),
        BatteryRecord("garage", "Garage 48 V", "jbd"),
        BatteryRecord("shed", "Shed", "daly"),
    ]


async def test_latest_is_the_newest_reading(store: TenantStore) -> None:
    assert await store.latest("garage") is None
    await store.write_readings([reading("garage", s, voltage=50 + s) for s in (3, 1, 2)])
    latest = await store.latest("garage")
    assert latest is not None
    assert (latest.battery_id, latest.timestamp, latest.voltage) == ("garage", T0 + timedelta(seconds=3), 53.0)
    assert latest.state == BatteryState.CHARGING  # derived values come back
    assert latest.power == pytest.approx(53.0 * 1.5)


async def test_history_ranges_are_inclusive_and_oldest_first(store: TenantStore) -> None:
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


async def test_range_bounds_match_millisecond_timestamps_exactly(store: TenantStore) -> None:
    # A time whose float seconds * 1000 falls just below the whole millisecond.
    moment = datetime(2004, 6, 29, 4, 58, 50, 133000, tzinfo=UTC)
    await store.write_readings([Reading("garage", timestamp=moment, voltage=51.0)])
    found = await store.history("garage", moment, moment, 10)
    assert [r.timestamp for r in found] == [moment]


async def test_rewriting_a_batch_does_not_duplicate(store: TenantStore) -> None:
    batch = [reading("garage", s) for s in range(5)]
    await store.write_readings(batch)
    await store.write_readings(batch)  # a retry after an uncertain commit
    assert len(await store.history("garage", None, None, 100)) == 5


async def test_a_reading_written_again_replaces_the_stored_one(store: TenantStore) -> None:
    await store.write_readings([reading("garage", 0, voltage=50.0), reading("garage", 0, voltage=51.0)])
    await store.write_readings([reading("garage", 1, voltage=50.0)])
    await store.write_readings([reading("garage", 1, voltage=52.5)])
    assert [r.voltage for r in await store.history("garage", None, None, 10)] == [51.0, 52.5]


async def test_failed_batch_stores_nothing(store: TenantStore) -> None:
    batch = [reading("garage", 0), reading("not-registered", 1), reading("garage", 2)]
    with pytest.raises(StorageError):
        await store.write_readings(batch)
    assert await store.history("garage", None, None, 100) == []
    # The connection is usable afterwards.
    await store.write_readings([reading("garage", 3)])
    assert len(await store.history("garage", None, None, 100)) == 1


async def test_second_tenant_sees_nothing_of_the_first(storage: Storage, store: TenantStore) -> None:
    await store.write_readings([reading("garage", s, voltage=52.0) for s in range(3)])
    await add_tenant(storage, "other")
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


async def test_a_battery_of_an_unknown_tenant_is_refused(storage: Storage) -> None:
    with pytest.raises(StorageError):
        await storage.for_tenant("nobody").ensure_battery("garage", "Garage", "daly")


async def test_battery_state_round_trip_and_isolation(location: Location) -> None:
    storage = location.make()
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
    reopened = location.make()
    await reopened.open()
    try:
        assert await reopened.for_tenant("default").load_state("pack", "energy") == {
            "charged_kwh": 2.25,
            "discharged_kwh": 0.5,
        }
    finally:
        await reopened.close()
