"""The ``energy:`` config section: defaults, per-battery overrides, and the pack conditions they define."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import voluptuous as vol

from hub.reading import Reading

_POSITIVE = vol.All(vol.Coerce(float), vol.Range(min=0, min_included=False))
_NON_NEGATIVE = vol.All(vol.Coerce(float), vol.Range(min=0))
_PERCENT = vol.All(vol.Coerce(float), vol.Range(min=0, max=100))
_CELL_VOLTAGE = vol.All(vol.Coerce(float), vol.Range(min=0.5, max=10))


def _nullable(validator: Any) -> Any:
    return vol.Any(None, validator)


# Keys a battery may override under ``batteries: {<id>: {...}}``, with their validators.
_BATTERY_VALIDATORS: dict[str, Any] = {
    "capacity_ah": _nullable(_POSITIVE),
    "max_gap_s": _POSITIVE,
    "full_soc": _nullable(_PERCENT),
    "full_cell_voltage": _nullable(_CELL_VOLTAGE),
    "tail_current_a": _NON_NEGATIVE,
    "empty_cell_voltage": _nullable(_CELL_VOLTAGE),
    "soc_jump_pct": _PERCENT,
    "drift_blend_per_hour": _NON_NEGATIVE,
    "soh_min_dod_pct": vol.All(vol.Coerce(float), vol.Range(min=10, max=100)),
    "soh_ema_alpha": vol.All(vol.Coerce(float), vol.Range(min=0, max=1, min_included=False)),
}


@dataclass(frozen=True, slots=True)
class BatterySettings:
    """The settings that apply to one battery (section defaults with its overrides)."""

    capacity_ah: float | None = None  # None: use the reading's rated_capacity_ah
    max_gap_s: float = 300.0  # a longer gap between readings is not integrated
    full_soc: float | None = 99.5  # "full" when the BMS SOC reaches this...
    full_cell_voltage: float | None = 3.55  # ...or the highest cell reaches this (LFP)...
    tail_current_a: float = 5.0  # ...while |current| is at most this
    empty_cell_voltage: float | None = 2.8  # the lowest cell at or below this: 100 % depth of discharge
    soc_jump_pct: float = 0.0  # follow the BMS SOC when it jumps by this much; 0 = off
    drift_blend_per_hour: float = 0.0  # pull toward the BMS SOC by this fraction per hour; 0 = off
    soh_min_dod_pct: float = 70.0  # a discharge window counts for SOH from this depth
    soh_ema_alpha: float = 0.3  # weight of a new SOH sample against the previous estimate


_DEFAULTS = BatterySettings()

CONFIG_SCHEMA: dict[Any, Any] = {
    **{vol.Optional(key, default=getattr(_DEFAULTS, key)): v for key, v in _BATTERY_VALIDATORS.items()},
    vol.Optional("save_interval_s", default=60.0): _POSITIVE,
    vol.Optional("save_every", default=0): vol.All(vol.Coerce(int), vol.Range(min=0)),
    vol.Optional("batteries", default={}): {str: {vol.Optional(k): v for k, v in _BATTERY_VALIDATORS.items()}},
}


@dataclass(frozen=True, slots=True)
class EnergySettings:
    """The whole validated section."""

    defaults: BatterySettings = _DEFAULTS
    overrides: Mapping[str, Mapping[str, Any]] | None = None
    save_interval_s: float = 60.0  # save state at least this often (seconds)
    save_every: int = 0  # ...and after this many readings of a battery; 0 = by time only

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EnergySettings:
        """Build from the validated section (an empty mapping gives the defaults)."""
        names = {f.name for f in fields(BatterySettings)}
        defaults = BatterySettings(**{k: v for k, v in config.items() if k in names})
        return cls(
            defaults=defaults,
            overrides=dict(config.get("batteries") or {}),
            save_interval_s=float(config.get("save_interval_s", 60.0)),
            save_every=int(config.get("save_every", 0)),
        )

    def for_battery(self, battery_id: str) -> BatterySettings:
        """The defaults with this battery's overrides applied."""
        override = (self.overrides or {}).get(battery_id)
        if not override:
            return self.defaults
        values = {f.name: getattr(self.defaults, f.name) for f in fields(BatterySettings)}
        values.update(override)
        return BatterySettings(**values)


def capacity_ah(reading: Reading, settings: BatterySettings) -> float | None:
    """The pack's rated capacity: the configured one, else the one the BMS reports."""
    if settings.capacity_ah is not None:
        return settings.capacity_ah
    rated = reading.rated_capacity_ah
    return rated if rated is not None and math.isfinite(rated) and rated > 0 else None


def is_full(reading: Reading, settings: BatterySettings) -> bool:
    """Full: the current has tapered to the tail and the BMS SOC or the highest cell says so."""
    if reading.current is None or abs(reading.current) > settings.tail_current_a:
        return False
    by_soc = settings.full_soc is not None and reading.soc is not None and reading.soc >= settings.full_soc
    cell_max = reading.cell_max.voltage if reading.cell_max is not None else None
    threshold = settings.full_cell_voltage
    by_cell = threshold is not None and cell_max is not None and cell_max >= threshold
    return by_soc or by_cell


def depth_of_discharge(reading: Reading, settings: BatterySettings) -> float | None:
    """How deep the pack is discharged (%): 100 at the empty cell voltage, else from the BMS SOC."""
    empty = settings.empty_cell_voltage
    if empty is not None and reading.cell_min is not None and reading.cell_min.voltage <= empty:
        return 100.0
    if reading.soc is None:
        return None
    return min(100.0, max(0.0, 100.0 - reading.soc))
