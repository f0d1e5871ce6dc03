"""One SQL text for both backends: the small connection adapter the raw tier and rollups run on.

Statements are written once with PostgreSQL's numbered placeholders (``$1``); SQLite reads the
same numbers as ``?1``. An adapter wraps the caller's connection and never opens a transaction
of its own: it runs inside whatever transaction the caller holds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

import aiosqlite

from hub.storage.records import iso, parse_iso


class Sql(Protocol):
    """A connection of either backend, as the shared storage modules use it."""

    # The two-argument least and greatest functions; both must ignore a NULL argument once wrapped
    # in COALESCE (SQLite's scalar min(a, NULL) is NULL, PostgreSQL's LEAST skips NULLs).
    least: str
    greatest: str
    # Equality that also holds between two NULLs.
    same: str
    # Appended to a SELECT that reads rows about to be changed: locks them where rows can be locked.
    lock_rows: str
    # Appended to an ORDER BY of text: byte order (SQLite's own), whatever the database's locale.
    bytewise: str

    def time(self, value: datetime | None) -> Any:
        """A timestamp as the backend binds it (SQLite keeps ISO 8601 text)."""

    def read_time(self, value: Any) -> datetime | None:
        """A stored timestamp as an aware datetime."""

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        """Every row of a query."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; rows it changed."""

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run a statement once per row of parameters."""


class SQLiteSql:
    """An aiosqlite connection seen through :class:`Sql` (``$n`` placeholders read as ``?n``)."""

    least = "min"
    greatest = "max"
    same = "IS"
    lock_rows = ""  # one writer at a time already
    bytewise = ""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    def time(self, value: datetime | None) -> Any:
        return iso(value)

    def read_time(self, value: Any) -> datetime | None:
        return parse_iso(value)

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        async with self.db.execute(numbered(sql), args) as cur:
            return list(await cur.fetchall())

    async def execute(self, sql: str, *args: Any) -> int:
        cur = await self.db.execute(numbered(sql), args)
        return max(cur.rowcount, 0)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.db.executemany(numbered(sql), rows)


class PgSql:
    """An asyncpg connection seen through :class:`Sql`."""

    least = "LEAST"
    greatest = "GREATEST"
    same = "IS NOT DISTINCT FROM"
    lock_rows = " FOR UPDATE"
    bytewise = ' COLLATE "C"'

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def time(self, value: datetime | None) -> Any:
        return value

    def read_time(self, value: Any) -> datetime | None:
        if value is None or isinstance(value, datetime):  # timestamptz arrives as an aware datetime
            return value
        raise TypeError(f"expected a timestamp, got {type(value).__name__}")

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        return list(await self.conn.fetch(sql, *args))

    async def execute(self, sql: str, *args: Any) -> int:
        return affected(await self.conn.execute(sql, *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if batch:  # asyncpg prepares the statement even for no rows
            await self.conn.executemany(sql, batch)


@functools.lru_cache(maxsize=128)
def numbered(sql: str) -> str:
    """PostgreSQL's ``$n`` placeholders as SQLite's ``?n``."""
    return re.sub(r"\$(\d+)", r"?\1", sql)


def affected(status: str) -> int:
    """Rows of a PostgreSQL command status such as ``DELETE 12`` or ``INSERT 0 1``."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
