"""Aggregation rules of parallel and series banks, as pure functions over readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from trackingbms_banks.aggregate import PARALLEL, SERIES, combine, weighted_soc

from hub.reading import Alarm, AlarmLevel, Reading, Temperature, TemperatureKind

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def member(battery_id: str, **values: object) -> Reading:
    base: dict[str, object] = {
        "timestamp": T0,
        "voltage": 52.0,
        "current": -10.0,
        "power": -520.0,
        "soc": 80.0,
        "cells": (3.25, 3.26),
        "rated_capacity_ah": 100.0,
        "remaining_capacity_ah": 80.0,
        "charge_mos": True,
        "discharge_mos": True,
    }
    return Reading(battery_id, **{**base, **values})  # type: ignore[arg-type]


def test_parallel_sums_current_and_averages_voltage() -> None:
    a = member("a", voltage=52.0, current=-10.0, power=-520.0, cells=(3.2, 3.3))
    b = member("b", voltage=52.4, current=-14.0, power=-733.6, cells=(3.1, 3.4), timestamp=T0 + timedelta(seconds=1))
    bank = combine("house", PARALLEL, [a, b]).with_derived()
    assert bank.battery_id == "house"
    assert bank.voltage == pytest.approx(52.2)
    assert bank.current == pytest.approx(-24.0)  # discharging stays negative
    assert bank.power == pytest.approx(-1253.6)
    assert bank.timestamp == T0 + timedelta(seconds=1)
    assert bank.cells == (3.2, 3.3, 3.1, 3.4)
    assert bank.cell_min is not None and bank.cell_min.index == 3
    assert bank.cell_max is not None and bank.cell_max.index == 4
    assert bank.cell_delta == pytest.approx(0.3)
    assert bank.rated_capacity_ah == 200.0 and bank.remaining_capacity_ah == 160.0
    assert bank.state is not None and bank.state.value == "discharging"


def test_parallel_soc_is_weighted_by_rated_capacity() -> None:
    a = member("a", soc=90.0, rated_capacity_ah=300.0)
    b = member("b", soc=50.0, rated_capacity_ah=100.0)
    assert combine("bank", PARALLEL, [a, b]).soc == pytest.approx(80.0)


def test_soc_weights_are_equal_when_a_capacity_is_unknown() -> None:
    a = member("a", soc=90.0, rated_capacity_ah=300.0)
    b = member("b", soc=50.0, rated_capacity_ah=None)
    assert weighted_soc([a, b]) == pytest.approx(70.0)
    bank = combine("bank", PARALLEL, [a, b])
    assert bank.soc == pytest.approx(70.0)
    assert bank.rated_capacity_ah is None  # a partial sum would understate the bank


def test_series_sums_voltage_and_takes_the_weakest_pack() -> None:
    a = member("a", voltage=26.0, current=12.0, power=312.0, soc=70.0, rated_capacity_ah=100.0)
    b = member("b", voltage=26.2, current=12.2, power=319.64, soc=40.0, rated_capacity_ah=90.0)
    bank = combine("string", SERIES, [a, b]).with_derived()
    assert bank.voltage == pytest.approx(52.2)
    assert bank.current == pytest.approx(12.1)  # charging stays positive
    assert bank.power == pytest.approx(631.64)
    assert bank.soc == 40.0
    assert bank.rated_capacity_ah == 90.0
    assert bank.remaining_capacity_ah == 80.0
    assert bank.state is not None and bank.state.value == "charging"


def test_alarms_are_a_union_tagged_with_their_member() -> None:
    ov = Alarm("cell_ov", "Cell overvoltage", AlarmLevel.ALARM)
    a = member("a", alarms=(ov,))
    b = member("b", alarms=(ov, Alarm("temp_high", "High temperature")))
    bank = combine("bank", SERIES, [a, b])
    assert [x.code for x in bank.alarms] == ["a:cell_ov", "b:cell_ov", "b:temp_high"]
    assert bank.alarms[0].level is AlarmLevel.ALARM
    assert bank.alarms[0].text == "a: Cell overvoltage"


def test_temperatures_are_renumbered_and_switches_need_every_member() -> None:
    a = member(
        "a", temperatures=(Temperature(20.0, TemperatureKind.CELL, 1), Temperature(30.0, TemperatureKind.MOS, 2))
    )
    b = member("b", temperatures=(Temperature(22.0, TemperatureKind.CELL, 1),), charge_mos=False, balancing=(2,))
    bank = combine("bank", PARALLEL, [a, b])
    assert [(t.value, t.kind, t.sensor) for t in bank.temperatures] == [
        (20.0, TemperatureKind.CELL, 1),
        (30.0, TemperatureKind.MOS, 2),
        (22.0, TemperatureKind.CELL, 3),
    ]
    assert bank.charge_mos is False and bank.discharge_mos is True
    assert bank.balancing == (4,)  # b's cell 2 is the bank's cell 4


def test_a_missing_value_is_not_guessed() -> None:
    bank = combine("bank", PARALLEL, [member("a"), member("b", current=None, power=None)])
    assert bank.current is None and bank.power is None
    assert bank.voltage == pytest.approx(52.0)


def test_combine_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="two member"):
        combine("bank", PARALLEL, [member("a")])
    with pytest.raises(ValueError, match="topology"):
        combine("bank", "mesh", [member("a"), member("b")])
