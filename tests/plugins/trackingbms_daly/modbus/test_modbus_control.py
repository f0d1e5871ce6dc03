"""Control writes of the Modbus driver against the simulators: echoes, read-back, bad echoes, range checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from trackingbms_daly.modbus.control import ModbusControl
from trackingbms_daly.modbus.driver import DalyModbusDriver
from trackingbms_daly.modbus.simulator import DalyModbusSimulator

from hub.faults import Fault
from hub.specs import ControlError, ControlUnsupportedError
from tests.plugins.trackingbms_daly.modbus.modbus_harness import Factory, make_driver, simulator_factory

Bench = tuple[DalyModbusSimulator, DalyModbusDriver]


@pytest.fixture
async def simulators(tmp_path: Path) -> AsyncIterator[Factory]:
    async with simulator_factory(tmp_path) as start:
        yield start


@pytest.fixture(params=["d2", "x81"])
async def bench(request: pytest.FixtureRequest, simulators: Factory) -> AsyncIterator[Bench]:
    simulator = await simulators(protocol=request.param, board=2 if request.param == "x81" else 1)
    driver = make_driver(simulator.link, protocol=request.param, board=2, timeout=0.3)
    await driver.connect()
    yield simulator, driver
    await driver.close()


async def test_mosfets_switch_and_are_read_back(bench: Bench) -> None:
    simulator, driver = bench
    pack = simulator.device.pack
    result = await driver.set_charge_mos(False)
    assert result["confirmed"] is True and result["read_back"] is False and pack.charge_mos is False
    assert result["register"] == ("0x00A5" if driver.protocol == "d2" else "0x0121")
    result = await driver.set_discharge_mos(False)
    assert result["confirmed"] and pack.discharge_mos is False
    await driver.set_charge_mos(True)
    assert pack.charge_mos is True
    reading = await driver.poll()
    assert (reading.charge_mos, reading.discharge_mos) == (True, False)


async def test_soc_is_set_and_read_back(bench: Bench) -> None:
    simulator, driver = bench
    result = await driver.set_soc(42.5)
    assert result["confirmed"] and result["value"] == 425
    assert result["read_back"] == pytest.approx(42.5, abs=0.5)
    assert simulator.device.pack.snapshot().soc == pytest.approx(42.5, abs=0.5)


@pytest.mark.parametrize("soc", [-1, 100.1, float("nan"), "half"])
async def test_soc_out_of_range_is_refused_before_writing(bench: Bench, soc: object) -> None:
    simulator, driver = bench
    with pytest.raises(ControlUnsupportedError):
        await driver.set_soc(soc)  # type: ignore[arg-type]
    assert simulator.device.writes == []


async def test_bad_echo_first_then_good(bench: Bench) -> None:
    # The app's write was echoed with a bad CRC and it simply re-sent it (btsnoop, daly.md §3.4).
    simulator, driver = bench
    simulator.faults.inject(Fault.BAD_ECHO, times=1)
    result = await driver.set_charge_mos(False)
    assert result["attempts"] == 2 and result["confirmed"]
    assert simulator.faults.applied[Fault.BAD_ECHO] == 1
    assert simulator.device.pack.charge_mos is False


async def test_only_bad_echoes_is_a_control_error(bench: Bench) -> None:
    simulator, driver = bench
    simulator.faults.inject(Fault.BAD_ECHO)
    with pytest.raises(ControlError, match="garbled"):
        await driver.write_register(0xCF, 1)


async def test_write_register_range_and_refused_registers(bench: Bench) -> None:
    _, driver = bench
    for register, value in ((0x10000, 0), (0xA5, -1), (0xA5, 0x10000)):
        with pytest.raises(ControlUnsupportedError):
            await driver.write_register(register, value)
    with pytest.raises(ControlUnsupportedError, match="exception 2"):
        await driver.write_register(0x1FF, 1)  # no such register: the BMS answers with an exception
    assert (await driver.write_register(0xCF, 0))["echoed"] is True


async def test_restart(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    simulator, driver = bench
    monkeypatch.setattr("trackingbms_daly.modbus.control.RESTART_SETTLE", 0.0)
    if driver.protocol == "x81":
        with pytest.raises(ControlUnsupportedError):
            await driver.restart()
        return
    result = await driver.restart()
    assert result["confirmed"] and simulator.device.restarts == 1


async def test_read_back_mismatch_is_a_control_error(bench: Bench) -> None:
    simulator, driver = bench
    device = simulator.device
    original = device._mos_action
    device._mos_action = lambda charge, value: lambda: None  # type: ignore[method-assign]
    try:
        with pytest.raises(ControlError, match="read back on"):
            await driver.set_charge_mos(False)
    finally:
        device._mos_action = original  # type: ignore[method-assign]


def test_control_needs_a_known_family() -> None:
    with pytest.raises(ValueError, match="family"):
        ModbusControl(None, "a5")  # type: ignore[arg-type]
