"""Downsampling rollups in SQL (both backends) gives the buckets that merging them in Python gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.reading import Reading, Temperature
from hub.storage import DEFAULT_TENANT
from hub.storage.base import Storage, TenantStore
from hub.storage.history import Downsampler, SqlDownsampling
from hub.storage.packing import to_millis
from hub.storage.rollups import BY_NAME, Bucket

T0 = datetime(2025, 5, 1, 0, 3, tzinfo=UTC)  # not on a bucket boundary


def readings() -> list[Reading]:
    """Two days at 40 s with a spike, a dip, a 2-hour gap and readings lacking some values."""
    out = []
    for i in range(4400):
        if 1000 <= i < 1180:
            continue  # gap: buckets without readings, and no energy across it
        voltage = 71.0 if i == 2222 else 28.0 if i == 3333 else 52.0 + (i % 11) / 50
        out.append(
            Reading(
                "pack",
                timestamp=T0 + timedelta(seconds=40 * i),
                voltage=voltage,
                current=None if i % 97 == 0 else (15.0 if (i // 300) % 2 else -12.0) + (i % 5) / 10,
                soc=50 + (i % 400) / 10,
                cells=(3.2 + (i % 13) / 1000, 3.21, 3.25 - (i % 3) / 1000) if i % 50 else (),
                temperatures=(Temperature(20 + (i % 17) / 2),),
            )
        )
    return out


def same(got: Bucket, want: Bucket) -> None:
    assert (got.start, got.n, got.last_ts) == (want.start, want.n, want.last_ts)
    assert got.charged_wh == pytest.approx(want.charged_wh, rel=1e-9, abs=1e-9)
    assert got.discharged_wh == pytest.approx(want.discharged_wh, rel=1e-9, abs=1e-9)
    assert (got.mins, got.maxs, got.counts, got.lasts) == (want.mins, want.maxs, want.counts, want.lasts)
    assert got.sums == pytest.approx(want.sums, rel=1e-9, abs=1e-9)


@pytest.fixture
async def store(storage: Storage) -> TenantStore:
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("pack", "Pack", "daly")
    data = readings()
    for first in range(0, len(data), 700):
        await store.write_readings(data[first : first + 700])
    return store


@pytest.mark.parametrize(("resolution", "points"), [("5m", 7), ("5m", 100), ("5m", 333), ("1h", 10), ("1d", 1)])
async def test_sql_downsampling_equals_merging_in_python(store: TenantStore, resolution: str, points: int) -> None:
    assert isinstance(store, SqlDownsampling)
    start, end = T0 + timedelta(minutes=17), T0 + timedelta(hours=47)
    unit = BY_NAME[resolution]
    lo, hi = to_millis(start), to_millis(end)
    python = Downsampler(unit.floor(lo), hi, points, unit)
    async for chunk in store.iter_buckets("pack", resolution, start, end, chunk=50):
        python.add_buckets(chunk)
    want = python.result()
    got = await store.downsample_buckets("pack", resolution, (start, end), python.origin, python.width)
    assert len(got) == len(want) and len(want) <= points
    for mine, theirs in zip(got, want, strict=True):
        same(mine, theirs)
    assert max(b.maxs[0] for b in got if b.maxs[0] is not None) == 71.0  # the spike survives
    assert min(b.mins[0] for b in got if b.mins[0] is not None) == 28.0


async def test_unknown_battery_or_empty_span_gives_no_buckets(store: TenantStore) -> None:
    assert isinstance(store, SqlDownsampling)
    span = (T0, T0 + timedelta(days=2))
    assert await store.downsample_buckets("nope", "1h", span, to_millis(T0), 3_600_000) == []
    later = (T0 + timedelta(days=30), T0 + timedelta(days=31))
    assert await store.downsample_buckets("pack", "1h", later, to_millis(later[0]), 3_600_000) == []
