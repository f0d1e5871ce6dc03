"""A tenant store's reads of a battery's series (readings and rollups), the same on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TypeVar

from hub.reading import Reading
from hub.storage import raw_tier, rollup_tables
from hub.storage.packing import to_millis
from hub.storage.rollup_tables import RAW
from hub.storage.rollups import BY_NAME, Bucket, Sample, from_millis
from hub.storage.sql import NO_LIMIT, Sql

T = TypeVar("T")


def span_of(resolution: str, start: datetime | None, end: datetime | None) -> tuple[int, int]:
    """[lo, hi] in ms; for a rollup class lo is the start of the bucket holding ``start``."""
    lo = to_millis(start) if start else 0
    if resolution != RAW:
        lo = BY_NAME[resolution].floor(lo)  # KeyError for an unknown class
    return lo, to_millis(end) if end else NO_LIMIT  # later than any reading


class SeriesReads:
    """History, latest reading, counts, bounds, samples and buckets of one tenant's battery.

    A backend gives the battery's key (``_pk``, None for a battery not in the tenant) and a
    connection to read from (``_reader``): SQLite its one connection, PostgreSQL a read-only
    snapshot, so rows and chunks are seen as of one moment while the compactor moves readings from
    one table to the other. Long series are read in keyset pages, each from a reader of its own,
    so no cursor or snapshot stays open while the caller works on a page.
    """

    async def _pk(self, battery_id: str) -> int | None:
        raise NotImplementedError

    def _reader(self, what: str) -> AbstractAsyncContextManager[Sql]:
        raise NotImplementedError

    async def latest(self, battery_id: str) -> Reading | None:
        rows = await self._newest_first(battery_id, None, None, 1)
        return rows[0] if rows else None

    async def history(self, battery_id: str, start: datetime | None, end: datetime | None, limit: int) -> list[Reading]:
        return list(reversed(await self._newest_first(battery_id, start, end, limit)))

    async def _newest_first(
        self, battery_id: str, start: datetime | None, end: datetime | None, limit: int
    ) -> list[Reading]:
        """The newest ``limit`` readings in [start, end], newest first."""
        pk = await self._pk(battery_id)
        if pk is None:
            return []
        async with self._reader("history read") as db:
            return await raw_tier.newest_readings(db, pk, battery_id, start, end, limit)

    async def data_start(self, battery_id: str) -> dict[str, datetime]:
        pk = await self._pk(battery_id)
        if pk is None:
            return {}
        async with self._reader("history read") as db:
            found = await rollup_tables.oldest(db, pk)
        return {name: from_millis(ms) for name, ms in found.items()}

    async def count_rows(self, battery_id: str, resolution: str, start: datetime | None, end: datetime | None) -> int:
        pk = await self._pk(battery_id)
        if pk is None:
            return 0
        lo, hi = span_of(resolution, start, end)
        async with self._reader("history read") as db:
            return await rollup_tables.count(db, pk, resolution, lo, hi)

    def iter_samples(
        self, battery_id: str, start: datetime | None, end: datetime | None, chunk: int = 5000
    ) -> AsyncIterator[list[Sample]]:
        def read(db: Sql, pk: int, lo: int, hi: int) -> Awaitable[list[Sample]]:
            return raw_tier.samples(db, pk, lo, hi, chunk)

        return self._pages(battery_id, (RAW, start, end), chunk, read, lambda s: s.ts)

    def iter_buckets(
        self, battery_id: str, resolution: str, start: datetime | None, end: datetime | None, chunk: int = 5000
    ) -> AsyncIterator[list[Bucket]]:
        def read(db: Sql, pk: int, lo: int, hi: int) -> Awaitable[list[Bucket]]:
            return rollup_tables.read_buckets(db, pk, resolution, lo, hi, chunk)

        return self._pages(battery_id, (resolution, start, end), chunk, read, lambda b: b.start)

    async def _pages(
        self,
        battery_id: str,
        asked: tuple[str, datetime | None, datetime | None],
        chunk: int,
        read: Callable[[Sql, int, int, int], Awaitable[list[T]]],
        time_of: Callable[[T], int],
    ) -> AsyncIterator[list[T]]:
        """Pages of at most ``chunk`` items of (resolution, start, end), each read from the time after
        the previous page's last."""
        pk = await self._pk(battery_id)
        lo, hi = span_of(*asked)
        while pk is not None and lo <= hi:
            async with self._reader("history read") as db:
                page = await read(db, pk, lo, hi)
            if page:
                yield page
            if len(page) < chunk:
                return
            lo = time_of(page[-1]) + 1

    async def downsample_buckets(
        self, battery_id: str, resolution: str, span: tuple[datetime, datetime], origin: int, width: int
    ) -> list[Bucket]:
        """A class's buckets in span merged, in the database, into groups of ``width`` ms from ``origin``."""
        pk = await self._pk(battery_id)
        if pk is None:
            return []
        bounds = span_of(resolution, *span)
        async with self._reader("history read") as db:
            return await rollup_tables.downsample(db, pk, resolution, bounds, origin, width)
