"""SQLite backend (aiosqlite): one file, WAL, numbered migrations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from hub.reading import Reading, utc_now
from hub.storage import raw_tier, rollup_tables, sqlite_audit
from hub.storage.audit import AuditQuery
from hub.storage.base import AuditEntry, BatteryRecord, Storage, StorageError, TenantStore
from hub.storage.chunks import window_of
from hub.storage.packing import COLUMNS, pack_batch, to_millis
from hub.storage.retention import Pruner, Retention
from hub.storage.rollups import BY_NAME, FIVE_MIN, Sample, samples_by_battery
from hub.storage.series_reads import SeriesReads
from hub.storage.sql import Sql, SQLiteSql, SqlSource
from hub.storage.sql_records import SqlRecords
from hub.storage.sqlite_tenancy import SQLiteTenancy, SQLiteTenants

_LOGGER = logging.getLogger(__name__)

_MIGRATIONS_PACKAGE = "hub.storage.migrations.sqlite"
# battery_pk is looked up once per batch (_known_pks), not by a subquery per row.
_INSERT = (
    f"INSERT OR REPLACE INTO readings (battery_pk, {', '.join(COLUMNS)}) VALUES (?, {', '.join('?' * len(COLUMNS))})"
)


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, in order."""
    found = []
    for entry in resources.files(_MIGRATIONS_PACKAGE).iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name[:-4], entry.read_text(encoding="utf-8")))
    return sorted(found)


class SQLiteStorage(SQLiteTenants, Storage):
    """All data in one SQLite file.

    ``retention`` starts a background pruner with the storage; ``read_only`` opens an existing
    file without migrating or writing (offline export while the hub may be running).
    """

    def __init__(self, path: Path, *, retention: Retention | None = None, read_only: bool = False) -> None:
        self.path = path
        self.retention = retention
        self.read_only = read_only
        self.pruner: Pruner | None = None
        self._db: aiosqlite.Connection | None = None
        # One transaction at a time on the shared connection: a commit must never take along
        # another task's half-done writes.
        self._write_lock = asyncio.Lock()
        # Newest stored reading per battery_pk: the start of the next energy interval.
        self.newest: dict[int, Sample] = {}

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise StorageError("storage is not open")
        return self._db

    async def open(self) -> None:
        if self.read_only:
            if not self.path.is_file():
                raise StorageError(f"no database at {self.path}")
            self._db = await aiosqlite.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        # WAL lets the API read while the recorder writes; NORMAL is durable across app crashes.
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=NORMAL")
        await self.db.execute("PRAGMA foreign_keys=ON")
        applied = await self._migrate()
        if 4 in applied:
            await self._backfill_rollups()
        if self.retention is not None:
            self.pruner = Pruner(self, self.retention)
            self.pruner.start()

    async def _migrate(self) -> list[int]:
        applied = []
        await self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = await self.schema_version()
        for version, name, sql in migrations():
            if version <= current:
                continue
            # One transaction per migration: a failed migration leaves the previous version intact.
            await self.db.executescript(
                f"BEGIN;\n{sql}\nINSERT INTO schema_migrations VALUES "
                f"({version}, '{name}', '{utc_now().isoformat()}');\nCOMMIT;"
            )
            applied.append(version)
        return applied

    async def _backfill_rollups(self) -> None:
        """Roll up the readings stored before migration 004 (once, at the upgrade)."""
        async with self.db.execute("SELECT DISTINCT battery_pk FROM readings") as cur:
            pks = [int(row[0]) for row in await cur.fetchall()]
        for pk in pks:
            _LOGGER.info("Building rollups of battery #%d from its stored readings (runs once)", pk)
            await self.rebuild(pk, None, None)

    @contextlib.asynccontextmanager
    async def sql_read(self, what: str) -> AsyncIterator[Sql]:
        """The connection to read from, for the stores shared by both backends."""
        yield SQLiteSql(self.db)

    @contextlib.asynccontextmanager
    async def sql_write(self, what: str) -> AsyncIterator[Sql]:
        """:meth:`transaction` for the stores shared by both backends."""
        async with self.transaction(what) as db:
            yield SQLiteSql(db)

    @contextlib.asynccontextmanager
    async def transaction(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        """The connection for one write transaction: committed at the end, rolled back on any error."""
        async with self._write_lock:
            try:
                yield self.db
                await self.db.commit()
            except BaseException as err:
                await self.db.rollback()
                if isinstance(err, sqlite3.Error):
                    raise StorageError(f"SQLite {what} failed: {err}") from err
                raise

    async def rebuild(self, battery_pk: int, lo: int | None, hi: int | None) -> int:
        """Rebuild a battery's rollups over [lo, hi] (ms, None = all), clamped to its stored readings,
        one day per transaction so writers are never held up for long."""
        bounds = await raw_tier.bounds(SQLiteSql(self.db), battery_pk)
        if bounds is None:
            return 0
        start = max(FIVE_MIN.floor(bounds[0]), lo if lo is not None else bounds[0])
        end = min(bounds[1], hi if hi is not None else bounds[1]) + 1
        written = 0
        for window in rollup_tables.rebuild_windows(start, end) if start < end else []:
            async with self.transaction("rollup rebuild") as db:
                written += await rollup_tables.rebuild_window(SQLiteSql(db), battery_pk, *window)
            await asyncio.sleep(0)
        return written

    async def _battery_pks(self) -> list[int]:
        async with self.db.execute("SELECT pk FROM batteries ORDER BY pk") as cur:
            return [int(row[0]) for row in await cur.fetchall()]

    async def compact(self, before: datetime, chunk: int = 10_000) -> int:
        end = window_of(to_millis(before))  # only whole hours
        total = 0
        for pk in await self._battery_pks():
            while True:
                async with self.transaction("compaction") as db:
                    folded = await raw_tier.compact(SQLiteSql(db), pk, end, chunk)
                if not folded:
                    break
                total += folded
                await asyncio.sleep(0)  # let the recorder and API in between hours
        return total

    async def prune(self, cutoffs: Mapping[str, datetime], chunk: int = 5000) -> dict[str, int]:
        unknown = set(cutoffs) - {rollup_tables.RAW, *BY_NAME}
        if unknown:
            raise ValueError(f"unknown storage classes {sorted(unknown)}")
        result = dict.fromkeys(cutoffs, 0)
        for pk in await self._battery_pks():
            for name, cutoff in cutoffs.items():
                result[name] += await self._prune_class(pk, name, to_millis(cutoff), chunk)
        return result

    async def _prune_class(self, battery_pk: int, name: str, cutoff: int, chunk: int) -> int:
        total = 0
        while True:
            async with self.transaction("prune") as db:
                if name == rollup_tables.RAW:
                    deleted = await rollup_tables.prune_readings(SQLiteSql(db), battery_pk, cutoff, chunk)
                else:
                    deleted = await rollup_tables.prune_rollups(SQLiteSql(db), battery_pk, name, cutoff, chunk)
            total += deleted
            if deleted < chunk:
                return total
            await asyncio.sleep(0)  # let the recorder and API in between chunks

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def close(self) -> None:
        if self.pruner is not None:
            await self.pruner.stop()
            self.pruner = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    def for_tenant(self, tenant_id: str) -> SQLiteTenantStore:
        return SQLiteTenantStore(self, tenant_id)

    async def audit_entries(self, query: AuditQuery, limit: int, offset: int = 0) -> tuple[list[AuditEntry], int]:
        return await sqlite_audit.select(self.db, query, limit, offset)

    def iter_audit_entries(self, query: AuditQuery, chunk: int = 500) -> AsyncIterator[list[AuditEntry]]:
        return sqlite_audit.iterate(self.db, query, chunk)


class SQLiteTenantStore(SQLiteTenancy, SqlRecords, SeriesReads, TenantStore):
    """One tenant's view of a SQLite database."""

    def __init__(self, storage: SQLiteStorage, tenant_id: str) -> None:
        self.storage = storage
        self.tenant_id = tenant_id

    async def ensure_battery(self, battery_id: str, name: str, driver: str) -> None:
        async with self.storage.transaction("battery write") as db:
            await db.execute(
                "INSERT INTO batteries (tenant_id, id, name, driver, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, driver = excluded.driver",
                (self.tenant_id, battery_id, name, driver, utc_now().isoformat()),
            )

    async def batteries(self) -> list[BatteryRecord]:
        async with self.storage.db.execute(
            "SELECT id, name, driver FROM batteries WHERE tenant_id = ? ORDER BY id", (self.tenant_id,)
        ) as cur:
            return [BatteryRecord(*row) for row in await cur.fetchall()]

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        newest = self.storage.newest
        async with self.storage.transaction("write") as db:
            # Packed with the battery_pk and reduced to rollup samples in one pass per batch.
            rows, metrics, unknown = pack_batch(readings, await self._known_pks({r.battery_id for r in readings}))
            if unknown:
                missing = sorted(set(unknown))
                raise StorageError(f"SQLite write failed: unknown batteries {missing} in tenant {self.tenant_id!r}")
            groups = samples_by_battery(metrics)
            sql = SQLiteSql(db)
            before = {pk: await rollup_tables.baseline(sql, pk, s[0].ts, newest.get(pk)) for pk, s in groups.items()}
            await db.executemany(_INSERT, rows)
            # Rolled up in the same transaction: a reading counted as stored is also in the rollups.
            for pk, samples in groups.items():
                await rollup_tables.roll_up(sql, pk, samples, *before[pk])
        for pk, samples in groups.items():  # only once committed
            prev = before[pk][0]
            newest[pk] = samples[-1] if prev is None or samples[-1].ts >= prev.ts else prev

    async def _known_pks(self, battery_ids: set[str]) -> dict[str, int]:
        """Primary keys of those of this tenant's batteries that are registered."""
        ids = sorted(battery_ids)
        async with self.storage.db.execute(
            f"SELECT id, pk FROM batteries WHERE tenant_id = ? AND id IN ({', '.join('?' * len(ids))})",
            (self.tenant_id, *ids),
        ) as cur:
            return {str(row[0]): int(row[1]) for row in await cur.fetchall()}

    async def _pk(self, battery_id: str) -> int | None:
        async with self.storage.db.execute(
            "SELECT pk FROM batteries WHERE tenant_id = ? AND id = ?", (self.tenant_id, battery_id)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else int(row[0])

    async def load_state(self, battery_id: str, key: str) -> dict[str, Any] | None:
        async with self.storage.db.execute(
            "SELECT value FROM battery_state WHERE tenant_id = ? AND battery_id = ? AND key = ?",
            (self.tenant_id, battery_id, key),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else dict(json.loads(row[0]))

    async def save_state(self, battery_id: str, key: str, value: dict[str, Any]) -> None:
        async with self.storage.transaction("state write") as db:
            await db.execute(
                "INSERT INTO battery_state (tenant_id, battery_id, key, value, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, battery_id, key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (self.tenant_id, battery_id, key, json.dumps(value), utc_now().isoformat()),
            )

    async def add_audit(self, entry: AuditEntry) -> None:
        async with self.storage.transaction("audit write") as db:
            await sqlite_audit.insert(db, self.tenant_id, entry)

    async def audit(
        self, limit: int, offset: int = 0, target: str | None = None, query: AuditQuery | None = None
    ) -> tuple[list[AuditEntry], int]:
        scoped = replace(query or AuditQuery(), tenant=self.tenant_id)
        if target is not None:
            scoped = replace(scoped, target=target)
        return await sqlite_audit.select(self.storage.db, scoped, limit, offset)

    def iter_audit(self, query: AuditQuery | None = None, chunk: int = 500) -> AsyncIterator[list[AuditEntry]]:
        return sqlite_audit.iterate(self.storage.db, replace(query or AuditQuery(), tenant=self.tenant_id), chunk)

    @contextlib.asynccontextmanager
    async def _reader(self, what: str) -> AsyncIterator[Sql]:
        yield SQLiteSql(self.storage.db)  # the one connection: every committed write is seen

    def _source(self) -> SqlSource:
        return self.storage

    async def rebuild_rollups(self, battery_id: str, start: datetime | None = None, end: datetime | None = None) -> int:
        pk = await self._pk(battery_id)
        if pk is None:
            return 0
        return await self.storage.rebuild(pk, to_millis(start) if start else None, to_millis(end) if end else None)
