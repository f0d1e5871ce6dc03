"""Alarms from the Green-BMS cell status flags (``#zNNN``) and the global alarm (``#i001``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.reading import Alarm, AlarmLevel
from trackingbms_greenbms.messages import CellData

__all__ = ["CONTROL_UNIT_ALARM", "FLAG_ALARMS", "FlagAlarm", "cell_alarms", "discharge_enabled"]


@dataclass(frozen=True, slots=True)
class FlagAlarm:
    """One '#z' flag that is an alarm: its stable code, readable text and level."""

    flag: str
    code: str
    text: str
    level: AlarmLevel


# Levels follow what the Control Unit does (Control_Unit_2_1.ino): flags that open the charge or
# discharge relay are alarms; a hot balancing resistor only lights the alarm lamp and stops
# balancing that cell, so it is a warning. The balancing flag (#z[1]) is a state, not an alarm.
FLAG_ALARMS: tuple[FlagAlarm, ...] = (
    FlagAlarm("very_high_voltage", "cell_voltage_very_high", "Cell voltage very high", AlarmLevel.ALARM),
    FlagAlarm("low_voltage", "cell_voltage_low", "Cell voltage low", AlarmLevel.ALARM),
    FlagAlarm(
        "error",
        "cell_module_error",
        "Cell module error (no answer, or voltage outside 2.3-4.5 V)",
        AlarmLevel.ALARM,
    ),
    FlagAlarm("pole_temperature_high", "cell_temperature_high", "Cell pole temperature high", AlarmLevel.ALARM),
    FlagAlarm(
        "resistor_temperature_high",
        "balance_resistor_temperature_high",
        "Balancing resistor temperature high",
        AlarmLevel.WARNING,
    ),
)
# '#i001' is 1 when any cell is in error, low, very high or over temperature (legacy.md §3.3);
# used only when no cell flag explains it (the two come from different moments).
CONTROL_UNIT_ALARM = Alarm("control_unit_alarm", "Control Unit reports an alarm (#i001)", AlarmLevel.ALARM)
# The discharge relay opens when any cell is in error, low or has a hot pole
# (Control_Unit_2_1.ino "Discharge enable relay"); all three are '#z' flags.
_DISCHARGE_BLOCKERS = frozenset({"error", "low_voltage", "pole_temperature_high"})


def cell_alarms(cells: Iterable[CellData], global_alarm: bool = False) -> tuple[Alarm, ...]:
    """One alarm per flag that is set on any cell, naming the cells; codes do not depend on cells."""
    cells = list(cells)
    alarms = []
    for rule in FLAG_ALARMS:
        flagged = [cell.index for cell in cells if rule.flag in cell.flags]
        if flagged:
            label = "cell" if len(flagged) == 1 else "cells"
            alarms.append(Alarm(rule.code, f"{rule.text}: {label} {', '.join(map(str, flagged))}", rule.level))
    if global_alarm and not alarms:
        alarms.append(CONTROL_UNIT_ALARM)
    return tuple(alarms)


def discharge_enabled(cells: Iterable[CellData]) -> bool:
    """Whether the Control Unit's discharge relay is closed, derived from the cell flags."""
    return not any(cell.flags & _DISCHARGE_BLOCKERS for cell in cells)
