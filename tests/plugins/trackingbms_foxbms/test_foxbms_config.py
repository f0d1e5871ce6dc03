"""Battery and simulator options: schemas, DBC selection precedence and the CLI mappings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from trackingbms_foxbms import plugin, simulator
from trackingbms_foxbms.assembly import CurrentSign
from trackingbms_foxbms.config import BATTERY_SCHEMA, FoxbmsOptions, StateRequest, add_read_arguments, options_from_args
from trackingbms_foxbms.dbc import BUNDLED, FlagPolarity, Layout

from hub.plugins import PluginManager


def options(**entry: Any) -> FoxbmsOptions:
    return FoxbmsOptions.from_config(vol.Schema(BATTERY_SCHEMA)({"channel": "can0", **entry}), Path("/data"))


def test_defaults_listen_at_500_kbits() -> None:
    opts = options()
    assert (opts.bus.interface, opts.bus.channel, opts.bus.bitrate) == ("socketcan", "can0", 500_000)
    assert opts.state_request is None  # listen only
    assert opts.current_sign is CurrentSign.DISCHARGE_POSITIVE  # BS_POSITIVE_DISCHARGE_CURRENT = true
    assert (opts.dbc_path, opts.layout, opts.cells, opts.temps, opts.invalid_flag) == (None, None, None, None, None)
    assert opts.timeout == 10.0


def test_state_requests_need_an_explicit_request() -> None:
    with pytest.raises(vol.Invalid, match="send_state_request"):
        options(send_state_request=True)
    with pytest.raises(vol.Invalid, match="mode"):
        options(send_state_request={"balancing": True})
    with pytest.raises(vol.Invalid):
        options(send_state_request={"mode": "discharge"})
    assert options(send_state_request=False).state_request is None
    assert options(send_state_request={"mode": "charge", "balancing": "yes"}).state_request == StateRequest(
        "charge", True, 0
    )


@pytest.mark.parametrize(
    ("entry", "layout", "polarity"),
    [
        ({"firmware": "1.6.0"}, Layout.V1_6, FlagPolarity.ONE_MEANS_INVALID),
        ({"firmware": "1.7"}, Layout.CURRENT, FlagPolarity.ONE_MEANS_INVALID),
        ({"firmware": "v1.11.0"}, Layout.CURRENT, FlagPolarity.ONE_MEANS_VALID),
        ({"dbc_version": "v1.6"}, Layout.V1_6, FlagPolarity.ONE_MEANS_INVALID),
        ({"dbc_version": "current", "firmware": "1.6"}, Layout.CURRENT, FlagPolarity.ONE_MEANS_INVALID),
        (
            {"dbc_version": "current", "invalid_flag": "one_means_invalid"},
            Layout.CURRENT,
            FlagPolarity.ONE_MEANS_INVALID,
        ),
    ],
)
def test_dbc_selection(entry: dict[str, Any], layout: Layout, polarity: FlagPolarity) -> None:
    opts = options(**entry)
    assert opts.layout is layout
    assert opts.dbc_path == BUNDLED[layout]
    assert opts.settings(layout).polarity is polarity


def test_own_dbc_paths() -> None:
    assert options(dbc="mine.dbc").dbc_path == Path("/data/mine.dbc")  # relative: under the data directory
    assert options(dbc="/etc/foxbms.dbc", dbc_version="v1.6").dbc_path == Path("/etc/foxbms.dbc")
    assert options(dbc="/etc/foxbms.dbc", dbc_version="v1.6").layout is Layout.V1_6


@pytest.mark.parametrize(
    "entry",
    [
        {"firmware": "latest"},
        {"cells": 0},
        {"cells": 217},
        {"temps": 181},
        {"dbc_version": "v1.7"},
        {"current_sign": "auto"},
        {"invalid_flag": "maybe"},
        {"timeout": 0.1},
    ],
)
def test_rejected_options(entry: dict[str, Any]) -> None:
    with pytest.raises(vol.Invalid):
        options(**entry)


def test_read_cli_mapping() -> None:
    parser = argparse.ArgumentParser()
    add_read_arguments(parser)
    args = parser.parse_args(["--channel", "can1", "--cells", "18", "--firmware", "1.7", "--option", "fd=false"])
    entry = options_from_args(args)
    assert entry["cells"] == 18 and entry["firmware"] == "1.7" and entry["options"] == {"fd": False}
    assert entry["send_state_request"] is False  # the CLI never sends


def test_simulate_cli_mapping() -> None:
    parser = argparse.ArgumentParser()
    simulator.add_arguments(parser)
    args = parser.parse_args(["--invalid-cell", "3", "--fault", "truncated", "--flag", "open_wire", "--strings", "2"])
    entry = simulator.options_from_args(args)
    assert (entry["interface"], entry["channel"], entry["cells"], entry["temps"]) == ("socketcan", "vcan0", 18, 8)
    assert entry["invalid_cells"] == [3] and entry["faults"] == ["truncated"] and entry["flags"] == ["open_wire"]
    with pytest.raises(vol.Invalid, match="unknown flag"):
        simulator.options_from_args(parser.parse_args(["--flag", "nonsense"]))


def test_the_plugin_registers_driver_simulator_and_decoder() -> None:
    manager = PluginManager()
    manager.register(plugin, "foxbms")
    manager.collect()
    assert manager.plugins["foxbms"].state == "loaded"
    driver = manager.drivers.get("foxbms")
    assert driver is not None and driver.transports == ("can",) and driver.decode is not None
    assert manager.simulators.get("foxbms") is not None
