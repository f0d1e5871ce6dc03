"""Control writes against the simulators: text mode on a pty, binary mode over ISO-TP on a virtual CAN bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.specs import ControlError, ControlUnsupportedError
from tests.plugins.trackingbms_thingset.harness import can_bench, serial_bench

FAST = {"report_period": 0.2}


@pytest.fixture(params=["serial", "can"])
async def bench(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    """(simulator, driver) of era 2024 on both transports."""
    if request.param == "serial":
        async with serial_bench(tmp_path) as (simulators, drivers):
            sim = await simulators(era="2024", **FAST)
            yield sim, await drivers(sim.link, rated_capacity_ah=100)
    else:
        async with can_bench(tmp_path) as (simulators, drivers, _):
            sim = await simulators(era="2024", **FAST)
            driver = await drivers(rated_capacity_ah=100, report_max_age=1.5)
            await _first_reading(driver)
            yield sim, driver


async def _first_reading(driver: Any) -> Any:
    from tests.helpers import wait_for

    async def attempt() -> Any:
        try:
            return await driver.poll()
        except Exception:
            return None

    return await wait_for(attempt)


async def test_charge_and_discharge_switch_round_trip(bench: tuple[Any, Any]) -> None:
    sim, driver = bench
    result = await driver.control("charge_mos", False)
    assert result == {"object": "Input/wChgEnable", "requested": False, "read_back": False, "confirmed": True}
    assert sim.device.chg_enable is False and sim.device.pack.charge_mos is False
    assert sim.device.writes == [("Input/wChgEnable", False)]
    await driver.control("discharge_mos", False)
    assert sim.device.bms_state == 0  # OFF
    await driver.control("charge_mos", True)
    reading = await _fresh(driver, lambda r: r.charge_mos is True and r.discharge_mos is False)
    assert reading.charge_mos is True


async def _fresh(driver: Any, wanted: Any) -> Any:
    from tests.helpers import wait_for

    async def attempt() -> Any:
        reading = await driver.poll()
        return reading if wanted(reading) else None

    return await wait_for(attempt)


async def test_restart_resets_the_ram_switches(bench: tuple[Any, Any]) -> None:
    sim, driver = bench
    await driver.control("charge_mos", False)
    result = await driver.control("restart", None)
    assert result["confirmed"] is True and result["object"] == "Device/xReset"
    assert sim.device.resets == 1 and sim.device.chg_enable is True


async def test_config_write_is_read_back(bench: tuple[Any, Any]) -> None:
    sim, driver = bench
    result = await driver.control("config", {"sBalMinVoltage_V": 3.3, "sBalIdleDelay_s": 900})
    assert result["confirmed"] is True
    assert result["read_back"]["sBalMinVoltage_V"] == pytest.approx(3.3, abs=1e-6)
    assert (
        sim.device.settings["sBalMinVoltage_V"] == pytest.approx(3.3) and sim.device.settings["sBalIdleDelay_s"] == 900
    )


async def test_config_is_read_on_both_transports(bench: tuple[Any, Any]) -> None:
    sim, driver = bench
    before = await driver.read_config()
    assert before["sBalIdleDelay_s"] == sim.device.settings["sBalIdleDelay_s"]
    assert set(before) >= {"sBalMinVoltage_V", "sBalIdleDelay_s"}
    await driver.control("config", {"sBalIdleDelay_s": 901})
    assert (await driver.read_config())["sBalIdleDelay_s"] == 901
    assert sim.device.writes == [("Conf/sBalIdleDelay_s", 901)]  # reading wrote nothing


async def test_legacy_eras_have_no_config_to_read(tmp_path: Path) -> None:
    async with serial_bench(tmp_path) as (simulators, drivers):
        sim = await simulators(era="2021-05", **FAST)
        driver = await drivers(sim.link)
        with pytest.raises(ControlUnsupportedError, match="no Conf group"):
            await driver.read_config()


@pytest.mark.parametrize(
    ("action", "value"),
    [
        ("config", {"rSOC_pct": 50}),  # not a setting
        ("config", {"sBalIdleDelay_s": -1}),  # uint16
        ("config", {"sBalMinVoltage_V": "high"}),
        ("config", []),
        ("charge_mos", "off"),
        ("soc", 50),  # rSOC_pct is read-only in every era
    ],
)
async def test_refused_before_writing(bench: tuple[Any, Any], action: str, value: Any) -> None:
    sim, driver = bench
    with pytest.raises(ControlUnsupportedError):
        await driver.control(action, value)
    assert sim.device.writes == []


async def test_a_write_that_does_not_stick_is_a_control_error(bench: tuple[Any, Any]) -> None:
    sim, driver = bench
    sim.device.write = lambda item, value: True  # accepted, but nothing changes
    with pytest.raises(ControlError, match="read back"):
        await driver.control("charge_mos", False)


async def test_legacy_eras_have_nothing_to_switch(tmp_path: Path) -> None:
    async with serial_bench(tmp_path) as (simulators, drivers):
        sim = await simulators(era="2022-05", **FAST)
        driver = await drivers(sim.link)
        with pytest.raises(ControlUnsupportedError, match="2022-05"):
            await driver.control("charge_mos", False)
        with pytest.raises(ControlUnsupportedError):
            await driver.control("restart", None)


async def test_v23_switches_over_can_with_single_frame_reports(tmp_path: Path) -> None:
    async with can_bench(tmp_path) as (simulators, drivers, _):
        sim = await simulators(era="2023", **FAST)
        driver: Any = await drivers(rated_capacity_ah=100)
        await _first_reading(driver)
        assert (await driver.control("discharge_mos", False))["confirmed"] is True
        assert sim.device.dis_enable is False
