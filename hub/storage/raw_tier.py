"""The raw tier: recent readings one row each (``readings``), closed hours as chunks (``reading_chunks``).

Readers see both as one series: a time held by both is the row's (a rewrite after compaction), as
it is once the compactor folds that row into its chunk. The same SQL (``$n`` placeholders, which
SQLite reads as ``?n``) runs on both backends through a :class:`~hub.storage.sql.Sql` adapter on the caller's
connection, inside the caller's transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.reading import Reading
from hub.storage import chunks
from hub.storage.chunks import CHUNK_MS, Row, window_of
from hub.storage.packing import COLUMNS, from_row, to_millis
from hub.storage.rollups import Sample, sample_from_columns
from hub.storage.sql import NO_LIMIT, Sql

_HOT = (
    f"SELECT {', '.join(COLUMNS)} FROM readings WHERE battery_pk = $1 AND ts BETWEEN $2 AND $3 ORDER BY ts %s LIMIT $4"
)
_OVERLAP = "battery_pk = $1 AND start_ts BETWEEN $2 AND $3 AND last_ts >= $4 AND first_ts <= $5"
_CHUNK_LIST = f"SELECT start_ts, first_ts, last_ts, n FROM reading_chunks WHERE {_OVERLAP} ORDER BY start_ts %s"
_CHUNK_BLOBS = f"SELECT data FROM reading_chunks WHERE {_OVERLAP} ORDER BY start_ts"
_CHUNK_DATA = "SELECT data FROM reading_chunks WHERE battery_pk = $1 AND start_ts = $2"
_HOT_COUNT = "SELECT COUNT(*) FROM readings WHERE battery_pk = $1 AND ts BETWEEN $2 AND $3"
# Driven by the chunks (24 a day), probing rows by key: cheap however many rows there are.
_SHARED = (
    "SELECT r.ts FROM reading_chunks c JOIN readings r ON r.battery_pk = c.battery_pk "
    f"AND r.ts BETWEEN c.start_ts AND c.start_ts + {CHUNK_MS - 1} "
    "WHERE c.battery_pk = $1 AND c.start_ts BETWEEN $2 AND $3 AND r.ts BETWEEN $4 AND $5"
)
# Separate subqueries: SQLite answers a lone MIN or MAX from the key, but MIN and MAX together in
# one SELECT scan every row of the battery (36 ms for a year of minutes).
_BOUNDS = (
    "SELECT (SELECT MIN(ts) FROM readings WHERE battery_pk = $1), "
    "(SELECT MAX(ts) FROM readings WHERE battery_pk = $1), "
    "(SELECT first_ts FROM reading_chunks WHERE battery_pk = $1 ORDER BY start_ts LIMIT 1), "
    "(SELECT last_ts FROM reading_chunks WHERE battery_pk = $1 ORDER BY start_ts DESC LIMIT 1)"
)
_DELETE_HOUR = "DELETE FROM readings WHERE battery_pk = $1 AND ts BETWEEN $2 AND $3"
_DELETE_CHUNK = "DELETE FROM reading_chunks WHERE battery_pk = $1 AND start_ts = $2"
_UPSERT_CHUNK = (
    "INSERT INTO reading_chunks (battery_pk, start_ts, first_ts, last_ts, n, data) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (battery_pk, start_ts) DO UPDATE SET first_ts = excluded.first_ts, last_ts = excluded.last_ts, "
    "n = excluded.n, data = excluded.data"
)
_PRUNE_ROWS = (
    "DELETE FROM readings WHERE battery_pk = $1 AND ts IN "
    "(SELECT ts FROM readings WHERE battery_pk = $1 AND ts < $2 ORDER BY ts LIMIT $3)"
)
_EXPIRED = "SELECT start_ts, last_ts, n FROM reading_chunks WHERE battery_pk = $1 AND first_ts < $2 ORDER BY start_ts"
_DECODE_INLINE = 2  # chunks decoded on the event loop; more go to a thread (about 40 ms per full hour)


async def decode_blobs(blobs: Sequence[bytes]) -> list[list[Row]]:
    """Decoded chunks; several are decoded in a worker thread so the event loop keeps polling."""
    if len(blobs) <= _DECODE_INLINE:
        return [chunks.decode(blob) for blob in blobs]
    return await asyncio.to_thread(lambda: [chunks.decode(blob) for blob in blobs])


async def _chunk_data(db: Sql, battery_pk: int, start: int) -> bytes | None:
    found = await db.fetch(_CHUNK_DATA, battery_pk, start)
    return bytes(found[0][0]) if found else None


async def _chunk_list(db: Sql, battery_pk: int, lo: int, hi: int, newest_first: bool) -> list[tuple[int, ...]]:
    """(start, first, last, n) of the chunks holding readings in [lo, hi]."""
    sql = _CHUNK_LIST % ("DESC" if newest_first else "ASC")
    return [tuple(int(v) for v in r) for r in await db.fetch(sql, battery_pk, window_of(lo), hi, lo, hi)]


async def rows(db: Sql, battery_pk: int, lo: int, hi: int, limit: int = -1, *, newest_first: bool = False) -> list[Row]:
    """Readings in [lo, hi] (ms) in ``packing.COLUMNS`` order, by time (newest first if asked), at
    most ``limit`` (-1: all) from the requested end."""
    order = "DESC" if newest_first else "ASC"
    hot = [tuple(r) for r in await db.fetch(_HOT % order, battery_pk, lo, hi, NO_LIMIT if limit < 0 else limit)]
    if limit < 0:
        blobs = [bytes(r[0]) for r in await db.fetch(_CHUNK_BLOBS, battery_pk, window_of(lo), hi, lo, hi)]
        cold = [row for part in await decode_blobs(blobs) for row in part if lo <= row[0] <= hi]
    else:  # chunks do not overlap in time: the first ones in order hold the rows asked for
        cold = []
        for start, *_ in await _chunk_list(db, battery_pk, lo, hi, newest_first):
            blob = await _chunk_data(db, battery_pk, start)
            cold += [row for row in chunks.decode(blob) if lo <= row[0] <= hi] if blob else []
            if len(cold) >= limit:
                break
    if not cold:
        return hot
    merged = chunks.merge(cold, hot)
    if newest_first:
        merged.reverse()
    return merged if limit < 0 else merged[:limit]


def _sample(row: Sequence[Any]) -> Sample:
    return sample_from_columns(row[0], row[1], row[2], row[3], row[4], row[10], row[11])


async def samples(db: Sql, battery_pk: int, lo: int, hi: int, limit: int = -1) -> list[Sample]:
    """Readings in [lo, hi] reduced to their rollup metrics, oldest first."""
    return [_sample(row) for row in await rows(db, battery_pk, lo, hi, limit)]


async def newest_sample(db: Sql, battery_pk: int) -> Sample | None:
    """The newest reading of a battery, reduced to its rollup metrics."""
    found = await rows(db, battery_pk, 0, NO_LIMIT, 1, newest_first=True)
    return _sample(found[0]) if found else None


async def newest_readings(
    db: Sql, battery_pk: int, battery_id: str, start: datetime | None, end: datetime | None, limit: int
) -> list[Reading]:
    """The newest ``limit`` readings in [start, end], newest first."""
    lo = to_millis(start) if start else 0
    hi = to_millis(end) if end else NO_LIMIT
    return [from_row(battery_id, row) for row in await rows(db, battery_pk, lo, hi, limit, newest_first=True)]


async def bounds(db: Sql, battery_pk: int) -> tuple[int, int] | None:
    """Oldest and newest raw timestamps of a battery, over rows and chunks."""
    found = await db.fetch(_BOUNDS, battery_pk)
    if not found:
        return None
    lows = [int(v) for v in (found[0][0], found[0][2]) if v is not None]
    highs = [int(v) for v in (found[0][1], found[0][3]) if v is not None]
    return (min(lows), max(highs)) if lows else None


async def count(db: Sql, battery_pk: int, lo: int, hi: int) -> int:
    """Readings in [lo, hi]: rows, plus chunk rows whose time no row holds (whole chunks by their count)."""
    total = int((await db.fetch(_HOT_COUNT, battery_pk, lo, hi))[0][0])
    shared = {int(r[0]) for r in await db.fetch(_SHARED, battery_pk, window_of(lo), hi, lo, hi)}
    shared_hours = {window_of(ts) for ts in shared}  # hours holding both rows and a chunk
    partial = []
    for start, first, last, n in await _chunk_list(db, battery_pk, lo, hi, False):
        if lo <= first and last <= hi and start not in shared_hours:
            total += n
        else:
            partial.append(start)
    blobs = [blob for start in partial if (blob := await _chunk_data(db, battery_pk, start)) is not None]
    for part in await decode_blobs(blobs):
        total += sum(1 for row in part if lo <= row[0] <= hi and row[0] not in shared)
    return total


async def compact(db: Sql, battery_pk: int, before: int, max_rows: int) -> int:
    """Fold a battery's rows of closed hours (every time < ``before``, an hour boundary) into their
    chunks, about ``max_rows`` rows at most; returns the rows folded (0: nothing left)."""
    found = [tuple(r) for r in await db.fetch(_HOT % "ASC", battery_pk, 0, before - 1, max_rows)]
    if not found:
        return 0
    groups: dict[int, list[Row]] = {}
    for row in found:
        groups.setdefault(window_of(row[0]), []).append(row)
    if len(found) == max_rows and len(groups) > 1:
        groups.pop(max(groups))  # the last hour may be cut short by the limit: next time
    elif len(found) == max_rows:  # one hour holds more than max_rows rows: take all of it
        (start,) = groups
        groups[start] = [
            tuple(r) for r in await db.fetch(_HOT % "ASC", battery_pk, start, start + CHUNK_MS - 1, NO_LIMIT)
        ]
    for start, new_rows in groups.items():
        blob = await _chunk_data(db, battery_pk, start)
        await write_chunk(db, battery_pk, start, chunks.merge(chunks.decode(blob) if blob else [], new_rows))
        await db.execute(_DELETE_HOUR, battery_pk, start, start + CHUNK_MS - 1)
    return sum(len(group) for group in groups.values())


async def write_chunk(db: Sql, battery_pk: int, start: int, chunk_rows: list[Row]) -> None:
    """Store (replace) the chunk of one hour; an empty list deletes it."""
    if not chunk_rows:
        await db.execute(_DELETE_CHUNK, battery_pk, start)
        return
    blob = await asyncio.to_thread(chunks.encode, chunk_rows)
    await db.execute(_UPSERT_CHUNK, battery_pk, start, chunk_rows[0][0], chunk_rows[-1][0], len(chunk_rows), blob)


async def prune(db: Sql, battery_pk: int, cutoff: int, budget: int) -> int:
    """Delete a battery's readings older than ``cutoff``: up to ``budget`` rows, then whole chunks
    (at least one) and the part of a chunk that straddles the cutoff; returns readings deleted."""
    deleted = await db.execute(_PRUNE_ROWS, battery_pk, cutoff, budget)
    if deleted >= budget:
        return deleted
    for start, last, n in [tuple(int(v) for v in r) for r in await db.fetch(_EXPIRED, battery_pk, cutoff)]:
        if last < cutoff:
            await db.execute(_DELETE_CHUNK, battery_pk, start)
            deleted += n
        else:  # straddles the cutoff: keep its newer part
            blob = await _chunk_data(db, battery_pk, start)
            held = chunks.decode(blob) if blob else []
            kept = [row for row in held if row[0] >= cutoff]
            await write_chunk(db, battery_pk, start, kept)
            deleted += len(held) - len(kept)
        if deleted >= budget:
            break
    return deleted
