"""The command line: decode captured Green-BMS lines, simulate a unit, read it once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import voluptuous as vol
from trackingbms_greenbms.plugin import BATTERY_SCHEMA

from hub.cli import build_parser, main
from hub.plugins import PluginManager

OVERVIEW = "$#g00153.1$#g0025.50$#g00367$#g0043.35$#g0053.29$#g0061$"
CELLS = "$#v0152.85$#t01525$#u01524$#z015001000$#v0160.00$#t016-40$#u016-40$#z016000100$"


def decode(capsys: pytest.CaptureFixture[str], *lines: str) -> tuple[int, list[dict[str, object]]]:
    code = main(["decode", "greenbms", *lines, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_decode_prints_every_token_with_its_unit(capsys: pytest.CaptureFixture[str]) -> None:
    code, (overview, cells) = decode(capsys, OVERVIEW, CELLS)
    assert code == 0
    assert overview["kind"] == "overview"
    tokens = overview["tokens"]
    assert isinstance(tokens, list)
    assert tokens[1] == {"token": "#g002", "name": "current", "value": 5.5, "unit": "A"}
    assert tokens[5]["meaning"] == "charging"
    assert cells["kind"] == "cells"
    flags = {t["cell"]: t["flags"] for t in cells["tokens"] if t["name"] == "status"}  # type: ignore[attr-defined]
    assert flags == {15: ["low_voltage"], 16: ["error"]}


def test_decode_splits_a_pasted_capture_and_reads_host_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, results = decode(capsys, f"{OVERVIEW}\r\n$#i000123$#i0011$\r\n", "#s3", "#p0243600", "#m 12")
    assert code == 0
    assert [r.get("kind") or r.get("command") for r in results] == [
        "overview",
        "heartbeat",
        "select_page",
        "write_parameter",
        "keep_alive",
    ]
    assert results[2]["page"] == "cells"
    assert (results[3]["parameter"], results[3]["value"], results[3]["unit"]) == ("very_high_voltage", 3600, "mV")
    assert results[4]["received_as"] == "#m12"  # the firmware drops the space


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("$#v0013.3$", "not a number with 2 decimals"),
        (OVERVIEW[:30] + "$", "no line of"),
        ("hello", "no token found"),
        ("#x1", "unknown command"),
    ],
)
def test_decode_reports_errors_and_exits_1(capsys: pytest.CaptureFixture[str], line: str, error: str) -> None:
    code, (result,) = decode(capsys, line)
    assert code == 1
    assert error in str(result["error"])


def test_simulate_and_read_options_are_validated() -> None:
    manager = PluginManager()
    manager.discover([])
    manager.collect()
    parser = build_parser(manager)
    args = parser.parse_args(["simulate", "greenbms", "--link", "x", "--fault", "bad_token", "--failed-cell", "3"])
    simulator = manager.simulators.get("greenbms")
    assert simulator is not None and simulator.options_from_args is not None
    options = simulator.options_from_args(args)
    assert (options["faults"], options["failed_cells"], options["line_interval"]) == (["bad_checksum"], [3], 0.4)
    args = parser.parse_args(["simulate", "greenbms", "--link", "x", "--fault", "late"])
    with pytest.raises(vol.Invalid, match="does not apply to Green-BMS"):
        simulator.options_from_args(args)
    with pytest.raises(vol.Invalid):
        vol.Schema(BATTERY_SCHEMA)({"port": "/dev/rfcomm0", "keepalive_interval": 15})  # the firmware's window


def test_simulate_then_read_from_the_command_line(tmp_path: Path) -> None:
    link = tmp_path / "greenbms"
    cli = [sys.executable, "-m", "hub"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    simulate = subprocess.Popen(
        [*cli, "simulate", "greenbms", "--link", str(link), "--cells", "6", "--line-interval", "0.05", "--seed", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not link.exists():  # the simulator links its pty once it runs
            assert simulate.poll() is None, simulate.stdout.read() if simulate.stdout else ""
            assert time.monotonic() < deadline, "the simulator did not start"
            time.sleep(0.05)
        read = subprocess.run(
            [*cli, "read", "greenbms", "--port", str(link), "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        simulate.send_signal(signal.SIGINT)
        simulate.wait(timeout=30)
    assert read.returncode == 0, read.stderr
    reading = json.loads(read.stdout)
    assert len(reading["cells"]) == 6
    assert len(reading["temperatures"]) == 12
