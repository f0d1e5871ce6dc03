"""From ThingSet values (by name or by ID) to the hub's Reading: units, signs, alarms, MOSFET states."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.reading import Alarm, AlarmLevel, Reading, Temperature, TemperatureKind, utc_now
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.objects import Era, Kind

__all__ = [
    "BMS_STATES",
    "ERROR_BITS",
    "ErrorBit",
    "build_reading",
    "decode_error_flags",
    "flatten",
    "measures_from_ids",
    "measures_from_names",
    "mosfets_from_state",
]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ErrorBit:
    """One bit of rErrorFlags (``BMS_ERR_*`` in include/bms/bms_common.h)."""

    bit: int
    code: str
    text: str
    level: AlarmLevel = AlarmLevel.ALARM


# Every flag is a protection the BMS acted on, so all are alarms. Bits 0-11 are the same since
# v21.0, 12-14 were added later (legacy.md §2.3, fixture common.error_flags_bits). Codes match the
# Daly alarm codes where the meaning is the same.
ERROR_BITS: tuple[ErrorBit, ...] = (
    ErrorBit(0, "cell_voltage_low", "Cell undervoltage"),
    ErrorBit(1, "cell_voltage_high", "Cell overvoltage"),
    ErrorBit(2, "short_circuit", "Short circuit (discharge)"),
    ErrorBit(3, "discharge_overcurrent", "Discharge overcurrent"),
    ErrorBit(4, "charge_overcurrent", "Charge overcurrent"),
    ErrorBit(5, "open_wire", "Open wire (cell sense or thermistor)"),
    ErrorBit(6, "discharge_temperature_low", "Discharge undertemperature"),
    ErrorBit(7, "discharge_temperature_high", "Discharge overtemperature"),
    ErrorBit(8, "charge_temperature_low", "Charge undertemperature"),
    ErrorBit(9, "charge_temperature_high", "Charge overtemperature"),
    ErrorBit(10, "bms_ic_temperature_high", "BMS IC overtemperature"),
    ErrorBit(11, "cell_failure", "Cell failure (voltage difference too large)"),
    ErrorBit(12, "discharge_mos_off", "Discharge MOSFET off unexpectedly"),
    ErrorBit(13, "charge_mos_off", "Charge MOSFET off unexpectedly"),
    ErrorBit(14, "mos_temperature_high", "MOSFET overtemperature"),
)
_BITS = {bit.bit: bit for bit in ERROR_BITS}

# rBmsState (include/bms/bms.h): OFF, CHG (charging only), DIS (discharging only), NORMAL, SHUTDOWN.
BMS_STATES: dict[int, str] = {0: "off", 1: "chg", 2: "dis", 3: "normal", 4: "shutdown"}
_MOSFETS: dict[int, tuple[bool, bool]] = {
    0: (False, False),
    1: (True, False),
    2: (False, True),
    3: (True, True),
    4: (False, False),
}
# Open thermistors read about -59 °C (bms-firmware #29: -58.8, bms-c1 #45: -59.1): not a temperature.
_MIN_TEMPERATURE = -50.0
_MAX_TEMPERATURE = 150.0
# Unused cell channels read about 0 V or even negative (bms-c1 #45, legacy.md §2.7).
_MIN_CELL_VOLTAGE = 0.5


def decode_error_flags(flags: int) -> tuple[Alarm, ...]:
    """rErrorFlags as alarms; unknown bits become ``error_bit_<n>`` so none is lost."""
    alarms = []
    for bit in range(32):
        if flags >> bit & 1:
            known = _BITS.get(bit)
            if known is None:
                alarms.append(Alarm(f"error_bit_{bit}", f"Unknown error flag bit {bit}", AlarmLevel.ALARM))
            else:
                alarms.append(Alarm(known.code, known.text, known.level))
    return tuple(alarms)


def mosfets_from_state(state: int) -> tuple[bool | None, bool | None]:
    """(charge_mos, discharge_mos) for a BMS state; (None, None) for unknown states."""
    return _MOSFETS.get(state, (None, None))


def flatten(payload: Any) -> dict[str, Any]:
    """Item name -> value; group nesting (node-c ``{"Meas": {..}}``) is flattened away."""
    result: dict[str, Any] = {}
    if not isinstance(payload, Mapping):
        return result
    for key, value in payload.items():
        if isinstance(value, Mapping):
            result.update(flatten(value))
        else:
            result[str(key)] = value
    return result


def measures_from_names(era: Era, values: Mapping[str, Any]) -> dict[Kind, Any]:
    """Values by name (text mode) as values by meaning, for one era's names."""
    measures: dict[Kind, Any] = {}
    for name, value in values.items():
        item = era.by_name(name)
        if item is not None and item.kind is not Kind.OTHER:
            measures[item.kind] = value
    return measures


def measures_from_ids(era: Era, values: Mapping[int, Any]) -> dict[Kind, Any]:
    """Values by ID (binary, CAN) as values by meaning; floats rounded to the item's text decimals.

    Binary floats are float32 and not rounded (3.271 -> 3.2710001, legacy.md §2.4).
    """
    measures: dict[Kind, Any] = {}
    for object_id, value in values.items():
        item = era.by_id(object_id)
        if item is not None and item.kind is not Kind.OTHER:
            measures[item.kind] = _rounded(value, item.decimals)
    return measures


def _rounded(value: Any, places: int | None) -> Any:
    if places is None:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return round(value, places)
    if isinstance(value, list):
        return [_rounded(v, places) for v in value]
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


def _numbers(value: Any) -> list[float]:
    if not isinstance(value, list):
        return []
    return [n for n in (_number(v) for v in value) if n is not None]


def _temperatures(measures: Mapping[Kind, Any]) -> tuple[Temperature, ...]:
    found: list[Temperature] = []
    cell = _numbers(measures.get(Kind.CELL_TEMPS))
    single = _number(measures.get(Kind.BAT_TEMP))
    for sensor, value in enumerate(cell if Kind.CELL_TEMPS in measures else [single], start=1):
        if value is not None and _MIN_TEMPERATURE <= value <= _MAX_TEMPERATURE:
            found.append(Temperature(value, TemperatureKind.CELL, sensor))
    for kind, where in ((Kind.MOSFET_TEMP, TemperatureKind.MOS), (Kind.IC_TEMP, TemperatureKind.BOARD)):
        value = _number(measures.get(kind))
        if value is not None and _MIN_TEMPERATURE <= value <= _MAX_TEMPERATURE:
            found.append(Temperature(value, where, 1))
    return tuple(found)


def _cells(measures: Mapping[Kind, Any], count: int | None) -> tuple[float, ...]:
    channels = _numbers(measures.get(Kind.CELL_VOLTAGES))
    if count is not None:
        return tuple(channels[:count])
    return tuple(v for v in channels if v >= _MIN_CELL_VOLTAGE)


def _balancing(measures: Mapping[Kind, Any], limit: int) -> tuple[int, ...]:
    bits = _count(measures.get(Kind.BALANCING))
    if bits is None:
        return ()
    return tuple(cell for cell in range(1, min(limit, 32) + 1) if bits >> (cell - 1) & 1)


def build_reading(
    battery_id: str,
    measures: Mapping[Kind, Any],
    cells: int | None = None,
    rated_capacity_ah: float | None = None,
    timestamp: datetime | None = None,
) -> Reading:
    """One Reading from values by meaning; raises ThingSetError when none of them is usable."""
    # Reading.voltage is the battery (stack) voltage; the terminal voltage only when that is missing.
    voltage = _number(measures.get(Kind.STACK_VOLTAGE))
    if voltage is None:
        voltage = _number(measures.get(Kind.PACK_VOLTAGE))
    # ThingSet current is already positive while charging: "positive = charging" in bms-firmware
    # include/drivers/bms_ic.h (fixture common.current_sign, legacy.md §2.3 0x73).
    current = _number(measures.get(Kind.CURRENT))
    soc = _number(measures.get(Kind.SOC))
    if soc is not None and not 0.0 <= soc <= 100.0:
        soc = None
    cell_voltages = _cells(measures, cells)
    if voltage is None and soc is None and not cell_voltages:
        raise ThingSetError("no voltage, SOC or cell voltage among the values")
    state = _count(measures.get(Kind.BMS_STATE))
    charge_mos, discharge_mos = mosfets_from_state(state) if state is not None else (None, None)
    flags = _count(measures.get(Kind.ERROR_FLAGS))
    channels = len(measures.get(Kind.CELL_VOLTAGES) or ()) if cells is None else cells
    remaining = None if rated_capacity_ah is None or soc is None else round(rated_capacity_ah * soc / 100, 2)
    return Reading(
        battery_id=battery_id,
        timestamp=timestamp or utc_now(),
        voltage=voltage,
        current=current,
        soc=soc,
        cells=cell_voltages,
        temperatures=_temperatures(measures),
        charge_mos=charge_mos,
        discharge_mos=discharge_mos,
        balancing=_balancing(measures, channels or 32),
        rated_capacity_ah=rated_capacity_ah,
        remaining_capacity_ah=remaining,
        alarms=decode_error_flags(flags) if flags else (),
    ).with_derived()
