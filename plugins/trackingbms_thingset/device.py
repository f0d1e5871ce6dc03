"""A simulated Libre Solar BMS: one era's data objects, driven by the shared PackModel."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hub.simulation import PackModel, PackSnapshot
from trackingbms_thingset.objects import DataObject, Era, Kind

__all__ = ["DEFAULT_SETTINGS", "ThingSetDevice"]

# Simulator defaults for the Conf settings: plausible LFP values, not the firmware's own.
DEFAULT_SETTINGS: dict[str, Any] = {
    "sShortCircuitLimit_A": 100.0,
    "sShortCircuitDelay_us": 200,
    "sDisOvercurrent_A": 50.0,
    "sDisOvercurrentDelay_ms": 320,
    "sChgOvercurrent_A": 50.0,
    "sChgOvercurrentDelay_ms": 320,
    "sDisMaxTemp_degC": 60.0,
    "sDisMinTemp_degC": -20.0,
    "sChgMaxTemp_degC": 45.0,
    "sChgMinTemp_degC": 0.0,
    "sTempLimitHysteresis_degC": 5.0,
    "sCellOvervoltage_V": 3.65,
    "sCellOvervoltageReset_V": 3.5,
    "sCellOvervoltageDelay_ms": 2000,
    "sCellUndervoltage_V": 2.5,
    "sCellUndervoltageReset_V": 2.8,
    "sCellUndervoltageDelay_ms": 2000,
    "sBalTargetVoltageDiff_V": 0.01,
    "sBalMinVoltage_V": 3.2,
    "sBalIdleDelay_s": 1800,
    "sBalIdleCurrent_A": 0.1,
    # The LFP OCV table a user wrote in bms-firmware PR #77 (21 points), SOC from 100 % down.
    "sOcvPoints_V": [
        *(3.392, 3.314, 3.309, 3.308, 3.304, 3.296, 3.283, 3.275, 3.271, 3.268, 3.265),
        *(3.264, 3.262, 3.252, 3.240, 3.226, 3.213, 3.190, 3.177, 3.132, 2.8),
    ],
    "sSocPoints_pct": [100.0 - 5.0 * i for i in range(21)],
}
REBOOT_TIME = 0.3  # seconds a simulated xReset keeps the device silent


class ThingSetDevice:
    """The data model of one simulated BMS; the transports (serial, CAN) only frame what it says."""

    def __init__(
        self,
        pack: PackModel,
        era: Era,
        channels: int = 16,
        error_flags: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pack = pack
        self.era = era
        # The "renamed objects" fault: measurement names of another era, in this era's shapes.
        self.names_era = era
        # rCellVoltages_V is CONFIG_BMS_IC_MAX_CELLS long; unused channels read ~0 V (§2.3).
        self.channels = max(channels, pack.cells)
        self.error_flags = error_flags
        self.clock = clock
        self.chg_enable = True
        self.dis_enable = True
        self.reporting = True  # _Reporting/mLive/sEnable
        self.report_period_ms = 1000  # _Reporting/mLive/sPeriod_ms
        self.settings: dict[str, Any] = {
            item.name: pack.capacity_ah if item.kind is Kind.NOMINAL_CAPACITY else DEFAULT_SETTINGS[item.name]
            for item in era.settings()
        }
        self.writes: list[tuple[str, Any]] = []
        self.resets = 0
        self._booting_until = 0.0

    @property
    def booting(self) -> bool:
        """True for a moment after a reset: the device says nothing."""
        return self.clock() < self._booting_until

    def reset(self) -> None:
        """xReset: RAM values (w-prefixed) return to their defaults; stored settings stay."""
        self.resets += 1
        self.set_enable(Kind.CHG_ENABLE, True)
        self.set_enable(Kind.DIS_ENABLE, True)
        self._booting_until = self.clock() + REBOOT_TIME

    def set_enable(self, kind: Kind, on: bool) -> None:
        """wChgEnable / wDisEnable: the BMS lets the MOSFETs follow them."""
        if kind is Kind.CHG_ENABLE:
            self.chg_enable = self.pack.charge_mos = on
        else:
            self.dis_enable = self.pack.discharge_mos = on

    @property
    def bms_state(self) -> int:
        """NORMAL 3 with both enabled, CHG 1 / DIS 2 with one, OFF 0 with none (include/bms/bms.h)."""
        return {(True, True): 3, (True, False): 1, (False, True): 2, (False, False): 0}[
            (self.chg_enable, self.dis_enable)
        ]

    def measures(self) -> dict[Kind, Any]:
        """Every measurement by meaning, from one pack snapshot."""
        snap = self.pack.snapshot()
        stack = round(snap.voltage, 2)
        on = self.chg_enable or self.dis_enable
        padding = [-0.001 if i % 3 == 0 else 0.0 for i in range(self.channels - len(snap.cell_voltages))]
        return {
            Kind.STACK_VOLTAGE: stack,
            Kind.PACK_VOLTAGE: round(stack - 0.02, 2) if on else 0.0,
            Kind.CURRENT: snap.current,  # PackModel and ThingSet both count charging as positive
            Kind.CELL_TEMPS: list(snap.temperatures),
            Kind.BAT_TEMP: snap.temperatures[0] if snap.temperatures else -59.1,  # open thermistor
            Kind.IC_TEMP: round(snap.mos_temperature + 1.5, 1),
            Kind.MOSFET_TEMP: snap.mos_temperature,
            Kind.SOC: snap.soc,
            Kind.ERROR_FLAGS: self.error_flags,
            Kind.BMS_STATE: self.bms_state,
            Kind.CELL_VOLTAGES: [*snap.cell_voltages, *padding],
            **_cell_stats(snap),
            Kind.BALANCING: sum(1 << (cell - 1) for cell in snap.balancing),
            Kind.CHG_ENABLE: self.chg_enable,
            Kind.DIS_ENABLE: self.dis_enable,
        }

    def value(self, item: DataObject, measures: dict[Kind, Any] | None = None) -> Any:
        """The current value of one object (measures: one snapshot shared by several objects)."""
        if item.name in self.settings:
            return self.settings[item.name]
        if item.kind is Kind.NOMINAL_CAPACITY:
            return self.pack.capacity_ah
        static = {
            Kind.MANUFACTURER: "Libre Solar",
            Kind.DEVICE_TYPE: "BMS (simulated)",
            Kind.HARDWARE_VERSION: "sim",
            Kind.FIRMWARE_VERSION: f"sim-{self.era.key}",
        }
        if item.kind in static:
            return static[item.kind]
        measures = self.measures() if measures is None else measures
        value = measures.get(item.kind)
        if item.type == "float32" and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return value

    def write(self, item: DataObject, value: Any) -> bool:
        """Apply a checked value to a writable object; False when it cannot take it."""
        if item.kind in (Kind.CHG_ENABLE, Kind.DIS_ENABLE):
            self.set_enable(item.kind, value)
        elif item.name in self.settings:
            self.settings[item.name] = value
        else:
            return False
        self.writes.append((item.path, value))
        return True

    def live_objects(self) -> list[tuple[str, DataObject]]:
        """(name as sent, object) for the live report; names come from ``names_era``."""
        result = []
        for item in self.era.report_objects():
            shown = self.names_era.by_kind(item.kind) if self.names_era is not self.era else item
            if shown is not None:
                result.append((shown.name, item))
        return result


def _cell_stats(snap: PackSnapshot) -> dict[Kind, float]:
    cells = snap.cell_voltages
    return {
        Kind.CELL_AVG: round(sum(cells) / len(cells), 3),
        Kind.CELL_MIN: min(cells),
        Kind.CELL_MAX: max(cells),
    }
