"""The slcan adapter emulator, and the driver through python-can's real ``slcan`` interface on its pty."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from trackingbms_daly.can.driver import DalyCanDriver
from trackingbms_daly.can.registration import BATTERY_SCHEMA, SIMULATOR_SCHEMA
from trackingbms_daly.can.simulator import DalyCanSimulator, create
from trackingbms_daly.can.slcan import SlcanEmulator

from hub.batteries import battery_config
from hub.cli import main
from hub.specs import DriverContext, LinkError
from tests.helpers import wait_for

Factory = Callable[..., Any]
# python-can's slcan waits 2 s after opening the serial port by default; a pty is ready at once.
FAST_OPEN = {"sleep_after_open": 0}


class Wire:
    """Drives an emulator without a pty: what the host writes in, what the adapter answers."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bytes, bool]] = []
        self.out = bytearray()
        self.emulator = SlcanEmulator("/nonexistent", lambda *frame: self.frames.append(frame))
        self.emulator.pty.write = self._capture  # type: ignore[method-assign]

    def _capture(self, data: bytes) -> None:
        self.out.extend(data)

    def send(self, text: str) -> bytes:
        self.out.clear()
        self.emulator.pty.on_data(text.encode())
        return bytes(self.out)


def test_open_bitrate_and_close_follow_the_lawicel_rules() -> None:
    wire = Wire()
    assert wire.send("C\r") == b"\a"  # not open
    assert wire.send("S5\r") == b"\r"
    assert wire.emulator.bitrate == 250_000
    assert wire.send("S\r") == b"\a"
    assert wire.send("\r") == b"\r"  # a bare CR flushes
    assert wire.send("O\r") == b"\r"
    assert wire.send("O\r") == b"\a"  # already open
    assert wire.send("S6\r") == b"\a"  # bit rate only while closed
    assert wire.send("V\r").startswith(b"V") and wire.send("F\r") == b"F00\r"
    assert wire.send("C\r") == b"\r"
    assert wire.send("X\r") == b"\a"


def test_transmitted_frames_reach_the_bus_only_while_open() -> None:
    wire = Wire()
    assert wire.send("T1890014080000000000000000\r") == b"\a"
    wire.send("O\r")
    assert wire.send("T189001408000000000000000") == b""  # no terminator yet
    assert wire.send("0\r") == b"\r"
    assert wire.send("t12320102\r") == b"\r"
    assert wire.send("R189001408\r") == b"\r"  # remote frames are acknowledged, not delivered
    assert wire.send("T1890014080000\r") == b"\a"  # DLC 8 with 2 bytes
    assert wire.send("T18900140Z\r") == b"\a"
    assert wire.frames == [(0x18900140, bytes(8), True), (0x123, b"\x01\x02", False)]


def test_frames_from_the_bus_are_written_as_extended_lines() -> None:
    wire = Wire()
    assert not wire.emulator.send_frame(0x18904001, bytes.fromhex("0203000077240338"))  # closed: dropped
    wire.send("O\r")
    wire.out.clear()
    assert wire.emulator.send_frame(0x18904001, bytes.fromhex("0203000077240338"))
    assert bytes(wire.out) == b"T1890400180203000077240338\r"


def test_listen_only_refuses_to_transmit() -> None:
    wire = Wire()
    assert wire.send("L\r") == b"\r"
    assert wire.send("T1890014080000000000000000\r") == b"\a"


@pytest.fixture
async def slcan_boards(tmp_path: Path) -> AsyncIterator[Factory]:
    started: list[DalyCanSimulator] = []

    async def start(**options: Any) -> DalyCanSimulator:
        entry = vol.Schema(SIMULATOR_SCHEMA)({"interface": "slcan-pty", "link": "can/adapter", "seed": 4, **options})
        simulator = create(entry, tmp_path)
        await simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        await simulator.stop()


def make_driver(channel: str, context: DriverContext, **options: Any) -> DalyCanDriver:
    entry = vol.Schema(BATTERY_SCHEMA)({"interface": "slcan", "channel": channel, "options": FAST_OPEN, **options})
    return DalyCanDriver(battery_config({"id": f"b{options.get('board', 1)}", "driver": "daly_can", **entry}), context)


async def test_two_boards_through_python_can_slcan_on_the_pty(slcan_boards: Factory, tmp_path: Path) -> None:
    simulator = await slcan_boards(boards=2, cells=8, temps=2)
    assert Path(simulator.link) == tmp_path / "can/adapter"
    context = DriverContext(tmp_path)
    # A relative slcan channel is relative to the data directory, like serial ports.
    first = make_driver("can/adapter", context, timeout=5)
    second = make_driver(simulator.link, context, board=2, timeout=5)
    try:
        await first.connect()
        await second.connect()
        assert first.bus is second.bus
        one, two = await asyncio.gather(first.poll(), second.poll())
        assert len(one.cells) == len(two.cells) == 8
        assert len(one.temperatures) == len(two.temperatures) == 2
        assert simulator.boards.requests == 16
    finally:
        await first.close()
        await second.close()
    slcan = simulator.slcan
    assert slcan is not None and slcan.bitrate == 250_000  # python-can sent S5
    await wait_for(lambda: slcan.commands[-1] == "C")  # and closes the channel on shutdown
    assert not slcan.is_open


async def test_an_asleep_board_behind_slcan_is_a_link_error(slcan_boards: Factory, tmp_path: Path) -> None:
    simulator = await slcan_boards(faults=["asleep"])
    driver = make_driver(simulator.link, DriverContext(tmp_path), timeout=0.1, retries=1)
    try:
        with pytest.raises(LinkError):
            await driver.poll()
    finally:
        await driver.close()


async def test_read_cli_through_slcan(slcan_boards: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    simulator = await slcan_boards(board=0x0E, cells=4, temps=1)
    args = ["read", "daly_can", "--interface", "slcan", "--channel", simulator.link, "--board", "0x0E"]
    code = await asyncio.to_thread(main, [*args, "--option", "sleep_after_open=0", "--json"])
    assert code == 0
    assert '"cells": [' in capsys.readouterr().out


async def test_simulate_cli_serves_another_process(tmp_path: Path) -> None:
    link = tmp_path / "adapter"
    command = [sys.executable, "-m", "hub", "simulate", "daly_can", "--interface", "slcan-pty", "--link", str(link)]
    process = await asyncio.create_subprocess_exec(
        *command, "--cells", "5", "--seed", "1", stdout=asyncio.subprocess.DEVNULL, cwd=tmp_path
    )
    try:
        await wait_for(link.exists, timeout=60)  # a cold interpreter start can be slow on a loaded machine
        driver = make_driver(str(link), DriverContext(tmp_path))
        try:
            assert len((await driver.poll()).cells) == 5
        finally:
            await driver.close()
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            await process.wait()
    assert not link.exists()
