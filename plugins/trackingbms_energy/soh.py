"""State-of-health estimate: capacity measured over discharge windows that start at full."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.reading import Reading
from trackingbms_energy.counters import STATE_VERSION, stored_number
from trackingbms_energy.integrate import Interval, Skip, Trapezoid
from trackingbms_energy.settings import BatterySettings, capacity_ah, depth_of_discharge, is_full
from trackingbms_energy.soc import clamp_percent

# A window ends once the pack has taken back this fraction of its capacity after its deepest point.
RECHARGE_END_FRACTION = 0.05


@dataclass(slots=True)
class Window:
    """A discharge from full: net Ah out so far, and the deepest point reached."""

    discharged_ah: float = 0.0
    deepest_ah: float = 0.0
    deepest_dod: float = 0.0


class SohEstimator:
    """Capacity = Ah out ÷ depth of discharge (extrapolated to 100 %), compared to the rated capacity."""

    def __init__(
        self,
        settings: BatterySettings,
        soh: float | None = None,
        capacity_measured_ah: float | None = None,
        samples: int = 0,
    ) -> None:
        self.settings = settings
        self.soh = soh  # the smoothed estimate (%), unclamped
        self.capacity_measured_ah = capacity_measured_ah  # the latest window's capacity
        self.samples = samples
        self.window: Window | None = None  # open from a full reading until the discharge ends
        self._current = Trapezoid(settings.max_gap_s)

    @classmethod
    def from_state(cls, settings: BatterySettings, state: Mapping[str, Any] | None) -> SohEstimator:
        """Restore the estimate; a window open at shutdown is not resumed (its count has a hole)."""
        if not state:
            return cls(settings)
        return cls(
            settings,
            stored_number(state, "soh", default=None),
            stored_number(state, "capacity_measured_ah", default=None),
            int(stored_number(state, "samples") or 0),
        )

    def update(self, reading: Reading, seconds: float | None = None) -> None:
        """Open a window at full, count the charge out, close it at empty or once recharging."""
        interval = self._current.step(reading.timestamp.timestamp() if seconds is None else seconds, reading.current)
        if is_full(reading, self.settings):
            self.window = Window()
            return
        if self.window is None or (interval is None and self._current.skipped == Skip.STALE):
            return
        if interval is None:
            self.window = None  # a gap or a missing current: the count is incomplete
            return
        self._extend(self.window, interval, reading)

    def _extend(self, window: Window, interval: Interval, reading: Reading) -> None:
        window.discharged_ah -= interval.net
        dod = depth_of_discharge(reading, self.settings)
        if dod is not None and dod >= window.deepest_dod and window.discharged_ah > 0:
            window.deepest_dod, window.deepest_ah = dod, window.discharged_ah
        capacity = capacity_ah(reading, self.settings)
        recharged = capacity is not None and window.discharged_ah < window.deepest_ah - RECHARGE_END_FRACTION * capacity
        if (dod is not None and dod >= 100.0) or recharged:
            self._close(window, capacity)
            self.window = None

    def _close(self, window: Window, rated_ah: float | None) -> None:
        if rated_ah is None or window.deepest_ah <= 0 or window.deepest_dod < self.settings.soh_min_dod_pct:
            return  # too shallow (or no rated capacity to compare with): no sample
        measured = window.deepest_ah * 100.0 / window.deepest_dod
        sample = 100.0 * measured / rated_ah
        alpha = self.settings.soh_ema_alpha
        self.soh = sample if self.soh is None else self.soh + alpha * (sample - self.soh)
        self.capacity_measured_ah = measured
        self.samples += 1

    @property
    def estimate(self) -> float | None:
        """The estimate as published, limited to 0-100 %."""
        return None if self.soh is None else clamp_percent(self.soh)

    def fill(self, reading: Reading) -> Reading:
        """The reading with ``soh`` set from the estimate when the BMS gave none."""
        estimate = self.estimate
        if reading.soh is not None or estimate is None:
            return reading
        return reading.replace(soh=round(estimate, 1))

    def to_state(self) -> dict[str, Any]:
        """The estimate."""
        return {
            "version": STATE_VERSION,
            "soh": self.soh,
            "capacity_measured_ah": self.capacity_measured_ah,
            "samples": self.samples,
        }

    def values(self) -> dict[str, float | None]:
        """soh_estimate and capacity_measured_ah."""
        return {"soh_estimate": self.estimate, "capacity_measured_ah": self.capacity_measured_ah}
