"""Rollup classes, per-bucket statistics and energy integration (pure: no I/O).

A rollup bucket keeps, for every metric, min / max / sum / count / last, plus the number of
readings, the timestamp of the newest one and the energy charged and discharged in the bucket.
Buckets merge exactly (min of mins, sums of sums, newest last), so a coarser class is the merge
of the finer one and a bucket can be updated one batch at a time.

Energy is the trapezoid of power between consecutive readings, power taken as linear between
them; an interval longer than ``MAX_GAP_MS`` (or with a reading lacking power) adds nothing. An
interval that crosses a 5-minute boundary is split there (power interpolated), so each bucket
gets exactly the energy that flowed inside it and every coarser class is the sum of finer ones.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import add, attrgetter
from typing import Any

from hub.storage.packing import cell_millivolts, temperature_tenths, to_millis

METRICS = ("voltage", "current", "power", "soc", "cell_min", "cell_max", "cell_delta", "temperature_max")
ENERGY = ("charged_wh", "discharged_wh")
POWER = METRICS.index("power")
STATS = ("min", "max", "sum", "count", "last")
MAX_GAP_MS = 300_000
MS_PER_HOUR = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# sum() of floats adds in order up to Python 3.11, as Bucket.add and the SQL upsert do; from 3.12 it
# compensates (different last bits), so there the in-order reduce is used.
_PLAIN_SUM = sys.version_info < (3, 12)
_TS = attrgetter("ts")

Values = tuple[float | None, ...]  # one value per metric, in METRICS order


@dataclass(frozen=True, slots=True)
class Resolution:
    """A rollup class: fixed-width buckets (``width_ms``) or calendar months (width 0), in UTC."""

    name: str
    width_ms: int

    @property
    def nominal_ms(self) -> int:
        """Average bucket width (a month counts as 1/12 of 365.25 days)."""
        return self.width_ms or 2_629_800_000

    def floor(self, ms: int) -> int:
        """Start of the bucket holding ``ms``."""
        if self.width_ms:
            return ms - ms % self.width_ms
        moment = _EPOCH + timedelta(milliseconds=ms)
        return to_millis(datetime(moment.year, moment.month, 1, tzinfo=UTC))

    def step(self, start: int, count: int = 1) -> int:
        """Start of the bucket ``count`` buckets after the one starting at ``start``."""
        if self.width_ms:
            return start + count * self.width_ms
        moment = _EPOCH + timedelta(milliseconds=start)
        months = moment.year * 12 + moment.month - 1 + count
        return to_millis(datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC))

    def ceil(self, ms: int) -> int:
        """Start of the first bucket starting at or after ``ms``."""
        start = self.floor(ms)
        return start if start == ms else self.step(start)


FIVE_MIN = Resolution("5m", 300_000)
CLASSES = (FIVE_MIN, Resolution("1h", 3_600_000), Resolution("1d", 86_400_000), Resolution("1mo", 0))
BY_NAME = {c.name: c for c in CLASSES}


def finer(resolution: Resolution) -> Resolution | None:
    """The class a class is built from (None for 5-minute, which is built from raw readings)."""
    index = CLASSES.index(resolution)
    return CLASSES[index - 1] if index else None


@dataclass(frozen=True, slots=True)
class Sample:
    """One raw reading reduced to its metrics; ``values`` in METRICS order."""

    ts: int
    values: Values

    @property
    def power(self) -> float | None:
        """The reading's power (W), derived from voltage and current when it was not stored."""
        return self.values[POWER]


def _scaled(value: int | None, scale: float) -> float | None:
    return None if value is None else value / scale


def sample_from_columns(
    ts: int, voltage: int | None, current: int | None, power: int | None, soc: int | None, cells: Any, temps: Any
) -> Sample:
    """A sample from packed columns, computed as ``packing.from_row`` + ``Reading.with_derived`` do."""
    volts, amps = _scaled(voltage, 100), _scaled(current, 100)
    watts = _scaled(power, 10)
    if watts is None and volts is not None and amps is not None:
        watts = round(volts * amps, 3)
    # Extremes taken on the stored integers, then scaled: the same floats as scaling every value
    # first (division is monotonic), without building a float per cell.
    millivolts = cell_millivolts(cells)
    low = min(millivolts) / 1000 if millivolts else None
    high = max(millivolts) / 1000 if millivolts else None
    delta = round(high - low, 4) if high is not None and low is not None else None
    tenths = temperature_tenths(temps)
    hottest = max(tenths) / 10 if tenths else None
    return Sample(ts, (volts, amps, watts, _scaled(soc, 10), low, high, delta, hottest))


def _pick(a: float | None, b: float | None, smaller: bool) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b) if smaller else max(a, b)


@dataclass(slots=True)
class Bucket:
    """Statistics of one bucket; lists are indexed like METRICS."""

    start: int
    n: int = 0
    last_ts: int | None = None
    charged_wh: float = 0.0
    discharged_wh: float = 0.0
    mins: list[float | None] = field(default_factory=lambda: [None] * len(METRICS))
    maxs: list[float | None] = field(default_factory=lambda: [None] * len(METRICS))
    sums: list[float] = field(default_factory=lambda: [0.0] * len(METRICS))
    counts: list[int] = field(default_factory=lambda: [0] * len(METRICS))
    lasts: list[float | None] = field(default_factory=lambda: [None] * len(METRICS))

    def add(self, sample: Sample) -> None:
        """Count one reading (readings may come in any order)."""
        self.n += 1
        newest = self.last_ts is None or sample.ts >= self.last_ts
        mins, maxs, sums, counts = self.mins, self.maxs, self.sums, self.counts
        for i, value in enumerate(sample.values):
            if value is not None:  # inlined _pick: this runs for every metric of every reading
                low, high = mins[i], maxs[i]
                if low is None or value < low:
                    mins[i] = value
                if high is None or value > high:
                    maxs[i] = value
                sums[i] += value
                counts[i] += 1
        if newest:
            self.last_ts = sample.ts
            self.lasts = list(sample.values)

    def add_all(self, samples: Sequence[Sample]) -> None:
        """Count several readings: the same as :meth:`add` of each in turn, a column at a time."""
        if not samples:
            return
        self.n += len(samples)
        mins, maxs, sums, counts = self.mins, self.maxs, self.sums, self.counts
        for i, column in enumerate(zip(*[sample.values for sample in samples], strict=True)):
            values = [v for v in column if v is not None] if None in column else column
            if not values:
                continue
            # min()/max() keep the first of equal values, as add()'s strict comparisons do.
            low, high = min(values), max(values)
            known_low, known_high = mins[i], maxs[i]
            if known_low is None or low < known_low:
                mins[i] = low
            if known_high is None or high > known_high:
                maxs[i] = high
            sums[i] = sum(values, sums[i]) if _PLAIN_SUM else reduce(add, values, sums[i])
            counts[i] += len(values)
        newest = max(reversed(samples), key=_TS)  # the last of the newest, as add()'s >= keeps
        if self.last_ts is None or newest.ts >= self.last_ts:
            self.last_ts = newest.ts
            self.lasts = list(newest.values)

    def merge(self, other: Bucket) -> None:
        """Fold another bucket's statistics into this one (the SQL upsert does the same)."""
        self.n += other.n
        self.charged_wh += other.charged_wh
        self.discharged_wh += other.discharged_wh
        for i in range(len(METRICS)):
            self.mins[i] = _pick(self.mins[i], other.mins[i], True)
            self.maxs[i] = _pick(self.maxs[i], other.maxs[i], False)
            self.sums[i] += other.sums[i]
            self.counts[i] += other.counts[i]
        if other.last_ts is not None and (self.last_ts is None or other.last_ts >= self.last_ts):
            self.last_ts = other.last_ts
            self.lasts = list(other.lasts)

    def mean(self, index: int) -> float | None:
        """Mean of a metric over the bucket (None when no reading had it)."""
        return self.sums[index] / self.counts[index] if self.counts[index] else None

    def stat_values(self) -> list[Any]:
        """Per-metric statistics flattened in column order (metric by metric, STATS order)."""
        out: list[Any] = []
        for i in range(len(METRICS)):
            out += [self.mins[i], self.maxs[i], self.sums[i], self.counts[i], self.lasts[i]]
        return out

    @classmethod
    def from_values(cls, start: int, head: Sequence[Any], stats: Sequence[Any]) -> Bucket:
        """Inverse of (n, last_ts, charged, discharged) + :meth:`stat_values`."""
        k = len(STATS)  # metric by metric: min, max, sum, count, last
        return cls(
            start,
            int(head[0]),
            head[1],
            float(head[2]),
            float(head[3]),
            list(stats[0::k]),
            list(stats[1::k]),
            [float(v) for v in stats[2::k]],
            [int(v) for v in stats[3::k]],
            list(stats[4::k]),
        )


def split_energy(p0: float, p1: float, ms: int) -> tuple[float, float]:
    """Wh charged and discharged (both ≥ 0) while power goes linearly from p0 to p1 over ``ms``."""
    hours = ms / MS_PER_HOUR
    if p0 >= 0 and p1 >= 0:
        return (p0 + p1) / 2 * hours, 0.0
    if p0 <= 0 and p1 <= 0:
        return 0.0, -(p0 + p1) / 2 * hours
    zero = hours * p0 / (p0 - p1)  # hours from the first reading until power crosses zero
    first, second = abs(p0) * zero / 2, abs(p1) * (hours - zero) / 2
    return (first, second) if p0 > 0 else (second, first)


def _integrate(buckets: dict[int, Bucket], prev: Sample, cur: Sample, window: tuple[int, int] | None) -> None:
    """Add the energy between two consecutive readings to the 5-minute buckets it flowed in."""
    p0, p1 = prev.values[POWER], cur.values[POWER]
    span = cur.ts - prev.ts
    if p0 is None or p1 is None or span <= 0 or span > MAX_GAP_MS:
        return
    t, p = prev.ts, p0
    width = FIVE_MIN.width_ms
    while t < cur.ts:
        start = t - t % width  # FIVE_MIN.floor(t)
        t_next = min(start + width, cur.ts)
        p_next = p1 if t_next == cur.ts else p0 + (p1 - p0) * (t_next - prev.ts) / span
        if window is None or window[0] <= start < window[1]:
            charged, discharged = split_energy(p, p_next, t_next - t)
            bucket = buckets.get(start)
            if bucket is None:
                bucket = buckets[start] = Bucket(start)
            bucket.charged_wh += charged
            bucket.discharged_wh += discharged
        t, p = t_next, p_next


def _add_energy(buckets: dict[int, Bucket], start: int, p0: float | None, p1: float | None, span: int) -> None:
    """``_integrate`` of an interval inside the bucket at ``start`` (the same arithmetic, one step)."""
    if p0 is None or p1 is None or span <= 0 or span > MAX_GAP_MS:
        return
    charged, discharged = split_energy(p0, p1, span)
    bucket = buckets.get(start)
    if bucket is None:
        bucket = buckets[start] = Bucket(start)
    bucket.charged_wh += charged
    bucket.discharged_wh += discharged


def aggregate(
    samples: Iterable[Sample], prev: Sample | None = None, window: tuple[int, int] | None = None
) -> dict[int, Bucket]:
    """5-minute buckets of time-ordered samples; ``prev`` is the reading before the first one.

    With a ``window`` [start, end) (5-minute aligned) only readings and energy inside it count;
    pass the readings up to MAX_GAP_MS either side of it so intervals crossing its edges are split.
    """
    buckets: dict[int, Bucket] = {}
    members: dict[int, list[Sample]] = {}  # each bucket's readings, counted at the end in one go
    width = FIVE_MIN.width_ms
    for sample in samples:
        ts = sample.ts
        if window is None or window[0] <= ts < window[1]:
            start = ts - ts % width  # FIVE_MIN.floor(ts)
            group = members.get(start)
            if group is None:
                members[start] = [sample]
                if start not in buckets:  # created in the same order as one add() at a time would
                    buckets[start] = Bucket(start)
            else:
                group.append(sample)
        if prev is not None:
            first = prev.ts - prev.ts % width
            if window is None and ts <= first + width:  # the common case: one bucket, no loop
                _add_energy(buckets, first, prev.values[POWER], sample.values[POWER], ts - prev.ts)
            else:
                _integrate(buckets, prev, sample, window)
        prev = sample
    for start, group in members.items():
        buckets[start].add_all(group)
    return buckets


def samples_by_battery(metrics: Mapping[int, Mapping[int, Values]]) -> dict[int, list[Sample]]:
    """Time-ordered samples per battery_pk from ``packing.pack_batch``'s metrics."""
    return {pk: [Sample(ts, found[ts]) for ts in sorted(found)] for pk, found in metrics.items()}


def fold(buckets: Iterable[Bucket], resolution: Resolution) -> dict[int, Bucket]:
    """Merge buckets of a finer class into buckets of ``resolution``."""
    out: dict[int, Bucket] = {}
    for bucket in buckets:
        start = resolution.floor(bucket.start)
        out.setdefault(start, Bucket(start)).merge(bucket)
    return out


def rollup_all(five_minute: dict[int, Bucket]) -> dict[str, dict[int, Bucket]]:
    """Every class's buckets from 5-minute buckets."""
    result = {FIVE_MIN.name: five_minute}
    current = five_minute
    for resolution in CLASSES[1:]:
        current = fold(current.values(), resolution)
        result[resolution.name] = current
    return result


def from_millis(ms: int) -> datetime:
    """The aware UTC time of ms since the epoch (exact, unlike float seconds)."""
    return _EPOCH + timedelta(milliseconds=ms)


def iso(ms: int) -> str:
    """An ISO-8601 UTC timestamp ending in Z (as readings are serialized)."""
    return from_millis(ms).isoformat().replace("+00:00", "Z")


def downsampled(rows: Iterable[Sequence[Any]], origin: int, width: int) -> list[Bucket]:
    """Buckets from the rows of :func:`downsample_sql`."""
    buckets = []
    for record in rows:
        row = tuple(record)  # an asyncpg Record does not slice with a step
        buckets.append(Bucket.from_values(origin + int(row[0]) * width, row[1:5], row[5:]))
    return buckets
