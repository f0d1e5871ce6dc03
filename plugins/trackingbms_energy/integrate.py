"""Trapezoid integration of a sampled value over time, split into its positive and negative parts."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

SECONDS_PER_HOUR = 3600.0


class Skip(enum.StrEnum):
    """Why a sample added nothing."""

    START = "start"  # no previous sample to integrate from
    MISSING = "missing"  # the value is absent or not finite: the baseline is dropped
    STALE = "stale"  # the timestamp is not after the previous one: the sample is ignored
    GAP = "gap"  # too long since the previous sample: not integrated, the baseline restarts


@dataclass(frozen=True, slots=True)
class Interval:
    """What one interval between two samples adds: hours, and the positive and negative areas."""

    hours: float
    positive: float  # value·hours while the value was above zero (≥ 0)
    negative: float  # value·hours while it was below zero, as a magnitude (≥ 0)

    @property
    def net(self) -> float:
        """Positive minus negative area."""
        return self.positive - self.negative


def split_trapezoid(start: float, end: float, hours: float) -> tuple[float, float]:
    """The trapezoid area between two samples, as (positive, negative magnitude).

    The value is taken as linear between the samples, so an interval where it changes sign is
    split at the zero crossing and each part is counted on its own side.
    """
    if start >= 0 and end >= 0:
        return (start + end) / 2 * hours, 0.0
    if start <= 0 and end <= 0:
        return 0.0, -(start + end) / 2 * hours
    crossing = hours * start / (start - end)  # time from the start sample to zero
    first, second = start * crossing / 2, end * (hours - crossing) / 2
    return (first, -second) if start > 0 else (second, -first)


@dataclass(slots=True)
class Trapezoid:
    """Integrates samples (time in seconds, value per hour) one at a time; never across long gaps."""

    max_gap_s: float
    last_time: float | None = None
    last_value: float | None = None
    skipped: Skip | None = None  # why the latest sample added nothing (None when it added an interval)

    def step(self, time_s: float, value: float | None) -> Interval | None:
        """Add one sample; the interval since the previous sample, or None (see ``skipped``)."""
        if value is None or not math.isfinite(value) or not math.isfinite(time_s):
            self.last_time = self.last_value = None
            return self._skip(Skip.MISSING)
        if self.last_time is None or self.last_value is None:
            self.last_time, self.last_value = time_s, value
            return self._skip(Skip.START)
        elapsed = time_s - self.last_time
        if elapsed <= 0:
            return self._skip(Skip.STALE)
        previous = self.last_value
        self.last_time, self.last_value = time_s, value
        if elapsed > self.max_gap_s:
            return self._skip(Skip.GAP)
        hours = elapsed / SECONDS_PER_HOUR
        self.skipped = None
        return Interval(hours, *split_trapezoid(previous, value, hours))

    def _skip(self, reason: Skip) -> Interval | None:
        self.skipped = reason
        return None
