"""The Green-BMS driver against the simulator over a real pseudo-terminal and the real serial stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from trackingbms_greenbms.driver import OVERVIEW_PAGE

from hub.faults import Fault
from hub.reading import BatteryState, TemperatureKind
from hub.specs import DataError, LinkError
from tests.helpers import wait_for
from tests.plugins.trackingbms_greenbms.conftest import DriverFactory, SimulatorFactory


async def test_a_poll_is_a_complete_reading_of_every_cell(simulators: SimulatorFactory, drivers: DriverFactory) -> None:
    simulator = await simulators(cells=16, capacity_ah=200)
    driver = drivers(simulator.link)
    await driver.connect()
    reading = await driver.poll()
    assert len(reading.cells) == 16
    assert all(3.0 < v < 3.7 for v in reading.cells)
    assert reading.voltage is not None and abs(sum(reading.cells) - reading.voltage) < 0.15
    pole = [t for t in reading.temperatures if t.kind is TemperatureKind.CELL]
    resistor = [t for t in reading.temperatures if t.kind is TemperatureKind.BOARD]
    assert [t.sensor for t in pole] == [t.sensor for t in resistor] == list(range(1, 17))
    assert reading.rated_capacity_ah == 200.0  # #p012 from the settings dump
    assert reading.soc is not None and 0 <= reading.soc <= 100
    assert reading.cell_min is not None and reading.cell_min.voltage == min(reading.cells)
    assert reading.discharge_mos is True and reading.charge_mos is None
    assert reading.alarms == ()


async def test_settings_come_from_the_dump_without_the_password(
    simulators: SimulatorFactory, drivers: DriverFactory
) -> None:
    simulator = await simulators(cells=12)
    driver = drivers(simulator.link)
    await driver.connect()
    assert driver.settings["cell_count"] == 12
    assert driver.settings["very_high_voltage"] == 3600
    assert driver.settings["current_sensor_min"] == -200
    assert "password" not in driver.settings
    assert driver.cell_count == 12
    await wait_for(lambda: {"#s4", "#e1", "#e0"} <= set(simulator.device.commands))  # '#e0' ends the dump


@pytest.mark.parametrize(("current", "state"), [(20.0, BatteryState.CHARGING), (-25.0, BatteryState.DISCHARGING)])
async def test_current_is_positive_while_charging(
    simulators: SimulatorFactory, drivers: DriverFactory, current: float, state: BatteryState
) -> None:
    simulator = await simulators()
    simulator.device.pack._profile = lambda t: current
    driver = drivers(simulator.link)
    reading = await driver.poll()  # connects first
    assert reading.current == current
    assert reading.state is state
    assert reading.power is not None and (reading.power > 0) is (current > 0)


@pytest.mark.parametrize("cells", [1, 7, 40])
async def test_odd_and_extreme_cell_counts(simulators: SimulatorFactory, drivers: DriverFactory, cells: int) -> None:
    simulator = await simulators(cells=cells)
    driver = drivers(simulator.link)
    reading = await driver.poll()
    assert len(reading.cells) == cells  # the never-polled cell n + 1 of an odd count is left out
    assert 0.0 not in reading.cells


async def test_a_silent_cell_module_raises_alarms_and_drops_its_placeholder_temperatures(
    simulators: SimulatorFactory, drivers: DriverFactory
) -> None:
    simulator = await simulators(cells=8, failed_cells=[4])
    driver = drivers(simulator.link)
    reading = await driver.poll()
    assert reading.cells[3] == 0.0
    assert {a.code for a in reading.alarms} == {"cell_module_error", "cell_voltage_low"}
    assert all("cell 4" in a.text for a in reading.alarms)
    assert 4 not in {t.sensor for t in reading.temperatures}  # -40 °C from a silent module
    assert len(reading.temperatures) == 2 * 7
    assert reading.discharge_mos is False


async def test_configured_cells_override_the_unit(simulators: SimulatorFactory, drivers: DriverFactory) -> None:
    simulator = await simulators(cells=10)
    reading = await drivers(simulator.link, cells=6).poll()
    assert len(reading.cells) == 6


async def test_more_cells_than_the_unit_sweeps_is_a_data_error(
    simulators: SimulatorFactory, drivers: DriverFactory
) -> None:
    simulator = await simulators(cells=4)
    driver = drivers(simulator.link, cells=6)
    await driver.connect()
    with pytest.raises(DataError, match=r"cells \[5, 6\] never came"):
        await driver.poll()


async def test_the_unit_rests_on_the_overview_page_and_stops_at_close(
    simulators: SimulatorFactory, drivers: DriverFactory
) -> None:
    simulator = await simulators()
    driver = drivers(simulator.link)
    await driver.poll()
    await wait_for(lambda: simulator.device.page == OVERVIEW_PAGE)
    await driver.close()
    await wait_for(lambda: simulator.device.page == 0)
    assert not driver.keepalive.running


@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.TRUNCATED, Fault.BAD_CHECKSUM])
async def test_damaged_lines_are_dropped_and_the_reading_still_completes(
    simulators: SimulatorFactory, drivers: DriverFactory, fault: Fault
) -> None:
    simulator = await simulators(cells=16)
    driver = drivers(simulator.link)
    await driver.connect()
    simulator.faults.inject(fault, times=6)  # a burst over the overview and the sweep
    reading = await driver.poll()
    assert simulator.faults.applied[fault] == 6  # the poll read past every damaged line
    assert len(reading.cells) == 16
    # Junk is cut off; a bad value costs its line; truncated lines run into the next ones.
    assert driver.reader.framer.skipped_bytes > 0 or driver.reader.bad_lines > 0


async def test_garbage_before_every_line_is_read_through(simulators: SimulatorFactory, drivers: DriverFactory) -> None:
    simulator = await simulators(cells=5, faults=["garbage"])
    driver = drivers(simulator.link)
    reading = await driver.poll()
    assert len(reading.cells) == 5
    assert driver.reader.framer.skipped_bytes > 0


async def test_a_silent_unit_is_a_link_error(simulators: SimulatorFactory, drivers: DriverFactory) -> None:
    simulator = await simulators(faults=["silent"])
    driver = drivers(simulator.link, timeout=0.2, retries=1)
    with pytest.raises(LinkError, match="no overview line after selecting page 2 2 times"):
        await driver.connect()
    assert driver.port is None and not driver.keepalive.running  # released for the next try


async def test_a_unit_that_goes_silent_mid_poll_is_a_link_error(
    simulators: SimulatorFactory, drivers: DriverFactory
) -> None:
    simulator = await simulators()
    # 50 line periods per wait: the connect and the recovery must not time out on a loaded machine.
    driver = drivers(simulator.link, timeout=1.0, retries=1)
    await driver.connect()
    simulator.faults.inject(Fault.ASLEEP)
    with pytest.raises(LinkError):
        await driver.poll()
    simulator.faults.clear()
    assert len((await driver.poll()).cells) == 16  # and it recovers without a reconnect


async def test_a_missing_port_is_a_link_error(tmp_path: Path, drivers: DriverFactory) -> None:
    with pytest.raises(LinkError, match="cannot open"):
        await drivers(str(tmp_path / "nothing")).connect()
