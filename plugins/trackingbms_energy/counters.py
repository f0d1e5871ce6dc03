"""Energy charged/discharged and equivalent full cycles: counters that only ever increase."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from hub.reading import Reading
from trackingbms_energy.integrate import Trapezoid
from trackingbms_energy.settings import BatterySettings, capacity_ah

STATE_VERSION = 1


class Calculator(Protocol):
    """One concern's per-battery calculation, restorable from a JSON state."""

    def update(self, reading: Reading, seconds: float | None = None) -> None:
        """Take one reading into account (``seconds``: its timestamp as epoch seconds, if known)."""

    def to_state(self) -> dict[str, Any]:
        """The JSON object to persist."""

    def values(self) -> dict[str, float | None]:
        """The published results, by analytics field name."""


def stored_number(state: Mapping[str, Any], key: str, *, default: float | None = 0.0) -> float | None:
    """A finite, non-negative number from a saved state; ValueError when it is anything else."""
    value = state.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"saved {key!r} is not a non-negative number: {value!r}")
    return float(value)


def reading_power(reading: Reading) -> float | None:
    """The reading's power (W), or voltage times current when the driver gave none."""
    if reading.power is not None:
        return reading.power
    if reading.voltage is not None and reading.current is not None:
        return reading.voltage * reading.current
    return None


class EnergyCounter:
    """Integrates power into kWh charged (power > 0) and discharged (power < 0)."""

    def __init__(self, settings: BatterySettings, charged_kwh: float = 0.0, discharged_kwh: float = 0.0) -> None:
        self.charged_kwh = charged_kwh
        self.discharged_kwh = discharged_kwh
        self._power = Trapezoid(settings.max_gap_s)

    @classmethod
    def from_state(cls, settings: BatterySettings, state: Mapping[str, Any] | None) -> EnergyCounter:
        """Restore the counters (the integration restarts at the next reading)."""
        if not state:
            return cls(settings)
        return cls(
            settings,
            stored_number(state, "charged_kwh") or 0.0,
            stored_number(state, "discharged_kwh") or 0.0,
        )

    def update(self, reading: Reading, seconds: float | None = None) -> None:
        """Add the energy since the previous reading."""
        power = reading.power  # reading_power(), inlined: this runs per reading
        if power is None and reading.voltage is not None and reading.current is not None:
            power = reading.voltage * reading.current
        interval = self._power.step(reading.timestamp.timestamp() if seconds is None else seconds, power)
        if interval is not None:
            # Clamped: with subnormal powers the split's float rounding can give -1e-287, and the
            # counters must never decrease (hypothesis found it, test_energy_counters_never_decrease...).
            self.charged_kwh += max(0.0, interval.positive / 1000.0)
            self.discharged_kwh += max(0.0, interval.negative / 1000.0)

    def to_state(self) -> dict[str, Any]:
        """The counters."""
        return {"version": STATE_VERSION, "charged_kwh": self.charged_kwh, "discharged_kwh": self.discharged_kwh}

    def values(self) -> dict[str, float | None]:
        """energy_charged_kwh and energy_discharged_kwh."""
        return {"energy_charged_kwh": self.charged_kwh, "energy_discharged_kwh": self.discharged_kwh}


class CycleCounter:
    """Equivalent full cycles: discharged ampere-hours divided by the rated capacity."""

    def __init__(self, settings: BatterySettings, discharged_ah: float = 0.0, cycles: float = 0.0) -> None:
        self.settings = settings
        self.discharged_ah = discharged_ah
        self.cycles = cycles
        self._current = Trapezoid(settings.max_gap_s)

    @classmethod
    def from_state(cls, settings: BatterySettings, state: Mapping[str, Any] | None) -> CycleCounter:
        """Restore the totals."""
        if not state:
            return cls(settings)
        return cls(settings, stored_number(state, "discharged_ah") or 0.0, stored_number(state, "cycles") or 0.0)

    def update(self, reading: Reading, seconds: float | None = None) -> None:
        """Add the charge discharged since the previous reading, as Ah and as a fraction of a cycle."""
        interval = self._current.step(reading.timestamp.timestamp() if seconds is None else seconds, reading.current)
        if interval is None:
            return
        self.discharged_ah += interval.negative
        capacity = capacity_ah(reading, self.settings)
        if capacity is not None:
            # Counted per interval, so a capacity that changes later does not rescale the past.
            self.cycles += interval.negative / capacity

    def to_state(self) -> dict[str, Any]:
        """The totals."""
        return {"version": STATE_VERSION, "discharged_ah": self.discharged_ah, "cycles": self.cycles}

    def values(self) -> dict[str, float | None]:
        """equivalent_cycles."""
        return {"equivalent_cycles": self.cycles}
