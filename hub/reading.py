"""The normalized battery reading every driver produces (DESIGN §4)."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class TemperatureKind(enum.StrEnum):
    """Where a temperature sensor sits."""

    CELL = "cell"
    MOS = "mos"
    BOARD = "board"
    AMBIENT = "ambient"


class BatteryState(enum.StrEnum):
    """What the pack is doing; current is positive while charging."""

    IDLE = "idle"
    CHARGING = "charging"
    DISCHARGING = "discharging"


class AlarmLevel(enum.StrEnum):
    """Severity of a BMS alarm bit: L1 bits are warnings, L2 bits alarms."""

    WARNING = "warning"
    ALARM = "alarm"


@dataclass(frozen=True, slots=True)
class Temperature:
    """One temperature sensor value in °C."""

    value: float
    kind: TemperatureKind = TemperatureKind.CELL
    sensor: int = 1  # 1-based sensor number as the BMS numbers it


@dataclass(frozen=True, slots=True)
class Alarm:
    """One active BMS alarm with a stable code and readable text."""

    code: str
    text: str
    level: AlarmLevel = AlarmLevel.WARNING


@dataclass(frozen=True, slots=True)
class CellExtreme:
    """A cell voltage together with its 1-based cell index."""

    voltage: float
    index: int


def utc_now() -> datetime:
    """Return an aware UTC timestamp."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Reading:
    """One poll of one battery. Absent values are None, never placeholders."""

    battery_id: str
    timestamp: datetime = field(default_factory=utc_now)
    voltage: float | None = None
    current: float | None = None
    power: float | None = None
    soc: float | None = None
    soh: float | None = None
    cells: tuple[float, ...] = ()
    temperatures: tuple[Temperature, ...] = ()
    cell_min: CellExtreme | None = None
    cell_max: CellExtreme | None = None
    cell_delta: float | None = None
    charge_mos: bool | None = None
    discharge_mos: bool | None = None
    balancing: tuple[int, ...] = ()
    state: BatteryState | None = None
    cycles: int | None = None
    remaining_capacity_ah: float | None = None
    rated_capacity_ah: float | None = None
    alarms: tuple[Alarm, ...] = ()

    def replace(self, **changes: Any) -> Reading:
        """Return a copy with some fields changed (readings are immutable)."""
        return dataclasses.replace(self, **changes)

    def with_derived(self) -> Reading:
        """Fill power, cell extremes, delta and state where the driver did not."""
        power, state, cells = self.power, self.state, self.cells
        cell_min, cell_max, cell_delta = self.cell_min, self.cell_max, self.cell_delta
        if power is None and self.voltage is not None and self.current is not None:
            power = round(self.voltage * self.current, 3)
        if cells and (cell_min is None or cell_max is None or cell_delta is None):
            # min()/max() of the values give the same first extreme as min()/max() over the indices
            # keyed by value; index() finds that first position again.
            low, high = min(cells), max(cells)
            if cell_min is None:
                cell_min = CellExtreme(low, cells.index(low) + 1)
            if cell_max is None:
                cell_max = CellExtreme(high, cells.index(high) + 1)
            if cell_delta is None:
                cell_delta = round(high - low, 4)
        if state is None and self.current is not None:
            state = state_from_current(self.current)
        unchanged = power is self.power and state is self.state and cell_delta is self.cell_delta
        if unchanged and cell_min is self.cell_min and cell_max is self.cell_max:
            return self  # nothing was missing
        return self._derived(power, state, cell_min, cell_max, cell_delta)

    def _derived(
        self,
        power: float | None,
        state: BatteryState | None,
        cell_min: CellExtreme | None,
        cell_max: CellExtreme | None,
        cell_delta: float | None,
    ) -> Reading:
        # One positional constructor call: dataclasses.replace() costs twice as much per reading.
        return type(self)(
            self.battery_id,
            self.timestamp,
            self.voltage,
            self.current,
            power,
            self.soc,
            self.soh,
            self.cells,
            self.temperatures,
            cell_min,
            cell_max,
            cell_delta,
            self.charge_mos,
            self.discharge_mos,
            self.balancing,
            state,
            self.cycles,
            self.remaining_capacity_ah,
            self.rated_capacity_ah,
            self.alarms,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with the DESIGN §4 field names."""
        return {
            "battery_id": self.battery_id,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "voltage": self.voltage,
            "current": self.current,
            "power": self.power,
            "soc": self.soc,
            "soh": self.soh,
            "cells": list(self.cells),
            "temperatures": [{"value": t.value, "kind": t.kind.value, "sensor": t.sensor} for t in self.temperatures],
            "cell_min": _extreme_dict(self.cell_min),
            "cell_max": _extreme_dict(self.cell_max),
            "cell_delta": self.cell_delta,
            "charge_mos": self.charge_mos,
            "discharge_mos": self.discharge_mos,
            "balancing": list(self.balancing),
            "state": self.state.value if self.state else None,
            "cycles": self.cycles,
            "remaining_capacity_ah": self.remaining_capacity_ah,
            "rated_capacity_ah": self.rated_capacity_ah,
            "alarms": [{"code": a.code, "text": a.text, "level": a.level.value} for a in self.alarms],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reading:
        """Rebuild a reading from :meth:`to_dict` output."""
        return cls(
            battery_id=data["battery_id"],
            timestamp=datetime.fromisoformat(data["timestamp"].replace("Z", "+00:00")),
            voltage=data.get("voltage"),
            current=data.get("current"),
            power=data.get("power"),
            soc=data.get("soc"),
            soh=data.get("soh"),
            cells=tuple(data.get("cells") or ()),
            temperatures=tuple(
                Temperature(t["value"], TemperatureKind(t["kind"]), t.get("sensor", 1))
                for t in data.get("temperatures") or ()
            ),
            cell_min=_extreme_from(data.get("cell_min")),
            cell_max=_extreme_from(data.get("cell_max")),
            cell_delta=data.get("cell_delta"),
            charge_mos=data.get("charge_mos"),
            discharge_mos=data.get("discharge_mos"),
            balancing=tuple(data.get("balancing") or ()),
            state=BatteryState(data["state"]) if data.get("state") else None,
            cycles=data.get("cycles"),
            remaining_capacity_ah=data.get("remaining_capacity_ah"),
            rated_capacity_ah=data.get("rated_capacity_ah"),
            alarms=tuple(Alarm(a["code"], a["text"], AlarmLevel(a["level"])) for a in data.get("alarms") or ()),
        )


# Below this many amperes the pack counts as idle; BMS current sensors drift around zero.
IDLE_CURRENT_A = 0.2


def state_from_current(current: float) -> BatteryState:
    """Classify a current (positive while charging) into a battery state."""
    if current > IDLE_CURRENT_A:
        return BatteryState.CHARGING
    if current < -IDLE_CURRENT_A:
        return BatteryState.DISCHARGING
    return BatteryState.IDLE


def _extreme_dict(extreme: CellExtreme | None) -> dict[str, Any] | None:
    return None if extreme is None else {"voltage": extreme.voltage, "index": extreme.index}


def _extreme_from(data: dict[str, Any] | None) -> CellExtreme | None:
    return None if not data else CellExtreme(data["voltage"], data["index"])
