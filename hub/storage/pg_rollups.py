"""PostgreSQL SQL for the rollups table: the same upserts, rebuilds, reads and pruning as SQLite's.

Every function works on a connection inside the caller's transaction, as ``sqlite_rollups`` does
(whose pure helper ``rebuild_windows`` is shared), and must give the same
buckets: the merge rules of the upsert are the ones of ``Bucket.merge``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

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
from hub.storage.sqlite_rollups import RAW

_HEAD = ("n", "last_ts", "charged_wh", "discharged_wh")
_COLUMNS = (*_HEAD, *(f"{m}_{s}" for m in METRICS for s in STATS))
_INSERT = (
    f"INSERT INTO rollups AS r (battery_pk, class, bucket_start, {', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, 4 + len(_COLUMNS)))})"
)
# The newer bucket's last values win; a part holding only energy (last_ts NULL) keeps the old ones.
_NEWER = "EXCLUDED.last_ts IS NOT NULL AND (r.last_ts IS NULL OR EXCLUDED.last_ts >= r.last_ts)"


def _merge(column: str) -> str:
    stat = column.rsplit("_", 1)[-1]
    if column in ("n", "charged_wh", "discharged_wh") or stat in ("sum", "count"):
        return f"{column} = r.{column} + EXCLUDED.{column}"
    if stat in ("min", "max"):
        # LEAST / GREATEST skip NULLs: whichever side has a value wins, as in Bucket.merge.
        return f"{column} = {'LEAST' if stat == 'min' else 'GREATEST'}(r.{column}, EXCLUDED.{column})"
    return f"{column} = CASE WHEN {_NEWER} THEN EXCLUDED.{column} ELSE r.{column} END"  # last, last_ts


_UPSERT = f"{_INSERT} ON CONFLICT (battery_pk, class, bucket_start) DO UPDATE SET " + ", ".join(
    _merge(c) for c in _COLUMNS
)
_SELECT_BUCKETS = (
    f"SELECT bucket_start, {', '.join(_COLUMNS)} FROM rollups WHERE battery_pk = $1 AND class = $2 "
    "AND bucket_start BETWEEN $3 AND $4 ORDER BY bucket_start LIMIT $5"
)
_OLDEST = "SELECT " + ", ".join(
    f"(SELECT MIN(bucket_start) FROM rollups WHERE battery_pk = $1 AND class = '{c.name}')" for c in CLASSES
)
_DOWNSAMPLE = downsample_sql("$")


def _params(battery_pk: int, resolution: str, bucket: Bucket) -> tuple[Any, ...]:
    head = (bucket.n, bucket.last_ts, bucket.charged_wh, bucket.discharged_wh)
    return (battery_pk, resolution, bucket.start, *head, *bucket.stat_values())


async def read_buckets(
    conn: Any, battery_pk: int, resolution: str, lo: int, hi: int, limit: int | None = None
) -> list[Bucket]:
    """Buckets of one class starting in [lo, hi], oldest first."""
    rows = [tuple(row) for row in await conn.fetch(_SELECT_BUCKETS, battery_pk, resolution, lo, hi, limit)]
    return [Bucket.from_values(row[0], row[1:5], row[5:]) for row in rows]


async def downsample(
    conn: Any, battery_pk: int, resolution: str, span: tuple[int, int], origin: int, width: int
) -> list[Bucket]:
    """Buckets of one class starting in span [lo, hi] merged into groups of ``width`` ms from ``origin``."""
    return downsampled(await conn.fetch(_DOWNSAMPLE, battery_pk, resolution, *span, origin, width), origin, width)


class PgSql:
    """The raw tier's view of an asyncpg connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]:
        return list(await self.conn.fetch(sql, *args))

    async def execute(self, sql: str, *args: Any) -> int:
        return affected(await self.conn.execute(sql, *args))


async def read_samples(conn: Any, battery_pk: int, lo: int, hi: int, limit: int | None = None) -> list[Sample]:
    """Raw readings in [lo, hi] reduced to their metrics, oldest first."""
    return await raw.samples(PgSql(conn), battery_pk, lo, hi, -1 if limit is None else limit)


async def newest_sample(conn: Any, battery_pk: int) -> Sample | None:
    """The newest raw reading of a battery."""
    return await raw.newest_sample(PgSql(conn), battery_pk)


async def raw_bounds(conn: Any, battery_pk: int) -> tuple[int, int] | None:
    """Oldest and newest raw timestamps of a battery."""
    return await raw.bounds(PgSql(conn), battery_pk)


async def oldest(conn: Any, battery_pk: int) -> dict[str, int]:
    """The oldest timestamp (bucket start for rollups) per table that holds any row of the battery."""
    found: dict[str, int] = {}
    bounds = await raw_bounds(conn, battery_pk)
    if bounds is not None:
        found[RAW] = bounds[0]
    # One MIN per class, each answered from the key; GROUP BY class would read every bucket.
    row = await conn.fetchrow(_OLDEST, battery_pk)
    found.update((c.name, int(start)) for c, start in zip(CLASSES, row, strict=True) if start is not None)
    return found


async def count(conn: Any, battery_pk: int, resolution: str, lo: int, hi: int) -> int:
    """Rows of a table (``raw`` or a class) in [lo, hi]."""
    if resolution == RAW:
        return await raw.count(PgSql(conn), battery_pk, lo, hi)
    sql = "SELECT COUNT(*) FROM rollups WHERE battery_pk = $1 AND class = $2 AND bucket_start BETWEEN $3 AND $4"
    return int(await conn.fetchval(sql, battery_pk, resolution, lo, hi))


async def add_batch(conn: Any, battery_pk: int, samples: Sequence[Sample], prev: Sample | None) -> None:
    """Merge newly stored readings (time-ordered, all newer than ``prev``) into every class."""
    params = [
        _params(battery_pk, name, bucket)
        for name, buckets in rollup_all(aggregate(samples, prev)).items()
        for bucket in buckets.values()
    ]
    if params:
        await conn.executemany(_UPSERT, params)


async def baseline(conn: Any, battery_pk: int, first_ts: int) -> tuple[Sample | None, int | None]:
    """Before inserting readings from ``first_ts`` on: the newest stored reading and, only when the
    new readings do not all follow it, the oldest stored time (as ``sqlite_rollups.baseline``; read
    from the database every time, under the battery's lock, as another hub may have written)."""
    prev = await newest_sample(conn, battery_pk)
    if prev is None or first_ts > prev.ts:
        return prev, None
    bounds = await raw_bounds(conn, battery_pk)
    return (prev, bounds[0]) if bounds else (None, None)


async def roll_up(conn: Any, battery_pk: int, samples: list[Sample], prev: Sample | None, oldest: int | None) -> None:
    """Update the rollups for readings just inserted (see ``sqlite_rollups.roll_up``): merged in
    when newer than ``prev``, else the buckets around them rebuilt from raw rows, except buckets
    older than every reading kept, which the late readings are merged into."""
    if prev is None or oldest is None:
        await add_batch(conn, battery_pk, samples, prev)
        return
    lo = FIVE_MIN.floor(samples[0].ts - MAX_GAP_MS)
    hi = FIVE_MIN.floor(samples[-1].ts + MAX_GAP_MS) + FIVE_MIN.width_ms
    kept = FIVE_MIN.floor(oldest)
    if lo < kept and await count(conn, battery_pk, FIVE_MIN.name, lo, kept - 1):
        await add_batch(conn, battery_pk, [s for s in samples if s.ts < kept], None)
        lo = kept
    if lo < hi:
        await rebuild_window(conn, battery_pk, lo, hi)


async def _replace(conn: Any, battery_pk: int, resolution: str, lo: int, hi: int, buckets: Iterable[Bucket]) -> None:
    await conn.execute(
        "DELETE FROM rollups WHERE battery_pk = $1 AND class = $2 AND bucket_start >= $3 AND bucket_start < $4",
        battery_pk,
        resolution,
        lo,
        hi,
    )
    params = [_params(battery_pk, resolution, b) for b in buckets]
    if params:
        await conn.executemany(_INSERT, params)


async def rebuild_window(conn: Any, battery_pk: int, lo: int, hi: int) -> int:
    """Recompute the 5-minute buckets of [lo, hi) from raw readings, then every coarser bucket
    overlapping it from the finer class. Returns the number of 5-minute buckets."""
    samples = await read_samples(conn, battery_pk, lo - MAX_GAP_MS, hi + MAX_GAP_MS)
    buckets = aggregate(samples, None, (lo, hi))
    await _replace(conn, battery_pk, FIVE_MIN.name, lo, hi, buckets.values())
    for resolution in CLASSES[1:]:
        source = finer(resolution)
        assert source is not None
        lo, hi = resolution.floor(lo), resolution.ceil(hi)
        parts = await read_buckets(conn, battery_pk, source.name, lo, hi - 1)
        await _replace(conn, battery_pk, resolution.name, lo, hi, fold(parts, resolution).values())
    return len(buckets)


async def prune_readings(conn: Any, battery_pk: int, cutoff: int, chunk: int) -> int:
    """Delete about ``chunk`` of a battery's raw readings older than ``cutoff`` (5-minute aligned)."""
    return await raw.prune(PgSql(conn), battery_pk, FIVE_MIN.floor(cutoff), chunk)


async def prune_rollups(conn: Any, battery_pk: int, resolution: str, cutoff: int, chunk: int) -> int:
    """Delete at most ``chunk`` buckets of one class that ended before ``cutoff``."""
    status = await conn.execute(
        "DELETE FROM rollups WHERE battery_pk = $1 AND class = $2 AND bucket_start IN "
        "(SELECT bucket_start FROM rollups WHERE battery_pk = $1 AND class = $2 AND bucket_start < $3 "
        "ORDER BY bucket_start LIMIT $4)",
        battery_pk,
        resolution,
        BY_NAME[resolution].floor(cutoff),  # a bucket still holding data after the cutoff stays
        chunk,
    )
    return affected(status)


def affected(status: str) -> int:
    """Rows of a command status such as ``DELETE 12`` or ``INSERT 0 1``."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
