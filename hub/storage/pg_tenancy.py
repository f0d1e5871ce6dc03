"""PostgreSQL side of the tenancy store and of the tenant directory."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from hub.reading import utc_now
from hub.storage.pg_schema import lock_name
from hub.storage.tenancy import ConflictError, NotFoundError, TenantDirectory, TenantRecord, check_id
from hub.storage.tenancy_query import Dialect, Tx
from hub.storage.tenancy_sql import SqlTenancy

if TYPE_CHECKING:
    from hub.storage.postgres import PostgreSQLStorage

_MARK = re.compile(r"\?")


def numbered(sql: str) -> str:
    """``?`` placeholders as ``$1, $2...`` (the tenancy SQL never holds a literal question mark)."""
    numbers = itertools.count(1)
    return _MARK.sub(lambda _: f"${next(numbers)}", sql)


class PgTx(Tx):
    """``Tx`` on an asyncpg connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.conn.fetch(numbered(sql), *args)]

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self.conn.execute(numbered(sql), *args)
        return int(str(status).rsplit(" ", 1)[-1])  # "UPDATE 3", "INSERT 0 1"


class PgDialect(Dialect):
    """jsonb operators on the text column; byte-order text sorting, as SQLite sorts."""

    collate = ' COLLATE "C"'

    def custom(self, name: str, kind: str) -> str:
        if kind == "number":
            return (
                f"(CASE WHEN jsonb_typeof(custom::jsonb -> '{name}') = 'number' "
                f"THEN (custom::jsonb ->> '{name}')::double precision END)"
            )
        return f"(CASE WHEN jsonb_typeof(custom::jsonb -> '{name}') = 'string' THEN custom::jsonb ->> '{name}' END)"

    def remove_key(self, name: str) -> str:
        return f"(custom::jsonb - '{name}')::text"

    def in_list(self, column: str, values: list[str]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?::text[])", [list(values)]


class PgTenancy(SqlTenancy):
    """Mixed into the PostgreSQL tenant store."""

    storage: PostgreSQLStorage
    dialect = PgDialect()

    @contextlib.asynccontextmanager
    async def _tx_write(self, what: str) -> AsyncIterator[Tx]:
        async with self.storage.transaction(what) as conn:
            # One tree write per tenant at a time, across hubs: two concurrent moves cannot make a cycle.
            key = lock_name(self.storage.schema, f"tenancy:{self.tenant_id}")
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", key)
            yield PgTx(conn)

    @contextlib.asynccontextmanager
    async def _tx_read(self, what: str) -> AsyncIterator[Tx]:
        async with self.storage.connection(what) as conn:
            yield PgTx(conn)


class PgTenants(TenantDirectory):
    """Mixed into the PostgreSQL storage."""

    async def _fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        storage: PostgreSQLStorage = self  # type: ignore[assignment]
        async with storage.connection("tenant read") as conn:
            return await PgTx(conn).fetch(sql, *args)

    async def tenants(self) -> list[TenantRecord]:
        rows = await self._fetch('SELECT id, name, created_at FROM tenants ORDER BY id COLLATE "C"')
        return [TenantRecord(*r) for r in rows]

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        rows = await self._fetch("SELECT id, name, created_at FROM tenants WHERE id = ?", tenant_id)
        return TenantRecord(*rows[0]) if rows else None

    async def create_tenant(self, tenant_id: str, name: str) -> TenantRecord:
        check_id(tenant_id, "tenant")
        storage: PostgreSQLStorage = self  # type: ignore[assignment]
        async with storage.transaction("tenant write") as conn:
            done = await PgTx(conn).execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                tenant_id,
                name,
                utc_now(),
            )
        if not done:
            raise ConflictError(f"tenant {tenant_id!r} already exists")
        found = await self.get_tenant(tenant_id)
        assert found is not None  # committed above
        return found

    async def rename_tenant(self, tenant_id: str, name: str) -> TenantRecord:
        storage: PostgreSQLStorage = self  # type: ignore[assignment]
        async with storage.transaction("tenant write") as conn:
            if not await PgTx(conn).execute("UPDATE tenants SET name = ? WHERE id = ?", name, tenant_id):
                raise NotFoundError(f"no tenant {tenant_id!r}")
        found = await self.get_tenant(tenant_id)
        assert found is not None
        return found
