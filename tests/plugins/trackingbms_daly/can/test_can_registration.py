"""The ``daly_can`` driver and simulator as the plugin registers them: schemas and CLI options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from trackingbms_daly.can import registration
from trackingbms_daly.can.simulator import create

from hub.cli import build_parser
from hub.plugins import PluginManager


@pytest.fixture(scope="module")
def manager() -> PluginManager:
    plugins = PluginManager()
    plugins.discover([])
    plugins.collect()
    return plugins


def test_the_daly_plugin_registers_driver_and_simulator(manager: PluginManager) -> None:
    driver = manager.drivers.get("daly_can")
    assert driver is not None and driver.transports == ("can",) and driver.decode is not None
    assert manager.simulators.get("daly_can") is not None
    assert manager.drivers.owners["daly_can"] == manager.simulators.owners["daly_can"]


def test_battery_defaults() -> None:
    entry = vol.Schema(registration.BATTERY_SCHEMA)({"channel": "can0"})
    assert entry == {
        "interface": "socketcan",
        "channel": "can0",
        "bitrate": 250_000,
        "board": 1,
        "timeout": 0.5,
        "retries": 2,
        "current_sign": "auto",
        "options": {},
    }


@pytest.mark.parametrize("board", [0, 0x40, 256, "0x40", "x"])
def test_bad_boards_are_refused(board: Any) -> None:
    with pytest.raises(vol.Invalid):
        vol.Schema(registration.BATTERY_SCHEMA)({"channel": "can0", "board": board})


def test_read_arguments_map_to_a_battery_entry(manager: PluginManager) -> None:
    argv = ["read", "daly_can", "--interface", "slcan", "--channel", "/dev/ttyACM0", "--board", "0x0B"]
    args = build_parser(manager).parse_args([*argv, "--option", "tty_baudrate=115200", "--option", "rtscts=true"])
    spec = manager.drivers.get("daly_can")
    assert spec is not None and spec.options_from_args is not None
    entry = spec.options_from_args(args)
    assert (entry["interface"], entry["channel"], entry["board"]) == ("slcan", "/dev/ttyACM0", 0x0B)
    assert entry["options"] == {"tty_baudrate": 115200, "rtscts": True}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a=1", ("a", 1)), ("a=1.5", ("a", 1.5)), ("a=False", ("a", False)), ("a=x=y", ("a", "x=y")), ("a=", ("a", ""))],
)
def test_parse_option(text: str, expected: tuple[str, Any]) -> None:
    assert registration.parse_option(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=1"])
def test_parse_option_needs_a_key_and_value(text: str) -> None:
    with pytest.raises(vol.Invalid):
        registration.parse_option(text)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--interface", "slcan-pty"], "needs --link"),
        (["--interface", "virtual"], "needs --channel"),
        (["--interface", "virtual", "--channel", "x", "--fault", "sleepy"], "unknown fault"),
    ],
)
def test_simulate_arguments_are_checked(manager: PluginManager, argv: list[str], error: str) -> None:
    args = build_parser(manager).parse_args(["simulate", "daly_can", *argv])
    spec = manager.simulators.get("daly_can")
    assert spec is not None and spec.options_from_args is not None
    with pytest.raises(vol.Invalid, match=error):
        spec.options_from_args(args)


def test_simulate_arguments_map_to_an_entry(manager: PluginManager) -> None:
    argv = ["simulate", "daly_can", "--link", "sim/can", "--boards", "2", "--board", "0x0B", "--fault", "junk-cells"]
    args = build_parser(manager).parse_args(argv)
    spec = manager.simulators.get("daly_can")
    assert spec is not None and spec.options_from_args is not None
    entry = spec.options_from_args(args)
    assert (entry["interface"], entry["link"], entry["board"], entry["faults"]) == (
        "slcan-pty",
        "sim/can",
        0x0B,
        ["junk_cells"],
    )


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"interface": "slcan-pty"}, "needs a link"),
        ({"interface": "virtual"}, "needs a channel"),
        ({"interface": "virtual", "channel": "x", "board": 250, "boards": 10}, "0xFF"),
    ],
)
def test_simulator_entries_are_checked(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        create(vol.Schema(registration.SIMULATOR_SCHEMA)(options), Path("/"))
