"""``trackingbms read|simulate modbus``: options, and a real read of a running simulator."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import voluptuous as vol
from trackingbms_modbus.simconfig import SIMULATOR_SCHEMA, create
from trackingbms_modbus.simulator import ModbusSimulator

from hub.cli import _plugins, build_parser, main


@pytest.fixture
def running_simulator(tmp_path: Path) -> Iterator[ModbusSimulator]:
    """A TCP simulator served from its own thread and loop, so the CLI can run asyncio.run() here."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, ModbusSimulator] = {}
    stop = asyncio.Event()

    async def serve() -> None:
        sim = create(vol.Schema(SIMULATOR_SCHEMA)({"map": "renogy_smart_lfp", "cells": 4, "seed": 3}), tmp_path)
        await sim.start()
        holder["sim"] = sim
        ready.set()
        await stop.wait()
        await sim.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the simulator did not start"
    yield holder["sim"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    loop.close()


def test_read_prints_a_reading_from_the_simulator(
    running_simulator: ModbusSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["read", "modbus", "--map", "renogy_smart_lfp", "--host", "127.0.0.1", "--port", str(running_simulator.port)]
    assert main([*argv, "--json", "--timeout", "1"]) == 0
    reading = json.loads(capsys.readouterr().out)
    assert reading["battery_id"] == "cli" and len(reading["cells"]) == 4
    assert reading["voltage"] == pytest.approx(running_simulator.device.snapshot.voltage, abs=0.06)  # type: ignore[union-attr]


def test_read_reports_silence(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["read", "modbus", "--map", "seplos_v3", "--port", str(tmp_path / "no-such-tty"), "--retries", "0"])
    assert code == 1
    assert "no answer: cannot open" in capsys.readouterr().err


def test_simulate_options_become_a_simulator_entry() -> None:
    manager = _plugins(None)
    args = build_parser(manager).parse_args(
        [
            *("simulate", "modbus", "--map", "seplos_v3", "--link", "sim/x", "--slave", "1", "--slave", "2"),
            *("--fault", "exception", "--fault", "bad-checksum", "--alarm", "gyro_lockout", "--cells", "8"),
        ]
    )
    spec = manager.simulators.get("modbus")
    assert spec is not None and spec.options_from_args is not None
    entry = spec.options_from_args(args)
    assert entry["slaves"] == [1, 2] and entry["link"] == "sim/x" and entry["cells"] == 8
    assert entry["faults"] == ["exception", "bad_checksum"] and entry["alarms"] == ["gyro_lockout"]
    with pytest.raises(vol.Invalid):
        spec.options_from_args(
            build_parser(manager).parse_args(["simulate", "modbus", "--map", "x/none.yaml", "--fault", "melt"])
        )
