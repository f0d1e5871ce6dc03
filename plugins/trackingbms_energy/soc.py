"""Coulomb-counted state of charge: integrated current against capacity, recalibrated at full."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.reading import Reading
from trackingbms_energy.counters import STATE_VERSION, stored_number
from trackingbms_energy.integrate import Interval, Trapezoid
from trackingbms_energy.settings import BatterySettings, capacity_ah, is_full


def clamp_percent(value: float) -> float:
    """Limit to 0-100 %."""
    return min(100.0, max(0.0, value))


class CoulombSoc:
    """Counts charge in and out; 100 % at full, optionally follows or drifts toward the BMS SOC."""

    def __init__(self, settings: BatterySettings, soc: float | None = None, recalibrations: int = 0) -> None:
        self.settings = settings
        self.soc = soc
        self.recalibrations = recalibrations  # how often "full" reset the count to 100 %
        self._current = Trapezoid(settings.max_gap_s)
        self._last_bms_soc: float | None = None
        self._at_full = False

    @classmethod
    def from_state(cls, settings: BatterySettings, state: Mapping[str, Any] | None) -> CoulombSoc:
        """Restore the count (the integration restarts at the next reading)."""
        if not state:
            return cls(settings)
        soc = stored_number(state, "soc", default=None)
        recalibrations = int(stored_number(state, "recalibrations") or 0)
        return cls(settings, None if soc is None else clamp_percent(soc), recalibrations)

    def update(self, reading: Reading, seconds: float | None = None) -> None:
        """Integrate the current since the previous reading, then apply the recalibrations."""
        interval = self._current.step(reading.timestamp.timestamp() if seconds is None else seconds, reading.current)
        bms_soc, previous_bms = reading.soc, self._last_bms_soc
        self._last_bms_soc = bms_soc
        was_full, self._at_full = self._at_full, is_full(reading, self.settings)
        if self._at_full:
            self.recalibrations += 0 if was_full else 1
            self.soc = 100.0
            return
        if self.soc is None:
            self.soc = None if bms_soc is None else clamp_percent(bms_soc)  # start from the BMS's own value
            return
        if self._jumped(previous_bms, bms_soc):
            assert bms_soc is not None
            self.soc = clamp_percent(bms_soc)
            return
        if interval is not None:
            self.soc = clamp_percent(self._counted(self.soc, interval, reading, bms_soc))

    def _jumped(self, previous: float | None, current: float | None) -> bool:
        threshold = self.settings.soc_jump_pct
        return threshold > 0 and previous is not None and current is not None and abs(current - previous) >= threshold

    def _counted(self, soc: float, interval: Interval, reading: Reading, bms_soc: float | None) -> float:
        capacity = capacity_ah(reading, self.settings)
        if capacity is not None:
            soc += 100.0 * interval.net / capacity
        blend = self.settings.drift_blend_per_hour
        if blend > 0 and bms_soc is not None:
            soc += (bms_soc - soc) * min(1.0, blend * interval.hours)
        return soc

    def to_state(self) -> dict[str, Any]:
        """The count."""
        return {"version": STATE_VERSION, "soc": self.soc, "recalibrations": self.recalibrations}

    def values(self) -> dict[str, float | None]:
        """soc_coulomb."""
        return {"soc_coulomb": self.soc}
