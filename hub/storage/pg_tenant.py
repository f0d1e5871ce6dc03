"""One tenant's view of a PostgreSQL database: batteries, readings, state, audit, history reads."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from hub.reading import Reading, utc_now
from hub.storage import pg_audit, rollup_tables
from hub.storage.audit import AuditQuery
from hub.storage.base import AuditEntry, BatteryRecord, StorageError, TenantStore
from hub.storage.packing import COLUMNS, pack_batch, to_millis
from hub.storage.pg_partitions import month_of
from hub.storage.pg_tenancy import PgTenancy
from hub.storage.postgres import PostgreSQLStorage
from hub.storage.rollups import Sample, samples_by_battery
from hub.storage.series_reads import SeriesReads
from hub.storage.sql import PgSql, Sql, SqlSource
from hub.storage.sql_records import SqlRecords

_LOGGER = logging.getLogger(__name__)
_INSERT = (
    f"INSERT INTO readings (battery_pk, {', '.join(COLUMNS)}) VALUES ({', '.join(f'${i}' for i in range(1, 16))}) "
    "ON CONFLICT (battery_pk, ts) DO UPDATE SET "  # a reading written again replaces the stored one
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])
)
# Row positions (battery_pk, ts, ...) of the columns stored as 32-bit integers.
_INT_COLUMNS = range(2, 11)
_INT32 = 2**31


def fits_int32(row: tuple[Any, ...]) -> bool:
    """Whether a packed row's scaled values fit the integer columns (32-bit here, 64 in SQLite)."""
    return all(row[i] is None or -_INT32 <= row[i] < _INT32 for i in _INT_COLUMNS)


def _missing_partition(err: StorageError) -> bool:
    return "no partition of relation" in str(err.__cause__ or "")


class PostgreSQLTenantStore(PgTenancy, SqlRecords, SeriesReads, TenantStore):
    """One tenant's view of a PostgreSQL database."""

    def __init__(self, storage: PostgreSQLStorage, tenant_id: str) -> None:
        self.storage = storage
        self.tenant_id = tenant_id

    async def ensure_battery(self, battery_id: str, name: str, driver: str) -> None:
        async with self.storage.transaction("battery write") as conn:
            await conn.execute(
                "INSERT INTO batteries (tenant_id, id, name, driver, created_at) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name, driver = EXCLUDED.driver",
                self.tenant_id,
                battery_id,
                name,
                driver,
                utc_now(),
            )

    async def batteries(self) -> list[BatteryRecord]:
        # COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
        sql = 'SELECT id, name, driver FROM batteries WHERE tenant_id = $1 ORDER BY id COLLATE "C"'
        return [BatteryRecord(*row) for row in await self.storage.fetch("battery read", sql, self.tenant_id)]

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        pks = await self._known_pks({r.battery_id for r in readings})
        # A reading whose values do not fit the columns is logged and left out, not its batch.
        rows, metrics, unknown = pack_batch(readings, pks, fits_int32)
        if unknown:
            missing = sorted(set(unknown))
            raise StorageError(f"PostgreSQL write failed: unknown batteries {missing} in tenant {self.tenant_id!r}")
        if not rows:
            return
        groups = samples_by_battery(metrics)
        await self.storage.ensure_partitions(self.storage.partitions.missing(row[1] for row in rows))
        try:
            await self._write(rows, groups)
        except StorageError as err:
            if not _missing_partition(err):
                raise
            # Another hub dropped a month this storage still counted on: create it again, once.
            months = sorted({month_of(row[1]) for row in rows})
            self.storage.partitions.forget(months)
            await self.storage.ensure_partitions(months)
            await self._write(rows, groups)

    async def _write(self, rows: list[tuple[Any, ...]], groups: dict[int, list[Sample]]) -> None:
        async with self.storage.transaction("write", groups) as conn:
            sql = PgSql(conn)
            before = {pk: await rollup_tables.baseline(sql, pk, s[0].ts) for pk, s in groups.items()}
            await conn.executemany(_INSERT, rows)
            # Rolled up in the same transaction: a reading counted as stored is also in the rollups.
            for pk, samples in groups.items():
                await rollup_tables.roll_up(sql, pk, samples, *before[pk])

    async def _known_pks(self, battery_ids: set[str]) -> dict[str, int]:
        """Primary keys of those of this tenant's batteries that are registered.

        Kept by the storage once found: a battery's primary key never changes (batteries are not deleted).
        """
        known = self.storage.battery_pks
        ids = sorted(battery_ids)
        found = {i: known[(self.tenant_id, i)] for i in ids if (self.tenant_id, i) in known}
        if len(found) < len(ids):
            rows = await self.storage.fetch(
                "write",
                "SELECT id, pk FROM batteries WHERE tenant_id = $1 AND id = ANY($2::text[])",
                self.tenant_id,
                ids,
            )
            found = {str(row[0]): int(row[1]) for row in rows}
            known.update(((self.tenant_id, i), pk) for i, pk in found.items())
        return found

    async def _pk(self, battery_id: str) -> int | None:
        value = await self.storage.fetchval(
            "battery read", "SELECT pk FROM batteries WHERE tenant_id = $1 AND id = $2", self.tenant_id, battery_id
        )
        return None if value is None else int(value)

    async def load_state(self, battery_id: str, key: str) -> dict[str, Any] | None:
        value = await self.storage.fetchval(
            "state read",
            "SELECT value FROM battery_state WHERE tenant_id = $1 AND battery_id = $2 AND key = $3",
            self.tenant_id,
            battery_id,
            key,
        )
        return None if value is None else dict(json.loads(value))

    async def save_state(self, battery_id: str, key: str, value: dict[str, Any]) -> None:
        async with self.storage.transaction("state write") as conn:
            await conn.execute(
                "INSERT INTO battery_state (tenant_id, battery_id, key, value, updated_at) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (tenant_id, battery_id, key) DO UPDATE SET value = EXCLUDED.value, "
                "updated_at = EXCLUDED.updated_at",
                self.tenant_id,
                battery_id,
                key,
                json.dumps(value),
                utc_now(),
            )

    async def add_audit(self, entry: AuditEntry) -> None:
        await pg_audit.insert(self.storage, self.tenant_id, entry)

    async def audit(
        self, limit: int, offset: int = 0, target: str | None = None, query: AuditQuery | None = None
    ) -> tuple[list[AuditEntry], int]:
        scoped = replace(query or AuditQuery(), tenant=self.tenant_id)
        if target is not None:
            scoped = replace(scoped, target=target)
        return await pg_audit.select(self.storage, scoped, limit, offset)

    def iter_audit(self, query: AuditQuery | None = None, chunk: int = 500) -> AsyncIterator[list[AuditEntry]]:
        return pg_audit.iterate(self.storage, replace(query or AuditQuery(), tenant=self.tenant_id), chunk)

    @contextlib.asynccontextmanager
    async def _reader(self, what: str) -> AsyncIterator[Sql]:
        """A read-only snapshot: rows and chunks seen as of one moment, whatever the compactor
        commits in between (it moves readings from one table to the other)."""
        async with self.storage.connection(what) as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield PgSql(conn)

    def _source(self) -> SqlSource:
        return self.storage

    async def rebuild_rollups(self, battery_id: str, start: datetime | None = None, end: datetime | None = None) -> int:
        pk = await self._pk(battery_id)
        if pk is None:
            return 0
        return await self.storage.rebuild(pk, to_millis(start) if start else None, to_millis(end) if end else None)
