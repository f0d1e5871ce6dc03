"""History queries: picks raw readings or a rollup class and downsamples to at most N points.

Downsampling merges rows into equal-width time buckets keeping each bucket's min, max, mean and
last of every metric (and energy sums), so a single spike survives however far one zooms out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from hub.storage.base import TenantStore
from hub.storage.packing import to_millis
from hub.storage.rollups import BY_NAME, CLASSES, ENERGY, METRICS, Bucket, Resolution, Sample, from_millis, iso

RAW = "raw"
AUTO = "auto"
RESOLUTIONS = (AUTO, RAW, *BY_NAME)
UNITS = {
    "voltage": "V",
    "current": "A",
    "power": "W",
    "soc": "%",
    "cell_min": "V",
    "cell_max": "V",
    "cell_delta": "V",
    "temperature_max": "degC",
    "charged_wh": "Wh",
    "discharged_wh": "Wh",
}
FIELDS = (*METRICS, *ENERGY)
_ORDER = (RAW, *BY_NAME)  # finest first
_DIGITS = 6


class HistoryError(ValueError):
    """A parameter that cannot be served (answered as 422)."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def parse_fields(text: str | None) -> tuple[str, ...] | None:
    """A comma list of FIELDS (None when absent); HistoryError naming unknown ones."""
    if text is None:
        return None
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in FIELDS]
    if unknown or not names:
        raise HistoryError("unknown fields" if unknown else "fields is empty", {"unknown": unknown, "allowed": FIELDS})
    return names


def parse_resolution(text: str | None, default: str = AUTO) -> str:
    """One of RESOLUTIONS; HistoryError otherwise."""
    value = text or default
    if value not in RESOLUTIONS:
        raise HistoryError(f"resolution must be one of {', '.join(RESOLUTIONS)}", {"resolution": text})
    return value


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """What to read. ``limit`` (legacy) caps full raw readings; ``metrics_only`` never returns them."""

    battery_id: str
    start: datetime | None = None
    end: datetime | None = None
    resolution: str = AUTO
    points: int = 1000
    fields: tuple[str, ...] | None = None
    limit: int | None = None
    metrics_only: bool = False


@dataclass(slots=True)
class HistoryResult:
    """Rows (JSON-ready), meta, and the metric fields and shape of the rows (for CSV)."""

    data: list[dict[str, Any]]
    meta: dict[str, Any]
    fields: tuple[str, ...]
    aggregated: bool


def choose_resolution(
    start: int, end: int, points: int, oldest: dict[str, int], energy: bool = False
) -> tuple[str, str | None]:
    """The coarsest class giving at least points/2 buckets over [start, end] (raw when none does;
    5-minute at least when energy is asked), then coarser while the pick was pruned before
    ``start`` and a coarser class still holds that time. Returns (resolution, reason)."""
    choice = next((c.name for c in reversed(CLASSES) if (end - start) / c.nominal_ms >= points / 2), RAW)
    if energy and choice == RAW:
        choice = CLASSES[0].name
    index, reason = _ORDER.index(choice), None
    while index + 1 < len(_ORDER) and _pruned_before(start, _ORDER[index], _ORDER[index + 1], oldest):
        index, reason = index + 1, f"{_ORDER[index]} kept only from {iso(oldest[_ORDER[index]])}"
    return _ORDER[index], reason


def _pruned_before(start: int, name: str, coarser: str, oldest: dict[str, int]) -> bool:
    here, there = oldest.get(name), oldest.get(coarser)
    return here is not None and there is not None and start < here and there < BY_NAME[coarser].floor(here)


@runtime_checkable
class SqlDownsampling(Protocol):
    """A store that merges rollup buckets into downsampled groups in its database."""

    async def downsample_buckets(
        self, battery_id: str, resolution: str, span: tuple[datetime, datetime], origin: int, width: int
    ) -> list[Bucket]:
        """A class's buckets in span merged into groups of ``width`` ms from ``origin``."""


class Downsampler:
    """Merges rows into at most ``points`` buckets of equal width from ``origin``."""

    def __init__(self, origin: int, end: int, points: int, unit: Resolution | None) -> None:
        width = -(-(end - origin + 1) // points)
        step = unit.width_ms if unit is not None and unit.width_ms else 1000
        width = -(-width // step) * step  # whole rollup buckets, or whole seconds
        self.origin, self.width = origin, max(width, 1)
        self.buckets: dict[int, Bucket] = {}

    def _bucket(self, ts: int) -> Bucket:
        key = max(0, (ts - self.origin) // self.width)
        found = self.buckets.get(key)
        if found is None:
            found = self.buckets[key] = Bucket(self.origin + key * self.width)
        return found

    def add_samples(self, samples: Sequence[Sample]) -> None:
        """Raw readings."""
        for sample in samples:
            self._bucket(sample.ts).add(sample)

    def add_buckets(self, buckets: Sequence[Bucket]) -> None:
        """Rollup buckets (each falls whole into one downsampled bucket)."""
        for bucket in buckets:
            self._bucket(bucket.start).merge(bucket)

    def result(self) -> list[Bucket]:
        """Buckets oldest first."""
        return [self.buckets[k] for k in sorted(self.buckets)]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _DIGITS)


def sample_row(sample: Sample, fields: Sequence[str]) -> dict[str, Any]:
    """One raw reading with the chosen metrics."""
    return {"timestamp": iso(sample.ts), **{f: sample.values[METRICS.index(f)] for f in fields}}


# Per metric: its index and the keys of its row entries, built once (a year's answer has ~1,000 rows).
_KEYS = {name: (i, name, f"{name}_min", f"{name}_max", f"{name}_last") for i, name in enumerate(METRICS)}


def bucket_row(bucket: Bucket, fields: Sequence[str]) -> dict[str, Any]:
    """One bucket: per metric its mean (under the metric's name), min, max and last; energy sums."""
    row: dict[str, Any] = {"timestamp": iso(bucket.start), "samples": bucket.n}
    sums, counts, mins, maxs, lasts = bucket.sums, bucket.counts, bucket.mins, bucket.maxs, bucket.lasts
    for name in fields:
        keys = _KEYS.get(name)
        if keys is None:  # energy
            row[name] = _round(bucket.charged_wh if name == "charged_wh" else bucket.discharged_wh)
            continue
        i, mean, low, high, last = keys
        row[mean] = round(sums[i] / counts[i], _DIGITS) if counts[i] else None
        row[low], row[high], row[last] = mins[i], maxs[i], lasts[i]
    return row


async def _full_readings(store: TenantStore, query: HistoryQuery, cap: int) -> HistoryResult:
    readings = await store.history(query.battery_id, query.start, query.end, cap)
    meta: dict[str, Any] = {"count": len(readings), "limit": cap, "truncated": len(readings) == cap}
    meta |= {"resolution": RAW, "table": "readings", "aggregated": False, "downsampled": False}
    return HistoryResult([r.to_dict() for r in readings], meta, (), False)


async def _metric_rows(
    store: TenantStore, query: HistoryQuery, resolution: str, span: tuple[int, int], fields: tuple[str, ...]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    start, end = (from_millis(ms) for ms in span)
    total = await store.count_rows(query.battery_id, resolution, start, end)
    unit = BY_NAME.get(resolution)
    sampler = None
    if total > query.points:
        sampler = Downsampler(unit.floor(span[0]) if unit else span[0], span[1], query.points, unit)
    rows: list[dict[str, Any]] = []
    if sampler and unit is not None and isinstance(store, SqlDownsampling):
        # Thousands of buckets merged in SQL: only the groups leave the database (a year of hours
        # to 1,000 points costs a few ms instead of ~100 us per bucket merged in Python).
        merged = await store.downsample_buckets(
            query.battery_id, resolution, (start, end), sampler.origin, sampler.width
        )
        rows = [bucket_row(b, fields) for b in merged]
    elif unit is None:
        async for samples in store.iter_samples(query.battery_id, start, end):
            if sampler:
                sampler.add_samples(samples)
            else:
                rows += (sample_row(s, fields) for s in samples)
    else:
        async for buckets in store.iter_buckets(query.battery_id, resolution, start, end):
            if sampler:
                sampler.add_buckets(buckets)
            else:
                rows += (bucket_row(b, fields) for b in buckets)
    if sampler and sampler.buckets:
        rows = [bucket_row(b, fields) for b in sampler.result()]
    bucket_s = sampler.width / 1000 if sampler else (unit.nominal_ms / 1000 if unit else None)
    meta = {"total": total, "downsampled": sampler is not None, "bucket_s": bucket_s}
    return rows, {**meta, "aggregated": sampler is not None or unit is not None}


async def run_history(store: TenantStore, query: HistoryQuery, now: datetime) -> HistoryResult:
    """Answer a history query."""
    energy = bool(query.fields) and any(f in ENERGY for f in query.fields or ())
    if query.resolution == RAW and energy:
        raise HistoryError("energy fields exist only in rollups (5m, 1h, 1d, 1mo)", {"fields": query.fields})
    oldest = {name: to_millis(moment) for name, moment in (await store.data_start(query.battery_id)).items()}
    end = to_millis(query.end or now)
    start = min(to_millis(query.start) if query.start else min(oldest.values(), default=end), end)
    reason = None
    resolution = query.resolution
    if resolution == AUTO:
        resolution, reason = choose_resolution(start, end, query.points, oldest, energy)
    if resolution == RAW and query.fields is None and not query.metrics_only:
        cap = query.limit or query.points
        legacy = query.resolution == RAW or query.limit is not None
        if legacy or await store.count_rows(query.battery_id, RAW, query.start, query.end) <= cap:
            return await _full_readings(store, query, cap)
    fields = query.fields or (METRICS if resolution == RAW else FIELDS)
    rows, meta = await _metric_rows(store, query, resolution, (start, end), fields)
    meta |= {
        "count": len(rows),
        "resolution": resolution,
        "requested": query.resolution,
        "table": "readings" if resolution == RAW else "rollups",
        "points": query.points,
        "fields": list(fields),
        "from": iso(start),
        "to": iso(end),
    }
    if reason:
        meta["reason"] = reason
    return HistoryResult(rows, meta, fields, meta["aggregated"])
