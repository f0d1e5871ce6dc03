"""SQLite backend (aiosqlite): one file, WAL, numbered migrations."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from hub.reading import Reading, utc_now
from hub.storage.base import AuditEntry, BatteryRecord, Storage, StorageError, TenantStore
from hub.storage.packing import COLUMNS, from_row, pack_rows, to_millis

_MIGRATIONS_PACKAGE = "hub.storage.migrations.sqlite"
_SELECT = ", ".join(f"r.{c}" for c in COLUMNS)
_INSERT = (
    f"INSERT OR REPLACE INTO readings (battery_pk, {', '.join(COLUMNS)}) "
    f"VALUES ((SELECT pk FROM batteries WHERE tenant_id = ? AND id = ?), {', '.join('?' * len(COLUMNS))})"
)


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, in order."""
    found = []
    for entry in resources.files(_MIGRATIONS_PACKAGE).iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name[:-4], entry.read_text(encoding="utf-8")))
    return sorted(found)


class SQLiteStorage(Storage):
    """All data in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise StorageError("storage is not open")
        return self._db

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        # WAL lets the API read while the recorder writes; NORMAL is durable across app crashes.
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=NORMAL")
        await self.db.execute("PRAGMA foreign_keys=ON")
        await self._migrate()

    async def _migrate(self) -> None:
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

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    def for_tenant(self, tenant_id: str) -> SQLiteTenantStore:
        return SQLiteTenantStore(self, tenant_id)


class SQLiteTenantStore(TenantStore):
    """One tenant's view of a SQLite database."""

    def __init__(self, storage: SQLiteStorage, tenant_id: str) -> None:
        self.storage = storage
        self.tenant_id = tenant_id

    async def ensure_battery(self, battery_id: str, name: str, driver: str) -> None:
        db = self.storage.db
        await db.execute(
            "INSERT INTO batteries (tenant_id, id, name, driver, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, driver = excluded.driver",
            (self.tenant_id, battery_id, name, driver, utc_now().isoformat()),
        )
        await db.commit()

    async def batteries(self) -> list[BatteryRecord]:
        async with self.storage.db.execute(
            "SELECT id, name, driver FROM batteries WHERE tenant_id = ? ORDER BY id", (self.tenant_id,)
        ) as cur:
            return [BatteryRecord(*row) for row in await cur.fetchall()]

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        db = self.storage.db
        rows = pack_rows(self.tenant_id, readings)
        try:
            await db.executemany(_INSERT, rows)
            await db.commit()
        except sqlite3.Error as err:
            await db.rollback()
            raise StorageError(f"SQLite write failed: {err}") from err

    async def load_state(self, battery_id: str, key: str) -> dict[str, Any] | None:
        async with self.storage.db.execute(
            "SELECT value FROM battery_state WHERE tenant_id = ? AND battery_id = ? AND key = ?",
            (self.tenant_id, battery_id, key),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else dict(json.loads(row[0]))

    async def save_state(self, battery_id: str, key: str, value: dict[str, Any]) -> None:
        db = self.storage.db
        try:
            await db.execute(
                "INSERT INTO battery_state (tenant_id, battery_id, key, value, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, battery_id, key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (self.tenant_id, battery_id, key, json.dumps(value), utc_now().isoformat()),
            )
            await db.commit()
        except sqlite3.Error as err:
            await db.rollback()
            raise StorageError(f"SQLite state write failed: {err}") from err

    async def add_audit(self, entry: AuditEntry) -> None:
        db = self.storage.db
        try:
            await db.execute(
                "INSERT INTO audit_log (tenant_id, ts, actor, source_ip, action, target, request, result, details) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.tenant_id,
                    entry.timestamp.isoformat(),
                    entry.actor,
                    entry.source_ip,
                    entry.action,
                    entry.target,
                    json.dumps(entry.request),
                    entry.result,
                    json.dumps(entry.details, default=str),
                ),
            )
            await db.commit()
        except sqlite3.Error as err:
            await db.rollback()
            raise StorageError(f"SQLite audit write failed: {err}") from err

    async def audit(self, limit: int, offset: int = 0, target: str | None = None) -> tuple[list[AuditEntry], int]:
        where, args = "tenant_id = ?", [self.tenant_id]
        if target is not None:
            where, args = where + " AND target = ?", [*args, target]
        db = self.storage.db
        async with db.execute(f"SELECT COUNT(*) FROM audit_log WHERE {where}", args) as cur:
            total = int((await cur.fetchone() or (0,))[0])
        async with db.execute(
            "SELECT ts, actor, source_ip, action, target, request, result, details FROM audit_log "
            f"WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ) as cur:
            rows = await cur.fetchall()
        entries = [
            AuditEntry(
                actor=r[1],
                source_ip=r[2],
                action=r[3],
                target=r[4],
                request=json.loads(r[5] or "{}"),
                result=r[6],
                details=json.loads(r[7] or "{}"),
                timestamp=datetime.fromisoformat(r[0]),
            )
            for r in rows
        ]
        return entries, total

    async def latest(self, battery_id: str) -> Reading | None:
        rows = await self._select(battery_id, None, None, 1)
        return rows[0] if rows else None

    async def history(self, battery_id: str, start: datetime | None, end: datetime | None, limit: int) -> list[Reading]:
        return list(reversed(await self._select(battery_id, start, end, limit)))

    async def _select(self, battery_id: str, start: datetime | None, end: datetime | None, limit: int) -> list[Reading]:
        lo = to_millis(start) if start else 0
        hi = to_millis(end) if end else 2**62
        async with self.storage.db.execute(
            f"SELECT {_SELECT} FROM readings r JOIN batteries b ON b.pk = r.battery_pk "
            "WHERE b.tenant_id = ? AND b.id = ? AND r.ts BETWEEN ? AND ? ORDER BY r.ts DESC LIMIT ?",
            (self.tenant_id, battery_id, lo, hi, limit),
        ) as cur:
            return [from_row(battery_id, tuple(row)) for row in await cur.fetchall()]
