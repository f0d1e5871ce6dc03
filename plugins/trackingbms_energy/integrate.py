"""Trapezoid integration of a sampled value over time, split into its positive and negative parts."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from math import isfinite
from typing import NamedTuple

SECONDS_PER_HOUR = 3600.0


class Skip(enum.StrEnum):
    """Why a sample added nothing."""

    START = "start"  # no previous sample to integrate from
    MISSING = "missing"  # the value is absent or not finite: the baseline is dropped
    STALE = "stale"  # the timestamp is not after the previous one: the sample is ignored
    GAP = "gap"  # too long since the previous sample: not integrated, the baseline restarts


class Interval(NamedTuple):
    """What one interval between two samples adds: hours, and the positive and negative areas.

    A named tuple rather than a frozen dataclass: built per reading by every analytics step, and
    a tuple builds in half the time.
    """

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
        # Straight-line code (no helper per outcome): every analytics step runs this per reading.
        if value is None or not isfinite(value) or not isfinite(time_s):
            self.last_time = self.last_value = None
            self.skipped = Skip.MISSING
            return None
        last_time, previous = self.last_time, self.last_value
        if last_time is None or previous is None:
            self.last_time, self.last_value = time_s, value
            self.skipped = Skip.START
            return None
        elapsed = time_s - last_time
        if elapsed <= 0:
            self.skipped = Skip.STALE
            return None
        self.last_time, self.last_value = time_s, value
        if elapsed > self.max_gap_s:
            self.skipped = Skip.GAP
            return None
        hours = elapsed / SECONDS_PER_HOUR
        self.skipped = None
        # split_trapezoid's same-sign cases inline (the same arithmetic), the sign change by the call.
        if previous >= 0 and value >= 0:
            return Interval(hours, (previous + value) / 2 * hours, 0.0)
        if previous <= 0 and value <= 0:
            return Interval(hours, 0.0, -(previous + value) / 2 * hours)
        return Interval(hours, *split_trapezoid(previous, value, hours))
