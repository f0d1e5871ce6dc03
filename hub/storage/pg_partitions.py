"""Monthly partitions of the PostgreSQL readings table: created on demand, dropped once expired."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from hub.storage.pg_schema import lock_name, quote
from hub.storage.rollups import BY_NAME, from_millis

MONTH = BY_NAME["1mo"]
_BOUNDS = re.compile(r"FOR VALUES FROM \('(-?\d+)'\) TO \('(-?\d+)'\)")
_LIST = (
    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
    "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1) ORDER BY c.relname"
)


def month_of(ts: int) -> int:
    """Start (ms) of the calendar month (UTC) holding ``ts``: the partition it belongs in."""
    return MONTH.floor(ts)


def partition_name(month: int) -> str:
    """``readings_y2024m07``; years before 1000 keep four digits."""
    moment = from_millis(month)
    return f"readings_y{moment.year:04d}m{moment.month:02d}"


class Partitions:
    """The months of readings that have a partition, as far as this storage knows.

    The set is loaded at open and kept up to date by this storage; another hub sharing the database
    may drop a partition meanwhile, so a write that finds none calls :meth:`forget` and retries.
    """

    def __init__(self) -> None:
        self.schema = "public"
        self.known: set[int] = set()

    @property
    def parent(self) -> str:
        """The readings table, schema-qualified."""
        return f"{quote(self.schema)}.readings"

    async def load(self, conn: Any, schema: str) -> None:
        """Read which months have a partition."""
        self.schema = schema
        self.known = {month for _, lo, hi in await self.listing(conn) for month in _months(lo, hi)}

    async def listing(self, conn: Any) -> list[tuple[str, int, int]]:
        """(name, lo, hi) of every range partition of readings (a DEFAULT one is left out)."""
        found = []
        for name, bound in await conn.fetch(_LIST, self.parent):
            match = _BOUNDS.fullmatch(str(bound))
            if match:
                found.append((str(name), int(match.group(1)), int(match.group(2))))
        return found

    def missing(self, stamps: Iterable[int]) -> list[int]:
        """Months of ``stamps`` (ms) without a known partition."""
        return sorted({month_of(ts) for ts in stamps} - self.known)

    def forget(self, months: Iterable[int]) -> None:
        """Stop assuming these months have a partition (another hub may have dropped one)."""
        self.known -= set(months)

    async def create(self, conn: Any, months: Iterable[int]) -> None:
        """Create the partitions of ``months`` that do not exist yet, in the caller's transaction.

        The lock makes hubs creating the same month one after the other; the second finds it there.
        """
        wanted = sorted(set(months))
        if not wanted:
            return
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_name(self.schema, "partitions"))
        existing = {month for _, lo, hi in await self.listing(conn) for month in _months(lo, hi)}
        for month in wanted:
            if month not in existing:
                table = f"{quote(self.schema)}.{quote(partition_name(month))}"
                bounds = f"FROM ({month}) TO ({MONTH.step(month)})"
                await conn.execute(f"CREATE TABLE {table} PARTITION OF {self.parent} FOR VALUES {bounds}")
        self.known |= existing | set(wanted)

    async def drop_expired(self, conn: Any, cutoff: int) -> int:
        """Drop the partitions holding only readings before ``cutoff``, in the caller's transaction;
        returns the readings they held."""
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_name(self.schema, "partitions"))
        dropped = 0
        for name, lo, hi in await self.listing(conn):
            if hi <= cutoff:
                table = f"{quote(self.schema)}.{quote(name)}"
                dropped += int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}"))
                await conn.execute(f"DROP TABLE {table}")
                self.forget(_months(lo, hi))
        return dropped


def _months(lo: int, hi: int) -> list[int]:
    """Month starts of the months lying wholly inside [lo, hi)."""
    months, month = [], MONTH.ceil(lo)
    while MONTH.step(month) <= hi:
        months.append(month)
        month = MONTH.step(month)
    return months
