"""What is PostgreSQL's own: the same answers as SQLite, migrate-data, concurrent migration, settings."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import voluptuous as vol

from hub.cli import build_parser
from hub.config.schema import CORE_SCHEMA
from hub.plugins import PluginManager
from hub.reading import Reading
from hub.storage import DEFAULT_TENANT, StorageError
from hub.storage.base import AuditEntry, Storage
from hub.storage.migrate import add_migrate_command, cmd_migrate_data
from hub.storage.pg_copy import holding_data
from hub.storage.pg_schema import latest_version
from hub.storage.pg_settings import PostgresSettings
from hub.storage.postgres import PostgreSQLStorage
from hub.storage.records import AlertEvent, OutboxItem
from hub.storage.sqlite import SQLiteStorage, migrations
from tests.hub.storage.backends import PG_DSN, T_DATA, Location, drop_schema, observe, populate, sql


def cli(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="trackingbms")
    add_migrate_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return int(args.func(args))


async def opened(storage: Storage) -> Storage:
    await storage.open()
    return storage


def without_clock(seen: Any) -> Any:
    """Observations with the times the storage takes from the clock (event and queueing times) blanked."""
    if isinstance(seen, dict):
        return {key: without_clock(value) for key, value in seen.items()}
    if isinstance(seen, list | tuple):
        return type(seen)(without_clock(value) for value in seen)
    if isinstance(seen, AlertEvent):
        return (seen.alert_id, seen.kind, seen.details)
    if isinstance(seen, OutboxItem):
        due = seen.next_attempt_at if seen.attempts else None
        return (seen.id, seen.channel, seen.key, seen.payload, seen.attempts, due, seen.last_error)
    return seen


async def more(storage: Storage) -> None:
    """Writes after a copy: readings continuing (energy from the newest copied one), new ids."""
    store = storage.for_tenant(DEFAULT_TENANT)
    after = T_DATA + timedelta(seconds=7230)  # a minute after the last garage reading
    await store.write_readings([Reading("garage", timestamp=after, voltage=53.0, current=-20.0)])
    await store.add_audit(AuditEntry("cy", "mosfet", "shed", "ok", timestamp=T_DATA))
    await store.outbox_add("webhook", "d3", {"n": 3})


async def test_the_same_writes_give_the_same_answers_on_both_backends(tmp_path: Path, pg_location: Location) -> None:
    sqlite, postgres = SQLiteStorage(tmp_path / "hub.db"), pg_location.make()
    try:
        for storage in (await opened(sqlite), await opened(postgres)):
            await populate(storage)
            await more(storage)
        assert without_clock(await observe(postgres)) == without_clock(await observe(sqlite))
    finally:
        await sqlite.close()
        await postgres.close()


async def test_migrate_data_copies_everything(
    tmp_path: Path, pg_location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = SQLiteStorage(tmp_path / "hub.db"), pg_location.make()
    try:
        await populate(await opened(source))
        expected = await observe(source)
        argv = ("migrate-data", "--from", source.path, "--to", PG_DSN, "--schema", pg_location.schema, "--batch", "50")
        code = await asyncio.to_thread(cli, *argv)
        assert code == 0, capsys.readouterr().err
        assert "row counts verified" in capsys.readouterr().out
        await target.open()
        assert await observe(target) == expected  # exactly: floats, times and ids alike
        for storage in (source, target):  # both go on alike: energy baseline, ids past the copied ones
            await more(storage)
        assert without_clock(await observe(target)) == without_clock(await observe(source))
    finally:
        await source.close()
        await target.close()


async def test_migrate_data_refuses_a_target_holding_data(
    tmp_path: Path, pg_location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    source = SQLiteStorage(tmp_path / "hub.db")
    await populate(await opened(source))
    await source.close()
    argv = ("migrate-data", "--from", tmp_path / "hub.db", "--to", PG_DSN, "--schema", pg_location.schema)
    assert await asyncio.to_thread(cli, *argv) == 0
    target = await opened(pg_location.make())
    try:
        before = await observe(target)
        assert await asyncio.to_thread(cli, *argv) == 1
        error = capsys.readouterr().err
        assert "already holds data (tenants 2, clients 2, sites 1, batteries 3, readings" in error
        assert await observe(target) == before
    finally:
        await target.close()


async def test_migrate_data_refuses_an_old_or_foreign_source(
    tmp_path: Path, pg_location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
        for version, name, script in migrations()[:3]:
            db.executescript(script)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, '')", (version, name))
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).close()
    for path, message in (
        (old, f"is at schema 3, this hub's is {migrations()[-1][0]}: start this hub on it once"),
        (foreign, "is not a TrackingBMS database"),
        (tmp_path / "missing.db", "no SQLite database at"),
    ):
        argv = ("migrate-data", "--from", path, "--to", PG_DSN, "--schema", pg_location.schema)
        assert await asyncio.to_thread(cli, *argv) == 1
        assert message in capsys.readouterr().err


async def test_a_failed_migration_commits_nothing(
    tmp_path: Path, pg_location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    source = SQLiteStorage(tmp_path / "hub.db")
    await populate(await opened(source))
    await sql(source, "UPDATE users SET created_at = 'yesterday'")  # SQLite takes any text
    await source.close()
    argv = ("migrate-data", "--from", tmp_path / "hub.db", "--to", PG_DSN, "--schema", pg_location.schema)
    assert await asyncio.to_thread(cli, *argv) == 1
    assert "users: a value cannot be converted" in capsys.readouterr().err
    target: Any = await opened(pg_location.make())
    try:
        async with target.connection("test") as conn:
            assert await holding_data(conn, pg_location.schema) == {}  # readings etc. were rolled back
    finally:
        await target.close()


async def test_hubs_starting_together_migrate_once(pg_location: Location) -> None:
    hubs = [pg_location.make() for _ in range(4)]
    try:
        await asyncio.gather(*(hub.open() for hub in hubs))  # all on a schema that does not exist yet
        assert [await hub.schema_version() for hub in hubs] == [latest_version()] * 4
        applied = await sql(hubs[0], "SELECT version FROM schema_migrations ORDER BY version")
        assert applied == [(v,) for v in range(1, latest_version() + 1)]
    finally:
        for hub in hubs:
            await hub.close()


async def test_two_schemas_in_one_database_are_two_databases(pg_location: Location, tmp_path: Path) -> None:
    other = Location("postgresql", tmp_path / "x", pg_location.schema + "_b")
    first, second = await opened(pg_location.make()), await opened(other.make())
    try:
        await first.for_tenant(DEFAULT_TENANT).ensure_battery("one", "One", "daly")
        assert await second.for_tenant(DEFAULT_TENANT).batteries() == []
    finally:
        await first.close()
        await second.close()
        await drop_schema(other.schema)


async def test_an_unreachable_server_is_a_storage_error() -> None:
    storage = PostgreSQLStorage(PostgresSettings(host="127.0.0.1", port=1, user="nobody", database="none"))
    with pytest.raises(StorageError, match=r"cannot connect to PostgreSQL at postgresql://nobody@127\.0\.0\.1:1/none"):
        await storage.open()


def test_settings_from_the_config() -> None:
    storage_key = next(key for key in CORE_SCHEMA if str(key) == "storage")
    section = vol.Schema(CORE_SCHEMA[storage_key])(
        {"backend": "postgresql", "dsn": "postgresql://hub:secret@db.example:5433/bms", "schema": "site_a"}
    )
    settings = PostgresSettings.from_config(section)
    assert settings.describe() == "postgresql://hub@db.example:5433/bms (schema site_a)"  # never the password
    assert settings.server_settings()["search_path"] == "site_a"
    assert (settings.min_size, settings.max_size) == (1, 10)
    parts = PostgresSettings.from_config({"host": "h", "user": "u", "password": "p", "database": "d", "port": "6432"})
    assert parts.connect_arguments() == {"host": "h", "port": 6432, "user": "u", "password": "p", "database": "d"} | {
        "timeout": 10.0
    }
    for bad in (
        {"schema": "Site A"},
        {"schema": "pg_catalog"},
        {"port": 0},
        {"pool_max_size": 0},
        {"backend": "mysql"},
    ):
        with pytest.raises(vol.Invalid):
            vol.Schema(CORE_SCHEMA[storage_key])(bad)


async def test_a_lost_connection_is_a_storage_error_and_the_next_write_works(pg_storage: PostgreSQLStorage) -> None:
    store = pg_storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("one", "One", "daly")
    first = Reading("one", timestamp=T_DATA, voltage=52.0)
    await store.write_readings([first])
    killer = await asyncpg.connect(PG_DSN)
    try:  # the server ends every session of this hub (a restart, a failover, an admin)
        ended = await killer.fetchval(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            pg_storage.settings.application_name,
        )
    finally:
        await killer.close()
    assert ended >= 1
    second = Reading("one", timestamp=T_DATA + timedelta(seconds=1), voltage=53.0)
    failures = []
    for _ in range(pg_storage.settings.max_size + 1):  # each broken pooled connection fails once, cleanly
        try:
            await store.write_readings([second])
            break
        except StorageError as err:
            failures.append(str(err))
    assert all("PostgreSQL" in failure for failure in failures)
    assert [r.voltage for r in await store.history("one", None, None, 10)] == [52.0, 53.0]


async def test_a_reading_too_large_for_the_columns_is_dropped_not_its_batch(
    pg_storage: PostgreSQLStorage, caplog: pytest.LogCaptureFixture
) -> None:
    store = pg_storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("one", "One", "daly")
    corrupt = Reading("one", timestamp=T_DATA + timedelta(seconds=1), voltage=3e7)  # 3e9 in 10 mV steps
    good = [Reading("one", timestamp=T_DATA + timedelta(seconds=s), voltage=52.0) for s in (0, 2)]
    await store.write_readings([good[0], corrupt, good[1]])
    assert [r.timestamp for r in await store.history("one", None, None, 10)] == [r.timestamp for r in good]
    assert "is dropped: it holds a value out of range" in caplog.text
    buckets = [b async for part in store.iter_buckets("one", "5m", None, None) for b in part]
    assert [b.n for b in buckets] == [2]  # nor is it rolled up


def test_migrate_data_is_a_trackingbms_command() -> None:
    parser = build_parser(PluginManager())
    args = parser.parse_args(["migrate-data", "--from", "a.db", "--to", "postgresql://h/db", "--schema", "site_a"])
    assert (args.func, args.source, args.dsn, args.schema, args.batch) == (
        cmd_migrate_data, Path("a.db"), "postgresql://h/db", "site_a", 5000,
    )  # fmt: skip
    with pytest.raises(SystemExit):
        parser.parse_args(["migrate-data", "--from", "a.db", "--to", "postgresql://h/db", "--schema", "Bad-Name"])
