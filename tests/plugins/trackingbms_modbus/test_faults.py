"""Simulator faults and how the driver takes them: silence, exceptions, wrong values, late and broken frames."""

from __future__ import annotations

from pathlib import Path

import pytest
from trackingbms_modbus.driver import ModbusDriver
from trackingbms_modbus.link import ModbusExceptionError

from hub.faults import Fault
from hub.reading import Reading
from hub.specs import DataError, DriverContext, LinkError
from tests.helpers import wait_for
from tests.plugins.trackingbms_modbus.harness import assert_round_trip, battery_entry, make_driver, simulator


async def test_asleep_device_is_a_link_error_until_it_wakes(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="renogy_smart_lfp") as sim:
        driver = make_driver(battery_entry(sim, retries=0), DriverContext(tmp_path))
        try:
            sim.inject("asleep")
            with pytest.raises(LinkError, match=r"unit 247 on tcp://127\.0\.0\.1"):
                await driver.poll()
            sim.faults.clear()
            assert_round_trip(await driver.poll(), sim)
        finally:
            await driver.close()


async def test_other_units_are_never_answered(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="renogy_smart_lfp", link="sim/bus", slaves=[1]) as sim:
        context = DriverContext(tmp_path)
        stranger = make_driver(battery_entry(sim, slave=9, retries=0), context, "stranger")
        known = make_driver(battery_entry(sim, slave=1), context, "known")
        try:
            with pytest.raises(LinkError, match="unit 9 on"):
                await stranger.poll()
            assert_round_trip(await known.poll(), sim)  # the line is not left confused
        finally:
            await stranger.close()
            await known.close()


async def test_exception_response_is_bad_data_then_recovers(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="seplos_v3") as sim:
        driver = make_driver(battery_entry(sim), DriverContext(tmp_path))
        try:
            sim.inject("exception", 1)
            with pytest.raises(
                ModbusExceptionError, match=r"exception 04 \(slave device failure\) reading FC01 0x1200"
            ):
                await driver.poll()
            assert_round_trip(await driver.poll(), sim)
        finally:
            await driver.close()


async def test_wrong_values_are_rejected_by_the_map_ranges(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="seplos_v3") as sim:
        driver = make_driver(battery_entry(sim), DriverContext(tmp_path))
        try:
            await driver.poll()
            sim.inject("wrong_values")
            with pytest.raises(DataError, match="outside"):
                await driver.poll()
        finally:
            await driver.close()


async def test_a_late_answer_times_out_and_is_not_taken_for_the_next_one(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="seplos_v3") as sim:
        # The answer comes well after the timeout, and the timeout leaves a loaded machine room for
        # the good answer of the next poll.
        sim.faults.late_delay = 4.0
        driver = make_driver(battery_entry(sim, timeout=1.5, retries=0), DriverContext(tmp_path))
        try:
            sim.inject("late", 1)
            with pytest.raises(LinkError):
                await driver.poll()
            await wait_for(lambda: sim.device.late_answers == 1)
            assert_round_trip(await driver.poll(), sim)
        finally:
            await driver.close()


async def test_inverted_current_and_the_current_sign_option(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="seplos_v3", invert_current=True) as sim:
        context = DriverContext(tmp_path)
        plain = make_driver(battery_entry(sim), context, "plain")
        fixed = make_driver(battery_entry(sim, current_sign="discharge_positive"), context, "fixed")
        try:
            wrong = await plain.poll()
            snapshot = sim.device.snapshot
            right = await fixed.poll()
            snapshot_again = sim.device.snapshot
        finally:
            await plain.close()
            await fixed.close()
    assert snapshot is not None and snapshot_again is not None and snapshot.current != 0
    assert wrong.current == pytest.approx(-snapshot.current, abs=0.006)
    assert right.current == pytest.approx(snapshot_again.current, abs=0.006)


async def test_junk_in_unused_cell_slots_is_cut_by_the_cell_count(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="seplos_v3", cells=8, faults=["junk_cells"]) as sim:
        driver = make_driver(battery_entry(sim), DriverContext(tmp_path))
        try:
            reading = await driver.poll()
        finally:
            await driver.close()
    encoded = sim.device.values["cell_voltages"]
    assert all(v is not None for v in encoded[8:])  # junk really is on the wire
    assert len(reading.cells) == 8
    assert_round_trip(reading, sim)


@pytest.mark.parametrize("fault", [Fault.BAD_CHECKSUM, Fault.GARBAGE, Fault.TRUNCATED])
async def test_broken_rtu_frames_are_retried(tmp_path: Path, fault: Fault) -> None:
    async with simulator(tmp_path, map="renogy_smart_lfp", link="sim/bus", cells=4) as sim:
        context = DriverContext(tmp_path)  # one port, one open client: both drivers share it
        strict = make_driver(battery_entry(sim, retries=0), context, "strict")
        patient = make_driver(battery_entry(sim, retries=1), context, "patient")
        try:
            sim.inject(fault.value, 1)
            with pytest.raises(LinkError):
                await strict.poll()
            sim.inject(fault.value, 1)
            assert_round_trip(await patient.poll(), sim)
        finally:
            await strict.close()
            await patient.close()
    assert sim.faults.applied[fault] == 2


MAP_WITH_HOLES = """\
function: holding
unreadable: [10, 20]
registers:
  - {name: voltage, address: 0, scale: 0.01, unit: V, field: voltage}
  - {name: extra, address: 10, optional: true}
"""


async def test_optional_blocks_may_fail_required_ones_may_not(tmp_path: Path) -> None:
    optional = tmp_path / "optional.yaml"
    optional.write_text(MAP_WITH_HOLES, encoding="utf-8")
    required = tmp_path / "required.yaml"
    required.write_text(MAP_WITH_HOLES + "  - {name: needed, address: 20}\n", encoding="utf-8")
    async with simulator(tmp_path, map=str(optional)) as sim:
        driver = make_driver(battery_entry(sim), DriverContext(tmp_path))
        try:
            reading = await driver.poll()  # 'extra' answers "illegal data address": skipped
        finally:
            await driver.close()
        assert reading.voltage == pytest.approx(sim.device.snapshot.voltage, abs=0.006)  # type: ignore[union-attr]
    async with simulator(tmp_path, map=str(required)) as sim:
        driver = make_driver(battery_entry(sim), DriverContext(tmp_path))
        try:
            with pytest.raises(
                ModbusExceptionError, match=r"exception 02 \(illegal data address\) reading FC03 0x0014"
            ):
                await driver.poll()
        finally:
            await driver.close()


def test_unknown_alarm_names_are_refused(tmp_path: Path) -> None:
    from trackingbms_modbus.simconfig import create

    with pytest.raises(ValueError, match="has no alarm no_such_alarm"):
        create({"map": "seplos_v3", "alarms": ["no_such_alarm"]}, tmp_path)


async def test_a_dropped_tcp_connection_is_reopened(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="renogy_smart_lfp", transport="tcp") as sim:
        port = sim.port
        driver = make_driver(battery_entry(sim, retries=0), DriverContext(tmp_path))
        try:
            await driver.poll()
            await sim.stop()  # the server goes away with the driver's connection
            with pytest.raises(LinkError):
                await driver.poll()
            sim.port = port
            await sim.start()  # back on the same port
            reading = await wait_for(lambda: _poll_or_none(driver), timeout=15)
            assert_round_trip(reading, sim)
        finally:
            await driver.close()


async def _poll_or_none(driver: ModbusDriver) -> Reading | None:
    try:
        return await driver.poll()
    except LinkError:
        return None
