"""Pure building blocks of rule evaluation: trigger/clear hysteresis with delays, and a windowed slope."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class Hysteresis:
    """When a condition has held long enough to raise, or its clear condition long enough to clear.

    The raise and clear conditions come from two levels (trigger and clear), so between them
    neither holds and nothing changes: a signal wandering in that band never flaps. Each
    condition must hold on every sample for ``delay`` seconds (first to last sample); one sample
    where it does not hold, or a sample without a value (``reset``), starts the count again.
    """

    raise_since: datetime | None = None
    clear_since: datetime | None = None

    def step(
        self, now: datetime, raising: bool, clearing: bool, is_open: bool, delay: float, clear_delay: float
    ) -> str | None:
        """Feed one sample; returns "raise", "clear" or None."""
        self.raise_since = (self.raise_since or now) if raising else None
        self.clear_since = (self.clear_since or now) if clearing else None
        if not is_open and self.raise_since is not None and (now - self.raise_since).total_seconds() >= delay:
            return "raise"
        if is_open and self.clear_since is not None and (now - self.clear_since).total_seconds() >= clear_delay:
            return "clear"
        return None

    def reset(self) -> None:
        """Forget both counts (no value in this sample: no evidence either way)."""
        self.raise_since = self.clear_since = None


def levels(value: float, above: bool, trigger: float, clear: float) -> tuple[bool, bool]:
    """(raise condition, clear condition) of a value against its levels; clear is strict so that
    equal levels (no hysteresis band) never make both true."""
    if above:
        return value >= trigger, value < clear
    return value <= trigger, value > clear


@dataclass(slots=True)
class Slope:
    """Samples of the last ``window`` seconds and their least-squares slope (per second)."""

    window: float
    samples: deque[tuple[datetime, float]] = field(default_factory=deque)

    def add(self, now: datetime, value: float) -> float | None:
        """Add a sample; the slope once the samples span at least half the window, else None."""
        if self.samples and now <= self.samples[-1][0]:
            self.samples.clear()  # time went back (clock change, replayed data): start over
        self.samples.append((now, value))
        while (now - self.samples[0][0]).total_seconds() > self.window:
            self.samples.popleft()
        first = self.samples[0][0]
        if len(self.samples) < 2 or (now - first).total_seconds() < self.window / 2:
            return None
        xs = [(t - first).total_seconds() for t, _ in self.samples]
        ys = [v for _, v in self.samples]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        spread = sum((x - mean_x) ** 2 for x in xs)
        if spread == 0:
            return None
        return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
