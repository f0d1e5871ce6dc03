"""SQLite side of the tenancy store and of the tenant directory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiosqlite

from hub.reading import utc_now
from hub.storage.records import iso
from hub.storage.tenancy import ConflictError, NotFoundError, TenantDirectory, TenantRecord, check_id
from hub.storage.tenancy_query import Dialect, Tx
from hub.storage.tenancy_sql import SqlTenancy

if TYPE_CHECKING:
    from hub.storage.sqlite import SQLiteStorage


def _values(args: tuple[Any, ...]) -> list[Any]:
    return [iso(a) if isinstance(a, datetime) else a for a in args]


class SQLiteTx(Tx):
    """``Tx`` on an aiosqlite connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        async with self.db.execute(sql, _values(args)) as cur:
            return [tuple(row) for row in await cur.fetchall()]

    async def execute(self, sql: str, *args: Any) -> int:
        async with self.db.execute(sql, _values(args)) as cur:
            return int(cur.rowcount)


class SQLiteDialect(Dialect):
    """JSON1 functions; ids compared with IN lists."""

    def custom(self, name: str, kind: str) -> str:
        types = "('integer', 'real')" if kind == "number" else "('text')"
        return f"(CASE WHEN json_type(custom, '$.{name}') IN {types} THEN json_extract(custom, '$.{name}') END)"

    def remove_key(self, name: str) -> str:
        return f"json_remove(custom, '$.{name}')"

    def in_list(self, column: str, values: list[str]) -> tuple[str, list[Any]]:
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)


class SQLiteTenancy(SqlTenancy):
    """Mixed into the SQLite tenant store."""

    storage: SQLiteStorage
    dialect = SQLiteDialect()

    @contextlib.asynccontextmanager
    async def _tx_write(self, what: str) -> AsyncIterator[Tx]:
        # The storage's one write lock already serializes every tree change.
        async with self.storage.transaction(what) as db:
            yield SQLiteTx(db)

    @contextlib.asynccontextmanager
    async def _tx_read(self, what: str) -> AsyncIterator[Tx]:
        yield SQLiteTx(self.storage.db)


class SQLiteTenants(TenantDirectory):
    """Mixed into the SQLite storage."""

    @property
    def _tx(self) -> SQLiteTx:
        return SQLiteTx(self.db)  # type: ignore[attr-defined]

    async def tenants(self) -> list[TenantRecord]:
        rows = await self._tx.fetch("SELECT id, name, created_at FROM tenants ORDER BY id")
        return [TenantRecord(r[0], r[1], datetime.fromisoformat(r[2])) for r in rows]

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        rows = await self._tx.fetch("SELECT id, name, created_at FROM tenants WHERE id = ?", tenant_id)
        return TenantRecord(rows[0][0], rows[0][1], datetime.fromisoformat(rows[0][2])) if rows else None

    async def create_tenant(self, tenant_id: str, name: str) -> TenantRecord:
        check_id(tenant_id, "tenant")
        storage: SQLiteStorage = self  # type: ignore[assignment]
        async with storage.transaction("tenant write") as db:
            tx = SQLiteTx(db)
            if await tx.fetch("SELECT id FROM tenants WHERE id = ?", tenant_id):
                raise ConflictError(f"tenant {tenant_id!r} already exists")
            await tx.execute("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)", tenant_id, name, utc_now())
        found = await self.get_tenant(tenant_id)
        assert found is not None  # committed above
        return found

    async def rename_tenant(self, tenant_id: str, name: str) -> TenantRecord:
        storage: SQLiteStorage = self  # type: ignore[assignment]
        async with storage.transaction("tenant write") as db:
            if not await SQLiteTx(db).execute("UPDATE tenants SET name = ? WHERE id = ?", name, tenant_id):
                raise NotFoundError(f"no tenant {tenant_id!r}")
        found = await self.get_tenant(tenant_id)
        assert found is not None
        return found
