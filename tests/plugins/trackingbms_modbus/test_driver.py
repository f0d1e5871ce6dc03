"""The driver against a real pymodbus server serving each shipped map, over TCP and RTU on a pty."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from trackingbms_modbus.link import LinkSettings, ModbusLink
from trackingbms_modbus.options import ModbusOptions
from trackingbms_modbus.regmap import load_map

from hub.reading import state_from_current
from hub.specs import DriverContext, LinkError
from tests.plugins.trackingbms_modbus.harness import assert_round_trip, battery_entry, make_driver, simulator


@pytest.mark.parametrize("map_name", ["seplos_v3", "seplos_v3_ems", "renogy_smart_lfp"])
async def test_each_shipped_map_round_trips_over_tcp(tmp_path: Path, map_name: str) -> None:
    async with simulator(tmp_path, map=map_name, cells=8, temps=2) as sim:
        driver = make_driver(battery_entry(sim), DriverContext(tmp_path))
        try:
            await driver.connect()
            for _ in range(2):  # the second poll uses the cached settings blocks
                reading = await driver.poll()
                assert_round_trip(reading, sim)
        finally:
            await driver.close()
    assert reading.battery_id == "b1"
    assert reading.state is not None and reading.power is not None  # derived like every driver's readings
    if map_name == "renogy_smart_lfp":
        # No SOC register: soc = remaining / total capacity (0.001 Ah resolution).
        assert reading.soc == pytest.approx(sim.device.snapshot.soc, abs=0.1)  # type: ignore[union-attr]


async def test_seplos_over_rtu_on_a_pseudo_terminal(tmp_path: Path) -> None:
    async with simulator(
        tmp_path, map="seplos_v3", link="sim/seplos", cells=16, temps=4, alarms=["low_soc_alarm"]
    ) as sim:
        driver = make_driver(battery_entry(sim, port="sim/seplos"), DriverContext(tmp_path))
        try:
            reading = await driver.poll()
        finally:
            await driver.close()
    assert_round_trip(reading, sim)
    assert len(reading.cells) == 16 and reading.charge_mos is True
    assert [a.code for a in reading.alarms] == ["low_soc_alarm"]


async def test_settings_blocks_are_read_every_nth_poll(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="seplos_v3") as sim:
        driver = make_driver(battery_entry(sim), DriverContext(tmp_path))
        try:
            await driver.poll()
            assert driver.link is not None
            first = driver.link.requests
            await driver.poll()
            second = driver.link.requests - first
        finally:
            await driver.close()
    assert first == 6  # PIC coils, PIA, PIB, SPA counts, SPA rated capacity, VIA strings
    assert second == 3  # then only PIC, PIA and PIB until the 60th poll


async def test_two_units_share_one_serial_line(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="renogy_smart_lfp", link="sim/bus", slaves=[1, 2], cells=4) as sim:
        context = DriverContext(tmp_path)
        one = make_driver(battery_entry(sim, slave=1), context, "one")
        two = make_driver(battery_entry(sim, slave=2, inter_frame_delay=0.01), context, "two")
        try:
            readings = await asyncio.gather(one.poll(), two.poll(), one.poll(), two.poll())
            assert one.link is two.link and one.link is not None
            assert one.link.users == 2 and one.link.gap == 0.01
        finally:
            await one.close()
            assert two.link is not None and two.link.connected  # still open for the other battery
            await two.close()
    assert_round_trip(readings[2], sim, 0)
    assert_round_trip(readings[3], sim, 1)
    assert readings[2].cells != readings[3].cells or readings[2].current != readings[3].current


async def test_a_port_open_with_other_line_settings_is_refused(tmp_path: Path) -> None:
    async with simulator(tmp_path, map="renogy_smart_lfp", link="sim/bus") as sim:
        context = DriverContext(tmp_path)
        first = make_driver(battery_entry(sim), context, "first")
        second = make_driver(battery_entry(sim, baudrate=19200), context, "second")
        try:
            await first.connect()
            with pytest.raises(LinkError, match=r"already in use at .* 9600 8N1; this battery asks .* 19200 8N1"):
                await second.connect()
        finally:
            await first.close()
            await second.close()


async def test_8e1_and_tcp_settings_reach_the_pymodbus_client(tmp_path: Path) -> None:
    regmap = load_map("seplos_v3")
    options = ModbusOptions.resolve({"map": "seplos_v3", "port": "ttyS1", "parity": "E"}, regmap, tmp_path)
    assert options.link == LinkSettings("rtu", port=str(tmp_path / "ttyS1"), baudrate=19200, parity="E")
    assert (options.slave, options.timeout, options.inter_frame_delay) == (1, 0.5, 0.02)
    client = ModbusLink(options.link, options.timeout, 0.0)._new_client()
    assert (client.comm_params.parity, client.comm_params.baudrate, client.comm_params.bytesize) == ("E", 19200, 8)
    tcp = ModbusOptions.resolve({"map": "seplos_v3", "host": "192.0.2.7", "slave": 3}, regmap, tmp_path)
    assert tcp.link.key == "tcp://192.0.2.7:502" and tcp.slave == 3
    with pytest.raises(LinkError, match="transport rtu needs port"):
        ModbusOptions.resolve({"map": "seplos_v3"}, regmap, tmp_path)


async def test_a_missing_port_or_server_is_a_link_error(tmp_path: Path) -> None:
    entry = {"map": "renogy_smart_lfp", "port": "nowhere/tty", "timeout": 0.2, "retries": 0}
    driver = make_driver(entry, DriverContext(tmp_path))
    with pytest.raises(LinkError, match="cannot open"):
        await driver.connect()
    await driver.close()
    relative = make_driver({"map": "maps/missing.yaml", "host": "127.0.0.1"}, DriverContext(tmp_path))
    with pytest.raises(LinkError, match=r"register map maps/missing\.yaml: .*map file not found"):
        await relative.connect()


ENUM_MAP = """\
function: holding
registers:
  - {name: voltage, address: 0, scale: 0.1, unit: V, field: voltage}
  - name: protection
    address: 1
    field: alarms
    enum: {0: Normal, 1: {name: over_voltage, text: Over voltage, level: alarm}, 2: {name: low, level: warning}}
  - {name: mode, address: 2, field: state, enum: {0: idle, 1: charging, 2: discharging, 3: fault}}
"""


async def test_enum_alarms_and_state_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "enum.yaml"
    path.write_text(ENUM_MAP, encoding="utf-8")
    context = DriverContext(tmp_path)
    async with (
        simulator(tmp_path, map=str(path)) as quiet,
        simulator(tmp_path, map=str(path), alarms=["over_voltage"]) as loud,
    ):
        calm = make_driver(battery_entry(quiet), context, "calm")
        alarmed = make_driver(battery_entry(loud), context, "alarmed")
        try:
            calm_reading, alarmed_reading = await calm.poll(), await alarmed.poll()
        finally:
            await calm.close()
            await alarmed.close()
    assert calm_reading.alarms == ()  # raw 0 "Normal" is a name, not an alarm
    assert [(a.code, a.text, a.level.value) for a in alarmed_reading.alarms] == [
        ("over_voltage", "Over voltage", "alarm")
    ]
    snapshot = loud.device.snapshot
    assert snapshot is not None and alarmed_reading.state is not None
    assert alarmed_reading.state == state_from_current(snapshot.current)  # read from the map's mode register
    assert loud.device.values["mode"] == {"idle": 0, "charging": 1, "discharging": 2}[alarmed_reading.state.value]
