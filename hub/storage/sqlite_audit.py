"""The audit log on SQLite: writing entries, filtered pages and chunked reads for exports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import aiosqlite

from hub.storage.audit import COLUMNS, INSERT_COLUMNS, AuditQuery, decode, dump, utc, where_clause
from hub.storage.base import AuditEntry


def _mark(n: int) -> str:
    return f"?{n}"


def _time(moment: datetime) -> str:
    # Stored as isoformat() of UTC times; ISO text in one offset sorts like the times themselves.
    return utc(moment).isoformat()


def _where(query: AuditQuery) -> tuple[str, list[Any]]:
    return where_clause(query, _mark, _time)


async def insert(db: aiosqlite.Connection, tenant_id: str, entry: AuditEntry) -> None:
    """Append one entry (the caller's transaction commits it)."""
    values = (
        tenant_id,
        utc(entry.timestamp).isoformat(),
        entry.actor,
        entry.user_id,
        entry.source_ip,
        entry.action,
        entry.target,
        json.dumps(entry.request, default=str),
        entry.result,
        json.dumps(entry.details, default=str),
        entry.request_id,
        dump(entry.before),
        dump(entry.after),
    )
    marks = ", ".join("?" * len(INSERT_COLUMNS))
    await db.execute(f"INSERT INTO audit_log ({', '.join(INSERT_COLUMNS)}) VALUES ({marks})", values)


def _entries(rows: Any) -> list[AuditEntry]:
    return [AuditEntry(**decode(row, utc(datetime.fromisoformat(row[2])))) for row in rows]


async def select(db: aiosqlite.Connection, query: AuditQuery, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    """One page of matching entries, newest first, and how many match in all."""
    where, args = _where(query)
    async with db.execute(f"SELECT COUNT(*) FROM audit_log WHERE {where}", args) as cur:
        total = int((await cur.fetchone() or (0,))[0])
    n = len(args)
    async with db.execute(
        f"SELECT {COLUMNS} FROM audit_log WHERE {where} ORDER BY id DESC LIMIT ?{n + 1} OFFSET ?{n + 2}",
        [*args, limit, offset],
    ) as cur:
        rows = await cur.fetchall()
    return _entries(rows), total


async def iterate(db: aiosqlite.Connection, query: AuditQuery, chunk: int) -> AsyncIterator[list[AuditEntry]]:
    """Matching entries newest first, ``chunk`` per query (keyset paging: memory stays bounded and
    entries written meanwhile are neither skipped nor repeated)."""
    page = query
    while True:
        where, args = _where(page)
        async with db.execute(
            f"SELECT {COLUMNS} FROM audit_log WHERE {where} ORDER BY id DESC LIMIT ?{len(args) + 1}",
            [*args, chunk],
        ) as cur:
            entries = _entries(await cur.fetchall())
        if entries:
            yield entries
        if len(entries) < chunk:
            return
        page = replace(query, before_id=entries[-1].id)
