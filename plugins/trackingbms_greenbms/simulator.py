"""The Green-BMS simulator: a Control Unit streaming on a pseudo-terminal, driven by the shared pack model."""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol

from hub.faults import Fault, FaultInjector, fault_name
from hub.simulation import PackModel
from hub.transport.pty import PtyEndpoint
from trackingbms_greenbms.device import GreenBmsDevice

__all__ = ["SIMULATOR_SCHEMA", "GreenBmsSimulator", "add_arguments", "create", "options_from_args"]

_LOGGER = logging.getLogger(__name__)
# Faults that mean something on a push line protocol without checksum. 'bad_token' is this
# protocol's name for a corrupted value (there is no checksum to break).
SUPPORTED_FAULTS = frozenset({Fault.ASLEEP, Fault.GARBAGE, Fault.TRUNCATED, Fault.BAD_CHECKSUM})
_ALIASES = {"bad_token": Fault.BAD_CHECKSUM.value, "bad-token": Fault.BAD_CHECKSUM.value, "silent": Fault.ASLEEP.value}
# Junk never contains what frames a line or a token, so it cannot forge one.
_JUNK_BYTES = bytes(b for b in range(256) if b not in b"$#\r\n")


def green_fault(value: Any) -> str:
    """Voluptuous validator: a fault this simulator applies (asleep/silent, garbage, truncated, bad_token)."""
    name = fault_name(_ALIASES.get(str(value).strip().lower(), value))
    if Fault(name) not in SUPPORTED_FAULTS:
        raise vol.Invalid(f"fault {name!r} does not apply to Green-BMS (use asleep, garbage, truncated, bad_token)")
    return name


SIMULATOR_SCHEMA: dict[Any, Any] = {
    vol.Required("link"): str,
    vol.Optional("cells", default=16): vol.All(vol.Coerce(int), vol.Range(min=1, max=40)),
    vol.Optional("capacity_ah", default=100.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=65535)),
    vol.Optional("soc", default=60.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    vol.Optional("seed"): int,
    vol.Optional("pace", default=False): vol.Boolean(),
    vol.Optional("faults", default=[]): [green_fault],
    # Cell modules that do not answer: 0.00 V, -40 °C, low + error flags.
    vol.Optional("failed_cells", default=[]): [vol.All(vol.Coerce(int), vol.Range(min=1, max=40))],
    # The firmware's clocks: a line every 400 ms, the sign of life every 5 s, the keep-alive
    # check every 15 s (legacy.md §3.3). Shorter values make tests and demos fast.
    vol.Optional("line_interval", default=0.4): vol.All(vol.Coerce(float), vol.Range(min=0.005, max=10)),
    vol.Optional("heartbeat_interval", default=5.0): vol.All(vol.Coerce(float), vol.Range(min=0.01, max=600)),
    vol.Optional("keepalive_timeout", default=15.0): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=3600)),
}


class GreenBmsSimulator:
    """A GreenBmsDevice on a pty: its clocks run as tasks, its lines go out through the fault injector."""

    def __init__(
        self,
        link: Path,
        device: GreenBmsDevice,
        line_interval: float = 0.4,
        heartbeat_interval: float = 5.0,
        keepalive_timeout: float = 15.0,
        pace: bool = False,
        seed: int | None = None,
    ) -> None:
        self.link = str(link)
        self.device = device
        self.faults = FaultInjector(seed)
        self.lines_sent = 0
        self.intervals = (line_interval, heartbeat_interval, keepalive_timeout)
        self._rng = random.Random(seed)
        # Pacing at 9600 baud 8N1 is the HC-05's UART speed (legacy.md §3.2).
        self._pty = PtyEndpoint(link, device.receive, baudrate=9600 if pace else None)
        self._line = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Open the pty and start the unit's clocks."""
        await self._pty.open()
        line, heartbeat, keepalive = self.intervals
        clocks: list[tuple[float, Callable[[], Awaitable[None]]]] = [
            (line, lambda: self._send(self.device.tick())),
            (heartbeat, lambda: self._send([self.device.heartbeat()])),
            (keepalive, self._keepalive_check),
        ]
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._every(period, action)) for period, action in clocks]
        _LOGGER.info("Green-BMS simulator on %s (%s)", self.link, self._pty.slave_name)

    async def stop(self) -> None:
        """Stop the clocks and remove the link."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._pty.close()

    async def _keepalive_check(self) -> None:
        was = self.device.streaming
        self.device.keepalive_check()
        if was and not self.device.streaming:
            _LOGGER.info("%s: keep-alive unchanged, back to page 0", self.link)

    @staticmethod
    async def _every(period: float, action: Callable[[], Awaitable[None]]) -> None:
        # A fixed schedule, like the firmware's millis() oscillators: no drift from slow sends.
        # After a stall of the host's event loop, missed periods are skipped, not run in a burst:
        # two keep-alive checks back to back would drop a host that did nothing wrong.
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due = max(due + period, loop.time())
            await asyncio.sleep(due - loop.time())
            await action()

    async def _send(self, lines: list[bytes]) -> None:
        for line in lines:
            data = self._damaged(line)
            if data is None:
                continue
            async with self._line:  # one UART: a line goes out whole before the next
                await self._pty.write_paced(data)
            self.lines_sent += 1

    def _damaged(self, line: bytes) -> bytes | None:
        """The line after the active faults; None when the unit stays silent."""
        if self.faults.use(Fault.ASLEEP):
            return None
        if self.faults.use(Fault.BAD_CHECKSUM):
            line = self._bad_token(line)
        if self.faults.use(Fault.TRUNCATED):
            line = line[: max(1, len(line) * 2 // 3)]  # its end and its CR LF are lost
        if self.faults.use(Fault.GARBAGE):
            line = bytes(self._rng.choice(_JUNK_BYTES) for _ in range(7)) + line
        return line

    def _bad_token(self, line: bytes) -> bytes:
        # A digit of a value turned into a letter: well framed, but a value the firmware never prints.
        codes = {i + offset for i, byte in enumerate(line) if byte == 0x23 for offset in range(5)}  # '#' + 4
        digits = [i for i, byte in enumerate(line) if 0x30 <= byte <= 0x39 and i not in codes]
        if not digits:
            return line
        at = self._rng.choice(digits)
        return line[:at] + b"x" + line[at + 1 :]


def create(options: Mapping[str, Any], base_dir: Path) -> GreenBmsSimulator:
    """Build a simulator from a validated ``simulators`` entry (relative links are under base_dir)."""
    link = Path(options["link"])
    if not link.is_absolute():
        link = base_dir / link
    seed = options.get("seed")
    capacity = float(options.get("capacity_ah", 100.0))
    pack = PackModel(
        cells=options.get("cells", 16), temps=2, capacity_ah=capacity, soc=options.get("soc", 60.0), seed=seed
    )
    device = GreenBmsDevice(pack, capacity_ah=round(capacity), failed_cells=options.get("failed_cells", ()), seed=seed)
    simulator = GreenBmsSimulator(
        link,
        device,
        line_interval=options.get("line_interval", 0.4),
        heartbeat_interval=options.get("heartbeat_interval", 5.0),
        keepalive_timeout=options.get("keepalive_timeout", 15.0),
        pace=options.get("pace", False),
        seed=seed,
    )
    for fault in options.get("faults", []):
        simulator.faults.inject(fault)
    return simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trackingbms simulate greenbms``."""
    parser.add_argument("--link", required=True, help="where to symlink the pseudo-terminal")
    parser.add_argument("--cells", type=int, default=16, help="cells in series (1-40)")
    parser.add_argument("--capacity", type=float, default=100.0, help="capacity in Ah")
    parser.add_argument("--soc", type=float, default=60.0, help="initial state of charge in %%")
    parser.add_argument("--seed", type=int, help="random seed for a reproducible pack")
    parser.add_argument("--pace", action="store_true", help="send at the 9600 baud line rate")
    parser.add_argument("--failed-cell", type=int, action="append", default=[], help="a cell module that is silent")
    parser.add_argument("--line-interval", type=float, default=0.4, help="seconds between lines (firmware: 0.4)")
    parser.add_argument("--keepalive-timeout", type=float, default=15.0, help="keep-alive check period (firmware: 15)")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="FAULT", help="asleep, garbage, truncated or bad_token"
    )


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map CLI options to a validated ``simulators`` entry."""
    entry: dict[str, Any] = {
        "link": args.link,
        "cells": args.cells,
        "capacity_ah": args.capacity,
        "soc": args.soc,
        "pace": args.pace,
        "faults": args.fault,
        "failed_cells": args.failed_cell,
        "line_interval": args.line_interval,
        "keepalive_timeout": args.keepalive_timeout,
    }
    if args.seed is not None:
        entry["seed"] = args.seed
    result: dict[str, Any] = vol.Schema(SIMULATOR_SCHEMA)(entry)
    return result
