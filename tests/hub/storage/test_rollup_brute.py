"""Rollups written incrementally (and rebuilt) equal a brute-force computation over the raw rows, on both backends.

Each generated example writes into a tenant of its own in the test's database (a new PostgreSQL
schema per example would cost its migrations every time).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.reading import Reading, Temperature
from hub.storage.base import Storage, TenantStore
from hub.storage.rollups import BY_NAME, Bucket
from tests.hub.storage.backends import Location, add_tenant, sql

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Ten minutes before a month ends (and a leap day): series cross 5-minute, hour, day and month edges.
T0 = datetime(2024, 2, 29, 23, 50, tzinfo=UTC)
MS = timedelta(milliseconds=1)
NAMES = ("voltage", "current", "power", "soc", "cell_min", "cell_max", "cell_delta", "temperature_max")


# --- brute force, written independently of hub.storage.rollups ---------------------------------


def bucket_of(name: str, ms: int) -> tuple[int, int]:
    """[start, end) in ms of the bucket of class ``name`` holding ``ms``."""
    moment = EPOCH + ms * MS
    if name == "1mo":
        start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        end = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
        return (start - EPOCH) // MS, (end - EPOCH) // MS
    width = {"5m": 300_000, "1h": 3_600_000, "1d": 86_400_000}[name]
    return ms // width * width, ms // width * width + width


def metrics(reading: Reading) -> dict[str, float | None]:
    temps = [t.value for t in reading.temperatures]
    return {
        "voltage": reading.voltage,
        "current": reading.current,
        "power": reading.power,
        "soc": reading.soc,
        "cell_min": reading.cell_min.voltage if reading.cell_min else None,
        "cell_max": reading.cell_max.voltage if reading.cell_max else None,
        "cell_delta": reading.cell_delta,
        "temperature_max": max(temps) if temps else None,
    }


def positive_negative(p0: float, p1: float, hours: float) -> tuple[float, float]:
    """Integral of the positive and negative parts of a line, via the integrals of p and |p|."""
    signed = (p0 + p1) / 2 * hours
    absolute = abs(signed) if p0 * p1 >= 0 else (p0 * p0 + p1 * p1) / (2 * abs(p0 - p1)) * hours
    return (absolute + signed) / 2, (absolute - signed) / 2


def brute_energy(name: str, readings: Sequence[Reading]) -> dict[int, list[float]]:
    """Per bucket start: [charged Wh, discharged Wh] of the piecewise-linear power in that bucket."""
    energy: dict[int, list[float]] = {}
    stamps = [(r.timestamp - EPOCH) // MS for r in readings]
    for i in range(1, len(readings)):
        a, b, pa, pb = stamps[i - 1], stamps[i], readings[i - 1].power, readings[i].power
        if pa is None or pb is None or not 0 < b - a <= 300_000:
            continue
        for start, end in {bucket_of(name, a), bucket_of(name, b)}:
            lo, hi = max(a, start), min(b, end)
            if lo >= hi:
                continue
            p_lo, p_hi = pa + (pb - pa) * (lo - a) / (b - a), pa + (pb - pa) * (hi - a) / (b - a)
            charged, discharged = positive_negative(p_lo, p_hi, (hi - lo) / 3_600_000)
            sums = energy.setdefault(start, [0.0, 0.0])
            sums[0] += charged
            sums[1] += discharged
    return energy


def brute_force(name: str, readings: Sequence[Reading]) -> dict[int, dict[str, Any]]:
    """Every bucket of a class, computed from the raw readings (oldest first)."""
    groups: dict[int, list[Reading]] = {}
    for reading in readings:
        groups.setdefault(bucket_of(name, (reading.timestamp - EPOCH) // MS)[0], []).append(reading)
    energy = brute_energy(name, readings)
    result = {}
    for start, members in groups.items():
        entry: dict[str, Any] = {"n": len(members), "energy": energy.get(start, [0.0, 0.0])}
        last = metrics(members[-1])
        for metric in NAMES:
            values = [v for v in (metrics(r)[metric] for r in members) if v is not None]
            entry[metric] = (min(values, default=None), max(values, default=None), sum(values), len(values))
            entry[f"{metric}_last"] = last[metric]
        result[start] = entry
    return result


def as_brute(bucket: Bucket) -> dict[str, Any]:
    entry: dict[str, Any] = {"n": bucket.n, "energy": [bucket.charged_wh, bucket.discharged_wh]}
    for i, metric in enumerate(NAMES):
        entry[metric] = (bucket.mins[i], bucket.maxs[i], bucket.sums[i], bucket.counts[i])
        entry[f"{metric}_last"] = bucket.lasts[i]
    return entry


def flat(buckets: dict[int, dict[str, Any]]) -> dict[tuple[int, str, int], float | None]:
    out = {}
    for start, entry in buckets.items():
        for key, value in entry.items():
            for i, item in enumerate(value if isinstance(value, tuple | list) else (value,)):
                out[(start, key, i)] = item
    return out


def assert_close(actual: dict[int, dict[str, Any]], expected: dict[int, dict[str, Any]], what: str) -> None:
    assert sorted(actual) == sorted(expected), what
    got, want = flat(actual), flat(expected)
    assert sorted(got) == sorted(want), what
    for key, value in want.items():
        if value is None or got[key] is None:
            assert got[key] == value, (what, key)
        else:
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (what, key)


# --- storage helpers -----------------------------------------------------------------------------


async def all_buckets(store: TenantStore, name: str) -> dict[int, Bucket]:
    found: dict[int, Bucket] = {}
    async for chunk in store.iter_buckets("pack", name, None, None, chunk=7):  # small chunks: paging too
        found.update((b.start, b) for b in chunk)
    return found


async def check_against_brute_force(store: TenantStore) -> None:
    readings = await store.history("pack", None, None, 100_000)
    for name in BY_NAME:
        stored = {start: as_brute(b) for start, b in (await all_buckets(store, name)).items()}
        assert_close(stored, brute_force(name, readings), name)


async def open_store(location: Location, tenant: str | None = None) -> tuple[Storage, TenantStore]:
    """Open the test's database; without ``tenant`` a new tenant (with its battery) for a new example."""
    storage = location.make()
    await storage.open()
    if tenant is None:
        tenant = f"t{uuid.uuid4().hex}"
        await add_tenant(storage, tenant)
    store = storage.for_tenant(tenant)
    await store.ensure_battery("pack", "Pack", "daly")
    return storage, store


# --- generated series ------------------------------------------------------------------------------


def on_grid(low: int, high: int, scale: int) -> st.SearchStrategy[float | None]:
    return st.none() | st.integers(low, high).map(lambda n: n / scale)


gaps = st.one_of(
    st.integers(1, 120_000),
    st.sampled_from([299_999, 300_000, 300_001]),  # the longest integrated interval and just past it
    st.integers(300_001, 3 * 86_400_000),  # outages, across days and the month end
)


@st.composite
def series(draw: st.DrawFn) -> list[Reading]:
    count = draw(st.integers(1, 40))
    moments, ms = [], draw(st.integers(0, 600_000))
    for _ in range(count):
        moments.append(T0 + ms * MS)
        ms += draw(gaps)
    readings = []
    for moment in moments:
        cells = draw(st.lists(st.integers(2500, 3650).map(lambda mv: mv / 1000), max_size=4))
        temps = draw(st.lists(st.integers(-200, 600).map(lambda t: Temperature(t / 10)), max_size=3))
        readings.append(
            Reading(
                "pack",
                timestamp=moment,
                voltage=draw(on_grid(4000, 6000, 100)),
                current=draw(on_grid(-10_000, 10_000, 100)),
                power=draw(st.none() | on_grid(-50_000, 50_000, 10)),  # None: derived from V x I
                soc=draw(on_grid(0, 1000, 10)),
                cells=tuple(cells),
                temperatures=tuple(temps),
            )
        )
    return readings


def batches_of(readings: list[Reading], cuts: list[int]) -> list[list[Reading]]:
    edges = sorted({0, len(readings), *(c % (len(readings) + 1) for c in cuts)})
    return [readings[a:b] for a, b in itertools.pairwise(edges) if b > a]


# The database fixture is shared by the examples on purpose: each one writes into a tenant of its own.
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(series(), st.lists(st.integers(0, 40), max_size=6))
def test_incremental_rollups_equal_brute_force(location: Location, readings: list[Reading], cuts: list[int]) -> None:
    async def run() -> None:
        storage, store = await open_store(location)
        try:
            for batch in batches_of(readings, cuts):
                await store.write_readings(batch)
            await check_against_brute_force(store)
        finally:
            await storage.close()

    asyncio.run(run())


@SETTINGS
@given(series(), st.lists(st.integers(0, 40), max_size=6), st.randoms(use_true_random=False), st.booleans())
def test_late_and_repeated_batches_still_equal_brute_force(
    location: Location, readings: list[Reading], cuts: list[int], rng: Any, repeat: bool
) -> None:
    batches = batches_of(readings, cuts)
    rng.shuffle(batches)  # batches arriving out of order
    if repeat and batches:
        batches.append(batches[0])  # a batch written again after an uncertain commit

    async def run() -> None:
        storage, store = await open_store(location)
        try:
            for batch in batches:
                await store.write_readings(batch)
            await check_against_brute_force(store)
        finally:
            await storage.close()

    asyncio.run(run())


@SETTINGS
@given(series(), st.integers(0, 40))
def test_a_restart_between_batches_keeps_integrating(location: Location, readings: list[Reading], cut: int) -> None:
    """A new storage object (empty memory) finds the previous reading in the database."""

    async def run() -> None:
        storage, store = await open_store(location)
        await storage.close()
        for batch in batches_of(readings, [cut]):
            storage, store = await open_store(location, store.tenant_id)
            await store.write_readings(batch)
            await storage.close()
        storage, store = await open_store(location, store.tenant_id)
        try:
            await check_against_brute_force(store)
        finally:
            await storage.close()

    asyncio.run(run())


@SETTINGS
@given(series(), st.lists(st.integers(0, 40), max_size=6))
def test_rebuild_equals_incremental(location: Location, readings: list[Reading], cuts: list[int]) -> None:
    async def run() -> None:
        storage, store = await open_store(location)
        try:
            for batch in batches_of(readings, cuts):
                await store.write_readings(batch)
            before = {name: await all_buckets(store, name) for name in BY_NAME}
            await sql(storage, "UPDATE rollups SET voltage_max = 999, charged_wh = -1")  # spoil
            written = await store.rebuild_rollups("pack")
            after = {name: await all_buckets(store, name) for name in BY_NAME}
            assert written == len(before["5m"])
            for name in BY_NAME:
                rebuilt = {k: as_brute(b) for k, b in after[name].items()}
                assert_close(rebuilt, {k: as_brute(b) for k, b in before[name].items()}, name)
        finally:
            await storage.close()

    asyncio.run(run())
