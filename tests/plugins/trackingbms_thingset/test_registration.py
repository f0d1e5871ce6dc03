"""Registration: the entry point's drivers and simulators, their schemas and CLI options."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import voluptuous as vol
from trackingbms_thingset import registration as reg

from hub.cli import build_parser
from hub.plugins import PluginManager


@pytest.fixture(scope="module")
def manager() -> PluginManager:
    plugins = PluginManager()
    plugins.discover()
    plugins.collect()
    return plugins


def test_entry_point_registers_both_transports(manager: PluginManager) -> None:
    for name in ("thingset", "thingset_can"):
        assert manager.drivers.owners[name] == "thingset"
        assert manager.simulators.owners[name] == "thingset"
    assert manager.drivers.get("thingset").transports == ("uart",)  # type: ignore[union-attr]


def test_battery_schema_defaults_and_yaml_quirks() -> None:
    entry = vol.Schema(reg.BATTERY_SCHEMA)({"port": "/dev/ttyUSB0", "era": 2023, "crc": False})
    assert (entry["baudrate"], entry["era"], entry["crc"], entry["mode"]) == (115200, "2023", "off", "auto")
    for bad in ({"era": "1999"}, {"crc": "maybe"}, {"mode": "push"}, {"cells": 0}):
        with pytest.raises(vol.Invalid):
            vol.Schema(reg.BATTERY_SCHEMA)({"port": "/dev/ttyUSB0", **bad})


def test_can_schema_node_addresses() -> None:
    schema = vol.Schema(reg.CAN_BATTERY_SCHEMA)
    assert schema({"channel": "can0"})["node"] == "auto"
    assert schema({"channel": "can0", "node": "0x05", "era": "main"})["node"] == 5
    for node in (0, 0xFE, 0xFF, "one"):
        with pytest.raises(vol.Invalid):
            schema({"channel": "can0", "node": node})


def test_read_and_simulate_options_from_the_command_line(manager: PluginManager, tmp_path: Path) -> None:
    parser = build_parser(manager)
    read = parser.parse_args(["read", "thingset", "--port", "/dev/ttyACM0", "--era", "v23.1", "--cells", "8"])
    assert reg.options_from_args(read) == vol.Schema(reg.BATTERY_SCHEMA)(
        {"port": "/dev/ttyACM0", "era": "v23.1", "cells": 8, "crc": "auto", "mode": "auto", "timeout": 1.0}
    )
    can = parser.parse_args(["read", "thingset_can", "--interface", "virtual", "--channel", "x", "--node", "3"])
    assert reg.can_options_from_args(can)["node"] == 3
    sim = parser.parse_args(
        ["simulate", "thingset", "--link", "sim/a", "--era", "2021-05", "--fault", "garbage", "--error-flags", "0x142"]
    )
    options = reg.simulator_options_from_args(sim)
    assert (options["era"], options["faults"], options["error_flags"]) == ("2021-05", ["garbage"], 0x142)
    simulator = reg.create_simulator(options, tmp_path)
    assert simulator.link == str(tmp_path / "sim/a") and simulator.device.error_flags == 0x142
    can_sim = parser.parse_args(["simulate", "thingset_can", "--channel", "v", "--era", "2021-05"])
    can_options = reg.can_simulator_options_from_args(can_sim)
    assert reg.create_can_simulator(can_options, tmp_path).node == 10  # the device library's default node


async def test_scan_finds_a_simulated_bms(manager: PluginManager, tmp_path: Path) -> None:
    from hub.scan import scan_ports
    from tests.plugins.trackingbms_thingset.harness import serial_bench

    async with serial_bench(tmp_path) as (simulators, _):
        sim = await simulators(era="2023", report_period=0.2)
        found = await scan_ports(manager, [sim.link], tmp_path, out=io.StringIO())
    assert [f.entry["driver"] for f in found] == ["thingset"]
    assert found[0].entry["port"] == sim.link
