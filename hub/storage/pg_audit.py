"""The audit log on PostgreSQL: writing entries, filtered pages and chunked reads for exports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hub.storage.audit import COLUMNS, INSERT_COLUMNS, AuditQuery, decode, dump, utc, where_clause
from hub.storage.base import AuditEntry

if TYPE_CHECKING:
    from hub.storage.postgres import PostgreSQLStorage


def _mark(n: int) -> str:
    return f"${n}"


def _where(query: AuditQuery) -> tuple[str, list[Any]]:
    return where_clause(query, _mark, utc)


async def insert(storage: PostgreSQLStorage, tenant_id: str, entry: AuditEntry) -> None:
    """Append one entry, committed before returning."""
    marks = ", ".join(f"${n}" for n in range(1, len(INSERT_COLUMNS) + 1))
    async with storage.transaction("audit write") as conn:
        await conn.execute(
            f"INSERT INTO audit_log ({', '.join(INSERT_COLUMNS)}) VALUES ({marks})",
            tenant_id,
            utc(entry.timestamp),
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


def _entries(rows: list[Any]) -> list[AuditEntry]:
    return [AuditEntry(**decode(row, utc(row[2]))) for row in rows]


async def select(
    storage: PostgreSQLStorage, query: AuditQuery, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """One page of matching entries, newest first, and how many match in all."""
    where, args = _where(query)
    total = await storage.fetchval("audit read", f"SELECT COUNT(*) FROM audit_log WHERE {where}", *args)
    n = len(args)
    rows = await storage.fetch(
        "audit read",
        f"SELECT {COLUMNS} FROM audit_log WHERE {where} ORDER BY id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        limit,
        offset,
    )
    return _entries(rows), int(total)


async def iterate(storage: PostgreSQLStorage, query: AuditQuery, chunk: int) -> AsyncIterator[list[AuditEntry]]:
    """Matching entries newest first, ``chunk`` per query (keyset paging, so memory stays bounded and
    no pooled connection is held while the caller sends a chunk)."""
    page = query
    while True:
        where, args = _where(page)
        rows = await storage.fetch(
            "audit read",
            f"SELECT {COLUMNS} FROM audit_log WHERE {where} ORDER BY id DESC LIMIT ${len(args) + 1}",
            *args,
            chunk,
        )
        entries = _entries(rows)
        if entries:
            yield entries
        if len(entries) < chunk:
            return
        page = replace(query, before_id=entries[-1].id)
