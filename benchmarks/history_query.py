"""History: one year of minute readings of one battery, queried to 1,000 points (resolution auto),
against the same question answered by scanning the raw rows (the baseline), in one run.

    .venv/bin/python benchmarks/history_query.py [--days D] [--repeat R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.reading import Reading, Temperature
from hub.storage.history import AUTO, RAW, HistoryQuery, run_history
from hub.storage.sqlite import SQLiteStorage

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


async def fill(storage: SQLiteStorage, minutes: int) -> None:
    store = storage.for_tenant("default")
    await store.ensure_battery("pack", "Pack", "daly")
    for first in range(0, minutes, CHUNK):
        await store.write_readings(minute_readings(first, min(CHUNK, minutes - first)))


async def timed(storage: SQLiteStorage, query: HistoryQuery, now: datetime, repeat: int) -> tuple[float, int]:
    """Median seconds of a history query and the number of points it returned."""
    times, points = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        result = await run_history(storage.for_tenant("default"), query, now)
        times.append(time.perf_counter() - started)
        points = len(result.data)
    return statistics.median(times), points


async def measure(path: Path, days: int, repeat: int) -> dict[str, float]:
    storage = SQLiteStorage(path)
    await storage.open()
    try:
        print(f"writing {days} days of minute readings...", flush=True)
        await fill(storage, days * 1440)
        end = T0 + timedelta(days=days)
        ours, points = await timed(storage, HistoryQuery("pack", T0, end, AUTO, 1000), end, repeat)
        raw, raw_points = await timed(storage, HistoryQuery("pack", T0, end, RAW, 1000), end, max(1, repeat // 5))
    finally:
        await storage.close()
    return {"ours": ours, "points": points, "raw": raw, "raw_points": raw_points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(Path(tmp) / "history.db", args.days, args.repeat))
    ms, speedup = result["ours"] * 1000, result["raw"] / result["ours"]
    print(f"auto (rollups) to 1000 points: {ms:.1f} ms median, {result['points']:.0f} points")
    print(f"raw scan downsampled to 1000 points (baseline): {result['raw'] * 1000:.0f} ms")
    print(f"speedup over the raw scan: {speedup:.0f} x")
    print(
        json.dumps(
            {
                "metric": "history_year_1000_points_sqlite",
                "value": round(ms, 2),
                "unit": "ms",
                "target": "< 50",
                "met": ms < 50,
            }
        )
    )


if __name__ == "__main__":
    main()
