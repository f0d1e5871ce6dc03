"""History: one year of minute readings of one battery, queried to 1,000 points (resolution auto),
on SQLite and on PostgreSQL, against the same question answered by scanning and downsampling the
raw rows (the baseline), in one run.

    .venv/bin/python benchmarks/history_query.py [--days D] [--repeat R] [--dsn DSN | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.reading import Reading, Temperature
from hub.storage.base import Storage
from hub.storage.history import AUTO, RAW, HistoryQuery, run_history
from hub.storage.rollups import METRICS
from hub.storage.sqlite import SQLiteStorage

DSN = "postgresql://postgres@127.0.0.1:5432/test"

T0 = datetime(2025, 1, 1, tzinfo=UTC)
CHUNK = 10_000


def minute_readings(start: int, count: int) -> list[Reading]:
    """Readings of a pack cycling once a day, one per minute."""
    out = []
    for i in range(start, start + count):
        phase = (i % 1440) / 1440
        current = 20.0 if phase < 0.5 else -18.0
        out.append(
            Reading(
                "pack",
                timestamp=T0 + timedelta(minutes=i),
                voltage=52.0 + (phase - 0.5),
                current=current,
                soc=50 + 40 * (phase if phase < 0.5 else 1 - phase),
                cells=tuple(3.25 + 0.001 * c for c in range(16)),
                temperatures=(Temperature(25.0 + phase * 5),),
            )
        )
    return out


async def fill(storage: Storage, minutes: int) -> None:
    store = storage.for_tenant("default")
    await store.ensure_battery("pack", "Pack", "daly")
    for first in range(0, minutes, CHUNK):
        await store.write_readings(minute_readings(first, min(CHUNK, minutes - first)))


async def timed(storage: Storage, query: HistoryQuery, now: datetime, repeat: int) -> tuple[float, int]:
    """Median seconds of a history query and the number of points it returned."""
    times, points = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        result = await run_history(storage.for_tenant("default"), query, now)
        times.append(time.perf_counter() - started)
        points = len(result.data)
    return statistics.median(times), points


async def measure(storage: Storage, days: int, repeat: int) -> dict[str, float]:
    await storage.open()
    try:
        print(f"writing {days} days of minute readings...", flush=True)
        await fill(storage, days * 1440)
        end = T0 + timedelta(days=days)
        ours, points = await timed(storage, HistoryQuery("pack", T0, end, AUTO, 1000), end, repeat)
        # The baseline: every raw reading of the year read and downsampled to the same 1,000 points.
        scan = HistoryQuery("pack", T0, end, RAW, 1000, fields=METRICS)
        raw, raw_points = await timed(storage, scan, end, 1)
    finally:
        await storage.close()
    return {"ours": ours, "points": points, "raw": raw, "raw_points": raw_points}


async def on_postgres(dsn: str, days: int, repeat: int) -> dict[str, float] | None:
    """The same on PostgreSQL, in a schema of its own (dropped after); None when unreachable."""
    import asyncpg

    from hub.storage.pg_settings import PostgresSettings
    from hub.storage.postgres import PostgreSQLStorage

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as err:
        print(f"PostgreSQL at {dsn} unreachable, skipped: {err}")
        return None
    try:
        settings = PostgresSettings.from_config({"dsn": dsn, "schema": schema})
        return await measure(PostgreSQLStorage(settings), days, repeat)
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


def report(backend: str, result: dict[str, float]) -> dict[str, object]:
    ms, speedup = result["ours"] * 1000, result["raw"] / result["ours"]
    print(f"{backend}: auto (rollups) to 1000 points: {ms:.1f} ms median, {result['points']:.0f} points")
    print(f"{backend}: raw scan downsampled to 1000 points (baseline): {result['raw'] * 1000:.0f} ms")
    print(f"{backend}: speedup over the raw scan: {speedup:.0f} x (target < 50 ms)")
    return {"metric": f"history_year_1000_points_{backend}", "value": round(ms, 2), "unit": "ms", "target": "< 50"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--dsn", default=DSN, help="PostgreSQL to measure on (a schema of its own)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        storage = SQLiteStorage(Path(tmp) / "history.db")
        lines = [report("sqlite", asyncio.run(measure(storage, args.days, args.repeat)))]
    pg = None if args.no_postgres else asyncio.run(on_postgres(args.dsn, args.days, args.repeat))
    if pg is not None:
        lines.append(report("postgresql", pg))
    for line in lines:
        print(json.dumps(line | {"met": float(str(line["value"])) < 50}))


if __name__ == "__main__":
    main()
