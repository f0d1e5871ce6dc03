"""One SQL text for both backends: the small connection adapter the raw tier and rollups run on.

Statements are written once with PostgreSQL's numbered placeholders (``$1``); SQLite reads the
same numbers as ``?1``. An adapter wraps the caller's connection and never opens a transaction
of its own: it runs inside whatever transaction the caller holds.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

import aiosqlite
import asyncpg

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


NO_LIMIT = 2**62  # LIMIT for "no limit": the same text on both backends


class SqlSource(Protocol):
    """A storage backend as the shared stores use it: a reader and a write transaction."""

    def sql_read(self, what: str) -> AbstractAsyncContextManager[Sql]:
        """A connection to read from; driver errors become StorageError where the backend says so."""

    def sql_write(self, what: str) -> AbstractAsyncContextManager[Sql]:
        """A write transaction: committed at the end, rolled back (StorageError) on any error."""


def unique_violation(err: BaseException) -> bool:
    """Whether a failed write (a StorageError wrapping its driver's error) broke a unique key."""
    cause = err.__cause__
    if isinstance(cause, asyncpg.UniqueViolationError):
        return True
    return isinstance(cause, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(cause)


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
