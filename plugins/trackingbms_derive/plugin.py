"""Built-in processors: drop implausible readings, then fill derived values."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from hub.hookspecs import hookimpl
from hub.reading import Reading
from hub.specs import ProcessorSpec, Registry

_LOGGER = logging.getLogger(__name__)

CONFIG_SCHEMA: dict[Any, Any] = {
    vol.Optional("max_pack_voltage", default=1000.0): vol.All(vol.Coerce(float), vol.Range(min=1)),
    vol.Optional("max_abs_current", default=5000.0): vol.All(vol.Coerce(float), vol.Range(min=1)),
}


class Plausibility:
    """Drops readings that cannot be physical (NaN, SOC outside 0-100, absurd voltage or current)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.max_voltage = float(config.get("max_pack_voltage", 1000.0))
        self.max_current = float(config.get("max_abs_current", 5000.0))
        self.rejected = 0

    def problem(self, reading: Reading) -> str | None:
        """Why a reading is impossible, or None."""
        numbers = [
            reading.voltage,
            reading.current,
            reading.power,
            reading.soc,
            reading.soh,
            reading.cell_delta,
            reading.remaining_capacity_ah,
            reading.rated_capacity_ah,
            *reading.cells,
            *(t.value for t in reading.temperatures),
        ]
        if any(v is not None and not math.isfinite(v) for v in numbers):
            return "non-finite value"
        if any(not -60 <= t.value <= 200 for t in reading.temperatures):
            return "temperature outside -60..200 °C"
        if any(not 0 <= v <= 10 for v in reading.cells):
            return "cell voltage outside 0..10 V"
        if any(not 1 <= i <= 255 for i in reading.balancing):
            return "balancing cell index outside 1..255"
        if reading.soc is not None and not 0 <= reading.soc <= 100:
            return f"soc {reading.soc} outside 0-100 %"
        if reading.voltage is not None and not 0 <= reading.voltage <= self.max_voltage:
            return f"voltage {reading.voltage} V outside 0-{self.max_voltage} V"
        if reading.current is not None and abs(reading.current) > self.max_current:
            return f"current {reading.current} A beyond ±{self.max_current} A"
        return None

    def plausible(self, reading: Reading) -> bool:
        """A quick check, True only when :meth:`problem` finds nothing (False: ask it why)."""
        cells = reading.cells
        # In-range values are finite (NaN fails every comparison); a NaN hidden from min()/max()
        # still makes the sum NaN, and values of 0..10 V cannot overflow it.
        if cells and not (min(cells) >= 0 and max(cells) <= 10 and math.isfinite(sum(cells))):
            return False
        for temperature in reading.temperatures:
            if not -60 <= temperature.value <= 200:
                return False
        for index in reading.balancing:
            if not 1 <= index <= 255:
                return False
        soc, voltage, current = reading.soc, reading.voltage, reading.current
        if soc is not None and not 0 <= soc <= 100:
            return False
        if voltage is not None and not 0 <= voltage <= self.max_voltage:
            return False
        if current is not None and not abs(current) <= self.max_current:
            return False
        for value in (voltage, current, reading.power, reading.soh, reading.cell_delta):  # limits may be inf
            if value is not None and not math.isfinite(value):
                return False
        capacity, rated = reading.remaining_capacity_ah, reading.rated_capacity_ah
        return (capacity is None or math.isfinite(capacity)) and (rated is None or math.isfinite(rated))

    def process(self, reading: Reading) -> Reading | None:
        """Pass a plausible reading, drop and log an impossible one."""
        if self.plausible(reading):
            return reading
        problem = self.problem(reading)
        if problem is None:
            return reading
        self.rejected += 1
        _LOGGER.warning("Dropped an implausible reading of %s: %s", reading.battery_id, problem)
        return None


class Derive:
    """Fills power, cell extremes with 1-based indices, cell delta and state."""

    def process(self, reading: Reading) -> Reading:
        """Return the reading with its derived values."""
        return reading.with_derived()


@hookimpl
def config_schema() -> Mapping[Any, Any]:
    """Limits of the plausibility check."""
    return CONFIG_SCHEMA


@hookimpl
def register_processors(processors: Registry[ProcessorSpec]) -> None:
    """Plausibility first (100), derived values next (200)."""
    processors.add(
        ProcessorSpec("plausibility", lambda cfg: Plausibility(cfg), order=100, description="drops impossible readings")
    )
    processors.add(
        ProcessorSpec("derive", lambda cfg: Derive(), order=200, description="power, cell min/max/delta, state")
    )
