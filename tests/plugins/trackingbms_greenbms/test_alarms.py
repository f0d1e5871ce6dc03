"""Alarms with stable codes and readable text from the Green-BMS cell flags and the global alarm."""

from __future__ import annotations

import pytest
from trackingbms_greenbms.alarms import CONTROL_UNIT_ALARM, FLAG_ALARMS, FlagAlarm, cell_alarms, discharge_enabled
from trackingbms_greenbms.codec import FLAG_NAMES
from trackingbms_greenbms.messages import CellData

from hub.reading import AlarmLevel


def cell(index: int, *flags: str) -> CellData:
    return CellData(index, 3.3, 25, 26, frozenset(flags))


def test_healthy_and_balancing_cells_raise_nothing() -> None:
    assert cell_alarms([cell(1), cell(2, "balancing")]) == ()


@pytest.mark.parametrize("rule", FLAG_ALARMS, ids=lambda r: r.code)
def test_each_alarm_flag_names_its_cells(rule: FlagAlarm) -> None:
    (alarm,) = cell_alarms([cell(1), cell(3, rule.flag), cell(7, rule.flag)])
    assert alarm.code == rule.code
    assert alarm.text.endswith("cells 3, 7")
    assert alarm.level is rule.level


def test_every_flag_but_balancing_is_an_alarm() -> None:
    assert {rule.flag for rule in FLAG_ALARMS} == set(FLAG_NAMES) - {"balancing"}


def test_relay_flags_are_alarms_and_a_hot_resistor_a_warning() -> None:
    alarms = cell_alarms([cell(2, "error", "low_voltage"), cell(5, "resistor_temperature_high")])
    levels = {a.code: a.level for a in alarms}
    assert levels == {
        "cell_voltage_low": AlarmLevel.ALARM,
        "cell_module_error": AlarmLevel.ALARM,
        "balance_resistor_temperature_high": AlarmLevel.WARNING,
    }
    assert "cell 2" in next(a.text for a in alarms if a.code == "cell_module_error")


def test_the_global_alarm_shows_only_when_no_cell_explains_it() -> None:
    assert cell_alarms([cell(1)], global_alarm=True) == (CONTROL_UNIT_ALARM,)
    assert [a.code for a in cell_alarms([cell(1, "error")], global_alarm=True)] == ["cell_module_error"]


@pytest.mark.parametrize(
    ("flags", "enabled"),
    [
        ((), True),
        (("balancing", "very_high_voltage", "resistor_temperature_high"), True),
        (("error",), False),
        (("low_voltage",), False),
        (("pole_temperature_high",), False),
    ],
)
def test_discharge_relay_follows_error_low_and_pole_flags(flags: tuple[str, ...], enabled: bool) -> None:
    assert discharge_enabled([cell(1), cell(2, *flags)]) is enabled
