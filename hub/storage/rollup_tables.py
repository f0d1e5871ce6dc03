"""The rollups table (migration 004) on both backends: incremental upserts, rebuilds, reads, pruning.

Every function runs on a :class:`~hub.storage.sql.Sql` adapter of the caller's connection, inside
the caller's transaction; the caller commits. The upsert's merge rules are those of
``Bucket.merge``, so merging in the database gives the buckets merging in Python would.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

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
    downsampled,
    finer,
    fold,
    rollup_all,
)
from hub.storage.sql import NO_LIMIT, Sql

RAW = "raw"
_HEAD = ("n", "last_ts", "charged_wh", "discharged_wh")
_COLUMNS = (*_HEAD, *(f"{m}_{s}" for m in METRICS for s in STATS))
_INSERT = (
    f"INSERT INTO rollups AS r (battery_pk, class, bucket_start, {', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, 4 + len(_COLUMNS)))})"
)
# The newer bucket's last values win; a part holding only energy (last_ts NULL) keeps the old ones.
_NEWER = "excluded.last_ts IS NOT NULL AND (r.last_ts IS NULL OR excluded.last_ts >= r.last_ts)"
_SELECT_BUCKETS = (
    f"SELECT bucket_start, {', '.join(_COLUMNS)} FROM rollups WHERE battery_pk = $1 AND class = $2 "
    "AND bucket_start BETWEEN $3 AND $4 ORDER BY bucket_start LIMIT $5"
)
# One MIN per class, each answered from the key; GROUP BY class would read every bucket.
_OLDEST = "SELECT " + ", ".join(
    f"(SELECT MIN(bucket_start) FROM rollups WHERE battery_pk = $1 AND class = '{c.name}')" for c in CLASSES
)
_COUNT = "SELECT COUNT(*) FROM rollups WHERE battery_pk = $1 AND class = $2 AND bucket_start BETWEEN $3 AND $4"
_DELETE_RANGE = "DELETE FROM rollups WHERE battery_pk = $1 AND class = $2 AND bucket_start >= $3 AND bucket_start < $4"
_PRUNE = (
    "DELETE FROM rollups WHERE battery_pk = $1 AND class = $2 AND bucket_start IN "
    "(SELECT bucket_start FROM rollups WHERE battery_pk = $1 AND class = $2 AND bucket_start < $3 "
    "ORDER BY bucket_start LIMIT $4)"
)


def _downsample_sql() -> str:
    """SQL merging one class's buckets into equal-width groups, as ``Bucket.merge`` would, in the
    database: only the groups travel, not every bucket. Parameters: $1 battery_pk, $2 class, $3 lo,
    $4 hi (bucket starts, inclusive), $5 origin, $6 width (ms). Rows: group index, then the columns of
    :meth:`Bucket.from_values`. The last values come from the group's newest bucket holding a
    reading (buckets do not overlap, so that one also holds the newest ``last_ts``).
    """
    stats = {"min": "MIN", "max": "MAX", "sum": "SUM", "count": "SUM"}
    grouped = ["SUM(n) AS n, MAX(last_ts) AS last_ts, SUM(charged_wh) AS ch, SUM(discharged_wh) AS dis"]
    picked = ["g.n", "g.last_ts", "g.ch", "g.dis"]
    for metric in METRICS:
        for stat in STATS:
            column = f"{metric}_{stat}"
            if stat == "last":
                picked.append(f"l.{column}")
            else:
                grouped.append(f"{stats[stat]}({column}) AS {column}")
                picked.append(f"g.{column}")
    p = "$"
    return (
        f"WITH g AS (SELECT (bucket_start - {p}5) / {p}6 AS k, {', '.join(grouped)}, "
        "MAX(CASE WHEN last_ts IS NOT NULL THEN bucket_start END) AS newest "
        f"FROM rollups WHERE battery_pk = {p}1 AND class = {p}2 AND bucket_start BETWEEN {p}3 AND {p}4 GROUP BY k) "
        f"SELECT g.k, {', '.join(picked)} FROM g LEFT JOIN rollups l "
        f"ON l.battery_pk = {p}1 AND l.class = {p}2 AND l.bucket_start = g.newest ORDER BY g.k"
    )


_DOWNSAMPLE = _downsample_sql()


def _merge(column: str, least: str, greatest: str) -> str:
    stat = column.rsplit("_", 1)[-1]
    if column in ("n", "charged_wh", "discharged_wh") or stat in ("sum", "count"):
        return f"{column} = r.{column} + excluded.{column}"
    if stat in ("min", "max"):
        # Whichever side has a value wins, as in Bucket.merge (SQLite's min(a, NULL) is NULL).
        pick = least if stat == "min" else greatest
        return f"{column} = COALESCE({pick}(r.{column}, excluded.{column}), r.{column}, excluded.{column})"
    return f"{column} = CASE WHEN {_NEWER} THEN excluded.{column} ELSE r.{column} END"  # last, last_ts


@functools.cache
def _upsert(least: str, greatest: str) -> str:
    merges = ", ".join(_merge(c, least, greatest) for c in _COLUMNS)
    return f"{_INSERT} ON CONFLICT (battery_pk, class, bucket_start) DO UPDATE SET {merges}"


def _params(battery_pk: int, resolution: str, bucket: Bucket) -> tuple[object, ...]:
    head = (bucket.n, bucket.last_ts, bucket.charged_wh, bucket.discharged_wh)
    return (battery_pk, resolution, bucket.start, *head, *bucket.stat_values())


async def read_buckets(
    db: Sql, battery_pk: int, resolution: str, lo: int, hi: int, limit: int | None = None
) -> list[Bucket]:
    """Buckets of one class starting in [lo, hi], oldest first."""
    rows = await db.fetch(_SELECT_BUCKETS, battery_pk, resolution, lo, hi, NO_LIMIT if limit is None else limit)
    return [Bucket.from_values(row[0], row[1:5], row[5:]) for row in map(tuple, rows)]


async def downsample(
    db: Sql, battery_pk: int, resolution: str, span: tuple[int, int], origin: int, width: int
) -> list[Bucket]:
    """Buckets of one class starting in span [lo, hi] merged into groups of ``width`` ms from ``origin``."""
    return downsampled(await db.fetch(_DOWNSAMPLE, battery_pk, resolution, *span, origin, width), origin, width)


async def oldest(db: Sql, battery_pk: int) -> dict[str, int]:
    """The oldest timestamp (bucket start for rollups) per table that holds any row of the battery."""
    found: dict[str, int] = {}
    bounds = await raw.bounds(db, battery_pk)
    if bounds is not None:
        found[RAW] = bounds[0]
    (row,) = await db.fetch(_OLDEST, battery_pk)
    found.update((c.name, int(start)) for c, start in zip(CLASSES, row, strict=True) if start is not None)
    return found


async def count(db: Sql, battery_pk: int, resolution: str, lo: int, hi: int) -> int:
    """Rows of a table (``raw`` or a class) in [lo, hi]."""
    if resolution == RAW:
        return await raw.count(db, battery_pk, lo, hi)
    (row,) = await db.fetch(_COUNT, battery_pk, resolution, lo, hi)
    return int(row[0])


async def add_batch(db: Sql, battery_pk: int, samples: Sequence[Sample], prev: Sample | None) -> None:
    """Merge newly stored readings (time-ordered, all newer than ``prev``) into every class."""
    params = [
        _params(battery_pk, name, bucket)
        for name, buckets in rollup_all(aggregate(samples, prev)).items()
        for bucket in buckets.values()
    ]
    await db.executemany(_upsert(db.least, db.greatest), params)


async def baseline(
    db: Sql, battery_pk: int, first_ts: int, cached: Sample | None = None
) -> tuple[Sample | None, int | None]:
    """Before inserting readings from ``first_ts`` on: the newest stored reading (``cached`` when the
    caller knows it; PostgreSQL reads it every time, under the battery's lock, as another hub may
    have written) and, only when the new readings do not all follow it, the oldest stored time."""
    prev = cached or await raw.newest_sample(db, battery_pk)
    if prev is None or first_ts > prev.ts:
        return prev, None
    bounds = await raw.bounds(db, battery_pk)
    return (prev, bounds[0]) if bounds else (None, None)


async def roll_up(db: Sql, battery_pk: int, samples: list[Sample], prev: Sample | None, oldest: int | None) -> None:
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


async def _replace(db: Sql, battery_pk: int, resolution: str, lo: int, hi: int, buckets: Iterable[Bucket]) -> None:
    await db.execute(_DELETE_RANGE, battery_pk, resolution, lo, hi)
    await db.executemany(_INSERT, [_params(battery_pk, resolution, b) for b in buckets])


async def rebuild_window(db: Sql, battery_pk: int, lo: int, hi: int) -> int:
    """Recompute the 5-minute buckets of [lo, hi) (5-minute aligned) from raw readings, then every
    coarser bucket overlapping it from the finer class. Returns the number of 5-minute buckets."""
    samples = await raw.samples(db, battery_pk, lo - MAX_GAP_MS, hi + MAX_GAP_MS)
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


async def prune_readings(db: Sql, battery_pk: int, cutoff: int, chunk: int) -> int:
    """Delete about ``chunk`` of a battery's raw readings older than ``cutoff`` (5-minute aligned,
    so the oldest 5-minute bucket left can still be rebuilt from complete raw readings)."""
    return await raw.prune(db, battery_pk, FIVE_MIN.floor(cutoff), chunk)


async def prune_rollups(db: Sql, battery_pk: int, resolution: str, cutoff: int, chunk: int) -> int:
    """Delete at most ``chunk`` buckets of one class that ended before ``cutoff``."""
    # A bucket still holding data after the cutoff stays.
    return await db.execute(_PRUNE, battery_pk, resolution, BY_NAME[resolution].floor(cutoff), chunk)
