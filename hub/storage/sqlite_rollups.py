"""SQL for the rollups table (migration 004): incremental upserts, rebuilds, reads and pruning.

Every function works on an open connection inside the caller's transaction; the caller commits.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

from hub.storage import raw_tier as raw
from hub.storage.rollups import (
    BY_NAME,
    CLASSES,
    FIVE_MIN,
    MAX_GAP_MS,
    METRICS,
    STATS,
    Bucket,
    Sample,
    aggregate,
    downsample_sql,
    downsampled,
    finer,
    fold,
    rollup_all,
)

RAW = "raw"
_HEAD = ("n", "last_ts", "charged_wh", "discharged_wh")
_STATS = tuple(f"{m}_{s}" for m in METRICS for s in STATS)
_COLUMNS = (*_HEAD, *_STATS)
_INSERT = (
    f"INSERT INTO rollups (battery_pk, class, bucket_start, {', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' * (3 + len(_COLUMNS)))})"
)
# The newer bucket's last values win; a part holding only energy (last_ts NULL) keeps the old ones.
_NEWER = "excluded.last_ts IS NOT NULL AND (last_ts IS NULL OR excluded.last_ts >= last_ts)"


def _merge(column: str) -> str:
    stat = column.rsplit("_", 1)[-1]
    if column in ("n", "charged_wh", "discharged_wh") or stat in ("sum", "count"):
        return f"{column} = {column} + excluded.{column}"
    if stat in ("min", "max"):
        # min(a, NULL) is NULL in SQLite: fall back to whichever side has a value.
        return f"{column} = COALESCE({stat}({column}, excluded.{column}), {column}, excluded.{column})"
    return f"{column} = CASE WHEN {_NEWER} THEN excluded.{column} ELSE {column} END"  # last, last_ts


_UPSERT = f"{_INSERT} ON CONFLICT (battery_pk, class, bucket_start) DO UPDATE SET " + ", ".join(
    _merge(c) for c in _COLUMNS
)
_SELECT_BUCKETS = (
    f"SELECT bucket_start, {', '.join(_COLUMNS)} FROM rollups WHERE battery_pk = ? AND class = ? "
    "AND bucket_start BETWEEN ? AND ? ORDER BY bucket_start LIMIT ?"
)
_DOWNSAMPLE = downsample_sql("?")


class SQLiteSql:
    """The raw tier's view of an aiosqlite connection (``$n`` placeholders read as ``?n``)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        async with self.db.execute(_numbered(sql), args) as cur:
            return list(await cur.fetchall())

    async def execute(self, sql: str, *args: Any) -> int:
        cur = await self.db.execute(_numbered(sql), args)
        return max(cur.rowcount, 0)


@functools.lru_cache(maxsize=64)
def _numbered(sql: str) -> str:
    return re.sub(r"\$(\d+)", r"?\1", sql)


def _params(battery_pk: int, resolution: str, bucket: Bucket) -> tuple[Any, ...]:
    head = (bucket.n, bucket.last_ts, bucket.charged_wh, bucket.discharged_wh)
    return (battery_pk, resolution, bucket.start, *head, *bucket.stat_values())


def _bucket(row: Sequence[Any]) -> Bucket:
    return Bucket.from_values(row[0], row[1:5], row[5:])


async def read_buckets(
    db: aiosqlite.Connection, battery_pk: int, resolution: str, lo: int, hi: int, limit: int = -1
) -> list[Bucket]:
    """Buckets of one class starting in [lo, hi], oldest first."""
    async with db.execute(_SELECT_BUCKETS, (battery_pk, resolution, lo, hi, limit)) as cur:
        return [_bucket(tuple(row)) for row in await cur.fetchall()]


async def downsample(
    db: aiosqlite.Connection, battery_pk: int, resolution: str, span: tuple[int, int], origin: int, width: int
) -> list[Bucket]:
    """Buckets of one class starting in span [lo, hi] merged into groups of ``width`` ms from ``origin``."""
    async with db.execute(_DOWNSAMPLE, (battery_pk, resolution, *span, origin, width)) as cur:
        return downsampled(await cur.fetchall(), origin, width)


async def read_samples(db: aiosqlite.Connection, battery_pk: int, lo: int, hi: int, limit: int = -1) -> list[Sample]:
    """Raw readings in [lo, hi] reduced to their metrics, oldest first."""
    return await raw.samples(SQLiteSql(db), battery_pk, lo, hi, limit)


async def newest_sample(db: aiosqlite.Connection, battery_pk: int) -> Sample | None:
    """The newest raw reading of a battery."""
    return await raw.newest_sample(SQLiteSql(db), battery_pk)


async def raw_bounds(db: aiosqlite.Connection, battery_pk: int) -> tuple[int, int] | None:
    """Oldest and newest raw timestamps of a battery."""
    return await raw.bounds(SQLiteSql(db), battery_pk)


async def oldest(db: aiosqlite.Connection, battery_pk: int) -> dict[str, int]:
    """The oldest timestamp (bucket start for rollups) per table that holds any row of the battery."""
    found: dict[str, int] = {}
    bounds = await raw_bounds(db, battery_pk)
    if bounds is not None:
        found[RAW] = bounds[0]
    for resolution in CLASSES:
        async with db.execute(
            "SELECT MIN(bucket_start) FROM rollups WHERE battery_pk = ? AND class = ?", (battery_pk, resolution.name)
        ) as cur:
            row = await cur.fetchone()
        if row is not None and row[0] is not None:
            found[resolution.name] = int(row[0])
    return found


async def count(db: aiosqlite.Connection, battery_pk: int, resolution: str, lo: int, hi: int) -> int:
    """Rows of a table (``raw`` or a class) in [lo, hi]."""
    if resolution == RAW:
        return await raw.count(SQLiteSql(db), battery_pk, lo, hi)
    sql = "SELECT COUNT(*) FROM rollups WHERE battery_pk = ? AND class = ? AND bucket_start BETWEEN ? AND ?"
    async with db.execute(sql, (battery_pk, resolution, lo, hi)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def add_batch(db: aiosqlite.Connection, battery_pk: int, samples: Sequence[Sample], prev: Sample | None) -> None:
    """Merge newly stored readings (time-ordered, all newer than ``prev``) into every class."""
    params = [
        _params(battery_pk, name, bucket)
        for name, buckets in rollup_all(aggregate(samples, prev)).items()
        for bucket in buckets.values()
    ]
    await db.executemany(_UPSERT, params)


async def baseline(
    db: aiosqlite.Connection, battery_pk: int, cached: Sample | None, first_ts: int
) -> tuple[Sample | None, int | None]:
    """Before inserting readings from ``first_ts`` on: the newest stored reading (``cached`` when
    known) and, only when the new readings do not all follow it, the oldest stored time."""
    prev = cached or await newest_sample(db, battery_pk)
    if prev is None or first_ts > prev.ts:
        return prev, None
    bounds = await raw_bounds(db, battery_pk)
    return (prev, bounds[0]) if bounds else (None, None)


async def roll_up(
    db: aiosqlite.Connection, battery_pk: int, samples: list[Sample], prev: Sample | None, oldest: int | None
) -> None:
    """Update the rollups for readings just inserted, given what :func:`baseline` found before.

    Readings newer than ``prev`` are merged in (the common case). Readings at or before it (late,
    or rewritten after an uncertain commit) make the buckets around them be rebuilt from raw rows,
    except buckets older than every reading stored before that already have rollups: their raw
    readings were pruned, so the new readings are merged into them as they are.
    """
    if prev is None or oldest is None:
        await add_batch(db, battery_pk, samples, prev)
        return
    lo = FIVE_MIN.floor(samples[0].ts - MAX_GAP_MS)
    hi = FIVE_MIN.floor(samples[-1].ts + MAX_GAP_MS) + FIVE_MIN.width_ms
    kept = FIVE_MIN.floor(oldest)
    if lo < kept and await count(db, battery_pk, FIVE_MIN.name, lo, kept - 1):
        await add_batch(db, battery_pk, [s for s in samples if s.ts < kept], None)
        lo = kept
    if lo < hi:
        await rebuild_window(db, battery_pk, lo, hi)


async def _replace(
    db: aiosqlite.Connection, battery_pk: int, resolution: str, lo: int, hi: int, buckets: Iterable[Bucket]
) -> None:
    await db.execute(
        "DELETE FROM rollups WHERE battery_pk = ? AND class = ? AND bucket_start >= ? AND bucket_start < ?",
        (battery_pk, resolution, lo, hi),
    )
    await db.executemany(_INSERT, [_params(battery_pk, resolution, b) for b in buckets])


async def rebuild_window(db: aiosqlite.Connection, battery_pk: int, lo: int, hi: int) -> int:
    """Recompute the 5-minute buckets of [lo, hi) (5-minute aligned) from raw readings, then every
    coarser bucket overlapping it from the finer class. Returns the number of 5-minute buckets."""
    samples = await read_samples(db, battery_pk, lo - MAX_GAP_MS, hi + MAX_GAP_MS)
    buckets = aggregate(samples, None, (lo, hi))
    await _replace(db, battery_pk, FIVE_MIN.name, lo, hi, buckets.values())
    for resolution in CLASSES[1:]:
        source = finer(resolution)
        assert source is not None
        lo, hi = resolution.floor(lo), resolution.ceil(hi)
        parts = await read_buckets(db, battery_pk, source.name, lo, hi - 1)
        await _replace(db, battery_pk, resolution.name, lo, hi, fold(parts, resolution).values())
    return len(buckets)


def rebuild_windows(lo: int, hi: int, days: int = 1) -> list[tuple[int, int]]:
    """[lo, hi) cut into 5-minute aligned windows of at most ``days`` days (rebuilt one at a time)."""
    start, end = FIVE_MIN.floor(lo), FIVE_MIN.ceil(hi)
    step = days * 86_400_000
    return [(s, min(s + step, end)) for s in range(start, end, step)]


async def prune_readings(db: aiosqlite.Connection, battery_pk: int, cutoff: int, chunk: int) -> int:
    """Delete about ``chunk`` of a battery's raw readings older than ``cutoff`` (5-minute aligned,
    so the oldest 5-minute bucket left can still be rebuilt from complete raw readings)."""
    return await raw.prune(SQLiteSql(db), battery_pk, FIVE_MIN.floor(cutoff), chunk)


async def prune_rollups(db: aiosqlite.Connection, battery_pk: int, resolution: str, cutoff: int, chunk: int) -> int:
    """Delete at most ``chunk`` buckets of one class that ended before ``cutoff``."""
    end = BY_NAME[resolution].floor(cutoff)  # a bucket still holding data after the cutoff stays
    cur = await db.execute(
        "DELETE FROM rollups WHERE battery_pk = ? AND class = ? AND bucket_start IN "
        "(SELECT bucket_start FROM rollups WHERE battery_pk = ? AND class = ? AND bucket_start < ? "
        "ORDER BY bucket_start LIMIT ?)",
        (battery_pk, resolution, battery_pk, resolution, end, chunk),
    )
    return max(cur.rowcount, 0)
