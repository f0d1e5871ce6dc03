"""Tests for compaction of the raw tier (both backends): reads give the same readings before and
after, rows written later into a compacted hour win, and pruning cuts inside a chunk exactly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.reading import Reading, Temperature, TemperatureKind
from hub.storage.base import DEFAULT_TENANT, Storage, TenantStore
from hub.storage.packing import to_millis
from hub.storage.retention import Pruner, Retention
from hub.storage.rollups import METRICS
from tests.hub.storage.backends import sql

T0 = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)  # half past: the first hour is partly filled
HOUR = timedelta(hours=1)


def readings(count: int, step_s: float = 7.0, battery: str = "pack") -> list[Reading]:
    rng = random.Random(count)
    cells = [3.31] * 8
    found = []
    for i in range(count):
        cells = [c + rng.choice((-0.001, 0, 0.001)) for c in cells]
        found.append(
            Reading(
                battery,
                timestamp=T0 + timedelta(seconds=i * step_s, milliseconds=rng.randint(0, 999)),
                voltage=round(sum(cells), 2),
                current=round(rng.uniform(-20, 20), 2),
                soc=60.0,
                cells=tuple(cells),
                temperatures=(Temperature(21.5, TemperatureKind.CELL, 1), Temperature(30.0, TemperatureKind.MOS, 1)),
            )
        )
    return found


@pytest.fixture
async def store(storage: Storage) -> TenantStore:
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("pack", "Pack", "daly")
    await store.ensure_battery("other", "Other", "daly")
    return store


async def table_counts(storage: Storage) -> tuple[int, int]:
    found = await sql(storage, "SELECT (SELECT COUNT(*) FROM readings), (SELECT COUNT(*) FROM reading_chunks)")
    return int(found[0][0]), int(found[0][1])


async def everything_read(store: TenantStore) -> dict[str, Any]:
    """What every raw read path answers, over edges inside and across hours."""
    edges = [None, T0 + timedelta(minutes=40), T0 + 2 * HOUR, T0 + timedelta(hours=3, minutes=5), T0 + 9 * HOUR]
    found: dict[str, Any] = {"latest": (await store.latest("pack") or Reading("none")).to_dict()}
    for lo in edges:
        for hi in edges:
            for limit in (1, 5, 700, 10_000):
                key = f"{lo}-{hi}-{limit}"
                found[key] = [r.to_dict() for r in await store.history("pack", lo, hi, limit)]
            found[f"count {lo}-{hi}"] = await store.count_rows("pack", "raw", lo, hi)
            found[f"samples {lo}-{hi}"] = [
                s async for part in store.iter_samples("pack", lo, hi, chunk=333) for s in part
            ]
    found["start"] = await store.data_start("pack")
    return found


async def test_compaction_changes_no_answer_and_shrinks_the_rows_to_one_per_hour(
    storage: Storage, store: TenantStore
) -> None:
    await store.write_readings(readings(2000))  # 9:30 to about 13:23
    await store.write_readings(readings(50, battery="other"))
    before = await everything_read(store)
    folded = await storage.compact(T0 + 3 * HOUR)  # hours ending by 12:30 -> 9:00, 10:00, 11:00
    assert folded == len([r for r in readings(2000) if r.timestamp < datetime(2026, 5, 4, 12, tzinfo=UTC)]) + 50
    assert await everything_read(store) == before
    rows, chunk_rows = await table_counts(storage)
    assert chunk_rows == 3 + 1  # pack 9:00-11:00, other's 50 readings within 9:30-9:36
    assert rows == 2000 + 50 - folded
    assert await storage.compact(T0 + 3 * HOUR) == 0  # nothing left to fold
    assert await storage.compact(T0 + 9 * HOUR) == rows  # the rest once their hours closed
    assert await everything_read(store) == before
    assert await table_counts(storage) == (0, 5 + 1)


async def test_a_reading_written_again_after_compaction_wins_and_is_counted_once(
    storage: Storage, store: TenantStore
) -> None:
    original = readings(600)
    await store.write_readings(original)
    await storage.compact(T0 + 5 * HOUR)
    again = Reading("pack", timestamp=original[100].timestamp, voltage=48.0, current=1.0, soc=12.0)
    late = Reading("pack", timestamp=original[100].timestamp + timedelta(milliseconds=1), voltage=49.0)
    await store.write_readings([again, late])  # rows now, inside a compacted hour
    span = (original[100].timestamp, original[100].timestamp + timedelta(seconds=1))
    for _ in range(2):  # as rows beside the chunk, then folded into it
        assert [r.voltage for r in await store.history("pack", *span, 10)] == [48.0, 49.0]
        assert await store.count_rows("pack", "raw", None, None) == 601
        assert await store.count_rows("pack", "raw", *span) == 2
        await storage.compact(T0 + 5 * HOUR)
    assert (await table_counts(storage))[0] == 0


async def test_late_readings_into_a_compacted_hour_update_the_rollups(storage: Storage, store: TenantStore) -> None:
    await store.write_readings(readings(1000))
    await storage.compact(T0 + 5 * HOUR)
    late = [Reading("pack", timestamp=T0 + timedelta(seconds=3 + 7 * i), voltage=40.0, soc=60.0) for i in range(3)]
    await store.write_readings(late)
    hours = [b async for part in store.iter_buckets("pack", "1h", None, None) for b in part]
    assert hours[0].maxs[METRICS.index("voltage")] == 40.0  # rebuilt from the chunk and the late rows together
    assert sum(b.n for b in hours) == 1003


async def test_pruning_cuts_inside_a_chunk_exactly(storage: Storage, store: TenantStore) -> None:
    written = readings(1500)
    await store.write_readings(written)
    await storage.compact(T0 + 5 * HOUR)
    cutoff = T0 + timedelta(hours=1, minutes=10)  # inside the 10:00 chunk, on a 5-minute boundary
    pruned = await storage.prune({"raw": cutoff}, chunk=100)
    kept = [r for r in written if r.timestamp >= cutoff]
    assert pruned == {"raw": len(written) - len(kept)}
    stored = await store.history("pack", None, None, 10_000)
    assert [r.timestamp for r in stored] == [
        r.timestamp.replace(microsecond=r.timestamp.microsecond // 1000 * 1000) for r in kept
    ]
    assert await store.count_rows("pack", "raw", None, None) == len(kept)
    assert (await store.data_start("pack"))["raw"] == stored[0].timestamp


async def test_compaction_leaves_the_open_hour_and_other_tenants_alone(storage: Storage, store: TenantStore) -> None:
    now = T0 + timedelta(minutes=45)
    await store.write_readings(readings(300))  # 9:30 to 10:05
    folded = await storage.compact(now)  # 10:15: only the 9:00 hour has closed
    assert folded == len([r for r in readings(300) if r.timestamp < T0 + timedelta(minutes=30)])
    newest = await store.latest("pack")
    assert newest is not None and to_millis(newest.timestamp) == to_millis(readings(300)[-1].timestamp)


async def test_the_background_task_compacts_hours_closed_for_ten_minutes(storage: Storage, store: TenantStore) -> None:
    await store.write_readings(readings(1000))  # 9:30 to about 11:27
    pruner = Pruner(storage, Retention())
    await pruner.run_once(T0 + timedelta(minutes=39))  # 10:09: the 9:00 hour closed 9 minutes ago
    assert pruner.last_compacted == 0
    await pruner.run_once(T0 + timedelta(minutes=40))
    assert pruner.last_compacted == len([r for r in readings(1000) if r.timestamp < T0 + timedelta(minutes=30)])
    assert await table_counts(storage) == (1000 - pruner.last_compacted, 1)
