"""Rollup classes, energy splitting, bucket merging, and writes sharing the connection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.reading import Reading
from hub.storage import DEFAULT_TENANT
from hub.storage.base import Storage
from hub.storage.packing import to_millis
from hub.storage.rollups import BY_NAME, Bucket, Sample, aggregate, split_energy


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return to_millis(datetime(year, month, day, hour, minute, tzinfo=UTC))


def test_calendar_months() -> None:
    month = BY_NAME["1mo"]
    assert month.floor(ms(2024, 2, 29, 23, 59)) == ms(2024, 2, 1)
    assert month.step(ms(2024, 12, 1)) == ms(2025, 1, 1)
    assert month.step(ms(2024, 1, 1), 14) == ms(2025, 3, 1)
    assert month.ceil(ms(2024, 3, 1)) == ms(2024, 3, 1)
    assert month.ceil(ms(2024, 3, 1) + 1) == ms(2024, 4, 1)
    assert BY_NAME["1d"].floor(ms(2024, 3, 1, 17, 3)) == ms(2024, 3, 1)
    assert BY_NAME["5m"].ceil(ms(2024, 3, 1, 17, 3)) == ms(2024, 3, 1, 17, 5)
    assert BY_NAME["5m"].floor(ms(1969, 12, 31, 23, 58)) == ms(1969, 12, 31, 23, 55)


def test_energy_split_at_the_zero_crossing() -> None:
    hour = 3_600_000
    assert split_energy(100, 300, hour) == (200, 0)
    assert split_energy(-100, -300, hour) == (0, 200)
    assert split_energy(100, -100, hour) == pytest.approx((25, 25))
    assert split_energy(-300, 100, hour) == pytest.approx((12.5, 112.5))


def test_an_interval_across_a_boundary_is_shared_by_time() -> None:
    start = ms(2024, 3, 1, 10, 4)
    buckets = aggregate(
        [Sample(start, (None, None, 100.0) + (None,) * 5), Sample(start + 120_000, (None, None, 100.0) + (None,) * 5)]
    )
    assert sorted(buckets) == [ms(2024, 3, 1, 10, 0), ms(2024, 3, 1, 10, 5)]
    assert [buckets[k].charged_wh for k in sorted(buckets)] == pytest.approx([100 / 60, 100 / 60])
    longer = aggregate(
        [Sample(start, (None, None, 1.0) + (None,) * 5), Sample(start + 300_001, (None, None, 1.0) + (None,) * 5)]
    )
    assert all(b.charged_wh == 0 for b in longer.values())  # more than 300 s apart: not integrated


values = st.tuples(*[st.none() | st.floats(-1e6, 1e6, allow_nan=False)] * 8)


@given(st.lists(st.tuples(st.integers(0, 10_000), values), min_size=1), st.integers(0, 20))
def test_merging_parts_equals_adding_everything(samples: list[tuple[int, tuple[float | None, ...]]], cut: int) -> None:
    whole, first, second = Bucket(0), Bucket(0), Bucket(0)
    for i, (ts, vals) in enumerate(samples):
        whole.add(Sample(ts, vals))
        (first if i < cut else second).add(Sample(ts, vals))
    first.merge(second)
    assert (first.n, first.mins, first.maxs, first.counts) == (whole.n, whole.mins, whole.maxs, whole.counts)
    assert first.sums == pytest.approx(whole.sums)
    assert (first.last_ts, first.lasts) == (whole.last_ts, whole.lasts)  # of equal times, the later wins


@given(st.lists(st.tuples(st.integers(0, 50), values)), st.lists(st.tuples(st.integers(0, 50), values)))
def test_adding_all_at_once_equals_adding_one_by_one(before: list[Sample], batch: list[Sample]) -> None:
    # Bit for bit (==, not approx): the stored sums and extremes must not change with the batching.
    one, together = Bucket(0), Bucket(0)
    for ts, vals in before:
        one.add(Sample(ts, vals))
        together.add(Sample(ts, vals))
    for ts, vals in batch:
        one.add(Sample(ts, vals))
    together.add_all([Sample(ts, vals) for ts, vals in batch])
    assert together == one


def test_aggregate_counts_readings_and_energy_per_bucket_in_reading_order() -> None:
    five = 300_000
    watts = (None, None, 120.0, None, None, None, None, None)
    samples = [Sample(t, watts) for t in (five - 1000, five + 1000, 2 * five - 500, 2 * five + 500)]
    buckets = aggregate(samples, prev=Sample(five - 3000, watts))
    assert list(buckets) == [0, five, 2 * five]  # created as the readings came (the SQL folds them in that order)
    assert [b.n for b in buckets.values()] == [1, 2, 1]
    assert [b.last_ts for b in buckets.values()] == [five - 1000, 2 * five - 500, 2 * five + 500]
    hours = [3000 / 3_600_000, five / 3_600_000, 500 / 3_600_000]  # the time inside each bucket
    assert [b.charged_wh for b in buckets.values()] == pytest.approx([120.0 * h for h in hours])
    assert buckets[five].mins[2] == buckets[five].maxs[2] == 120.0 and buckets[five].sums[2] == 240.0


async def test_concurrent_writers_never_commit_each_others_halves(storage: Storage) -> None:
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("pack", "Pack", "daly")
    t0 = datetime(2025, 1, 31, 23, 30, tzinfo=UTC)  # the batches cross into a new month (partition)

    async def readings(offset: int) -> None:
        batch = [
            Reading("pack", timestamp=t0 + timedelta(seconds=offset * 100 + s), voltage=50.0, current=2.0)
            for s in range(100)
        ]
        await store.write_readings(batch)

    async def states(n: int) -> None:
        await store.save_state("pack", f"k{n}", {"n": n})

    await asyncio.gather(*(readings(i) for i in reversed(range(20))), *(states(i) for i in range(20)))
    buckets = [b async for chunk in store.iter_buckets("pack", "1h", None, None) for b in chunk]
    assert sum(b.n for b in buckets) == 2000 == await store.count_rows("pack", "raw", None, None)
    # Energy as if written in one batch: whatever order the writers committed in, no interval is lost
    # or counted twice (1999 one-second intervals at 100 W).
    assert sum(b.charged_wh for b in buckets) == pytest.approx(1999 * 100 / 3600)
    assert await store.load_state("pack", "k7") == {"n": 7}
