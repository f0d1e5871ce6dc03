"""PostgreSQL backend (asyncpg): a connection pool, numbered migrations, month-partitioned readings.

The same interface and the same results as the SQLite backend. Where SQLite serializes every write
on its one connection, PostgreSQL writes run in parallel on pooled connections; a transaction that
changes a battery's readings or rollups first takes that battery's advisory lock (see
``pg_schema.lock_batteries``), which also holds across several hubs sharing one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from hub.storage import pg_audit, raw_tier, rollup_tables
from hub.storage.audit import AuditQuery
from hub.storage.base import AuditEntry, Storage, StorageError
from hub.storage.chunks import window_of
from hub.storage.packing import to_millis
from hub.storage.pg_partitions import Partitions
from hub.storage.pg_schema import current_schema, lock_batteries, migrate, schema_version
from hub.storage.pg_settings import PostgresSettings
from hub.storage.pg_tenancy import PgTenants
from hub.storage.retention import Pruner, Retention
from hub.storage.rollup_tables import RAW, rebuild_windows
from hub.storage.rollups import BY_NAME, FIVE_MIN
from hub.storage.sql import PgSql, Sql

if TYPE_CHECKING:
    from hub.storage.pg_tenant import PostgreSQLTenantStore

_LOGGER = logging.getLogger(__name__)
# What a lost server, a refused connection or a failed statement raise.
ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection broken in the middle of a command
    OSError,
    TimeoutError,
)


# Partition DDL needs an exclusive lock on the readings table. Behind a long reader (a backup's
# snapshot) it would wait, and every write would queue behind it: give up instead, the caller retries.
_DDL_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '5s'"


def reason(err: BaseException) -> str:
    """One line saying why a PostgreSQL call failed."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


class PostgreSQLStorage(PgTenants, Storage):
    """All data in one PostgreSQL database (in the configured schema, if any).

    ``retention`` starts a background pruner with the storage; ``read_only`` connects with read-only
    sessions and neither migrates nor writes (offline export while hubs may be running).
    """

    def __init__(
        self, settings: PostgresSettings, *, retention: Retention | None = None, read_only: bool = False
    ) -> None:
        self.settings = settings
        self.retention = retention
        self.read_only = read_only
        self.pruner: Pruner | None = None
        self.schema = settings.schema or "public"  # the schema in use, resolved at open
        self.partitions = Partitions()
        self.battery_pks: dict[tuple[str, str], int] = {}  # (tenant, battery id) -> pk, as writes find them
        self._pool: Any = None

    @property
    def pool(self) -> Any:
        """The open asyncpg pool."""
        if self._pool is None:
            raise StorageError("storage is not open")
        return self._pool

    def describe(self) -> str:
        """Where the data is, for messages (no password)."""
        return self.settings.describe()

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                **self.settings.connect_arguments(),
                min_size=self.settings.min_size,
                max_size=self.settings.max_size,
                server_settings=self.settings.server_settings(read_only=self.read_only),
            )
        except ERRORS as err:
            raise StorageError(f"cannot connect to PostgreSQL at {self.describe()}: {reason(err)}") from err
        try:
            await self._prepare()
        except BaseException:
            await self.close()
            raise
        if self.retention is not None:
            self.pruner = Pruner(self, self.retention)
            self.pruner.start()

    async def _prepare(self) -> None:
        async with self.connection("open") as conn:
            if self.read_only:
                if await schema_version(conn) == 0:
                    raise StorageError(f"no TrackingBMS database at {self.describe()}")
                applied = []
            else:
                applied = await migrate(conn, self.settings.schema)
            self.schema = await current_schema(conn) or self.schema
            await self.partitions.load(conn, self.schema)
        if 4 in applied:
            await self._backfill_rollups()

    async def _backfill_rollups(self) -> None:
        """Roll up readings stored before migration 004 (once, at the upgrade)."""
        for row in await self.fetch("backfill", "SELECT DISTINCT battery_pk FROM readings"):
            _LOGGER.info("Building rollups of battery #%d from its stored readings (runs once)", row[0])
            await self.rebuild(int(row[0]), None, None)

    @contextlib.asynccontextmanager
    async def connection(self, what: str) -> AsyncIterator[Any]:
        """A pooled connection; database and connection errors become StorageError."""
        try:
            async with self.pool.acquire() as conn:
                yield conn
        except ERRORS as err:
            raise StorageError(f"PostgreSQL {what} failed: {reason(err)}") from err

    @contextlib.asynccontextmanager
    async def transaction(self, what: str, battery_pks: Iterable[int] = ()) -> AsyncIterator[Any]:
        """A connection in a transaction holding the write locks of ``battery_pks``: committed at the
        end, rolled back on any error."""
        async with self.connection(what) as conn, conn.transaction():
            await lock_batteries(conn, self.schema, list(battery_pks))
            yield conn

    @contextlib.asynccontextmanager
    async def sql_read(self, what: str) -> AsyncIterator[Sql]:
        """A pooled connection, for the stores shared by both backends."""
        async with self.connection(what) as conn:
            yield PgSql(conn)

    @contextlib.asynccontextmanager
    async def sql_write(self, what: str) -> AsyncIterator[Sql]:
        """:meth:`transaction` (no battery locks) for the stores shared by both backends."""
        async with self.transaction(what) as conn:
            yield PgSql(conn)

    async def fetch(self, what: str, sql: str, *args: Any) -> list[Any]:
        """Rows of a query."""
        async with self.connection(what) as conn:
            return list(await conn.fetch(sql, *args))

    async def fetchrow(self, what: str, sql: str, *args: Any) -> Any:
        """The first row of a query, or None."""
        async with self.connection(what) as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, what: str, sql: str, *args: Any) -> Any:
        """The first value of a query's first row, or None."""
        async with self.connection(what) as conn:
            return await conn.fetchval(sql, *args)

    async def ensure_partitions(self, months: list[int]) -> None:
        """Create the readings partitions of ``months`` in a transaction of their own."""
        if months:
            async with self.transaction("partition creation") as conn:
                await conn.execute(_DDL_LOCK_TIMEOUT)
                await self.partitions.create(conn, months)

    async def rebuild(self, battery_pk: int, lo: int | None, hi: int | None) -> int:
        """Rebuild a battery's rollups over [lo, hi] (ms, None = all), clamped to its stored readings,
        one day per transaction so writers are never held up for long."""
        async with self.connection("rollup rebuild") as conn:
            bounds = await raw_tier.bounds(PgSql(conn), battery_pk)
        if bounds is None:
            return 0
        start = max(FIVE_MIN.floor(bounds[0]), lo if lo is not None else bounds[0])
        end = min(bounds[1], hi if hi is not None else bounds[1]) + 1
        written = 0
        for window in rebuild_windows(start, end) if start < end else []:
            async with self.transaction("rollup rebuild", [battery_pk]) as conn:
                written += await rollup_tables.rebuild_window(PgSql(conn), battery_pk, *window)
            await asyncio.sleep(0)
        return written

    async def compact(self, before: datetime, chunk: int = 10_000) -> int:
        end = window_of(to_millis(before))  # only whole hours
        total = 0
        for row in await self.fetch("compaction", "SELECT pk FROM batteries ORDER BY pk"):
            pk = int(row[0])
            while True:  # the battery's write lock keeps the recorder out of the hour being folded
                async with self.transaction("compaction", [pk]) as conn:
                    folded = await raw_tier.compact(PgSql(conn), pk, end, chunk)
                if not folded:
                    break
                total += folded
                await asyncio.sleep(0)
        return total

    async def prune(self, cutoffs: Mapping[str, datetime], chunk: int = 5000) -> dict[str, int]:
        unknown = set(cutoffs) - {RAW, *BY_NAME}
        if unknown:
            raise ValueError(f"unknown storage classes {sorted(unknown)}")
        result = dict.fromkeys(cutoffs, 0)
        if RAW in cutoffs:  # whole expired months go at once; the rest row by row below
            result[RAW] += await self._drop_partitions(FIVE_MIN.floor(to_millis(cutoffs[RAW])))
        for row in await self.fetch("prune", "SELECT pk FROM batteries ORDER BY pk"):
            for name, cutoff in cutoffs.items():
                result[name] += await self._prune_class(int(row[0]), name, to_millis(cutoff), chunk)
        return result

    async def _drop_partitions(self, cutoff: int) -> int:
        try:
            async with self.transaction("prune") as conn:
                await conn.execute(_DDL_LOCK_TIMEOUT)
                return await self.partitions.drop_expired(conn, cutoff)
        except StorageError as err:
            if not isinstance(err.__cause__, asyncpg.LockNotAvailableError):
                raise
            # A long reader (a backup) holds the table: its rows go row by row, the partition next time.
            _LOGGER.info("Expired readings partitions stay until the next pruning: %s", err)
            return 0

    async def _prune_class(self, battery_pk: int, name: str, cutoff: int, chunk: int) -> int:
        total = 0
        while True:
            async with self.transaction("prune", [battery_pk]) as conn:
                if name == RAW:
                    deleted = await rollup_tables.prune_readings(PgSql(conn), battery_pk, cutoff, chunk)
                else:
                    deleted = await rollup_tables.prune_rollups(PgSql(conn), battery_pk, name, cutoff, chunk)
            total += deleted
            if deleted < chunk:
                return total
            await asyncio.sleep(0)  # let the recorder and API in between chunks

    async def schema_version(self) -> int:
        async with self.connection("schema version") as conn:
            return await schema_version(conn)

    async def close(self) -> None:
        if self.pruner is not None:
            await self.pruner.stop()
            self.pruner = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except ERRORS:  # a hung server must not hang the hub's shutdown
                pool.terminate()

    def for_tenant(self, tenant_id: str) -> PostgreSQLTenantStore:
        from hub.storage.pg_tenant import PostgreSQLTenantStore  # the tenant store imports this module

        return PostgreSQLTenantStore(self, tenant_id)

    async def audit_entries(self, query: AuditQuery, limit: int, offset: int = 0) -> tuple[list[AuditEntry], int]:
        return await pg_audit.select(self, query, limit, offset)

    def iter_audit_entries(self, query: AuditQuery, chunk: int = 500) -> AsyncIterator[list[AuditEntry]]:
        return pg_audit.iterate(self, query, chunk)
