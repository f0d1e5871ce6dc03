"""The Daly A5 device simulator on a pseudo-terminal, driven by the shared pack model."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol

from hub.config.schema import byte_value
from hub.simulation import PackModel
from hub.transport.pty import PtyEndpoint
from trackingbms_daly.a5.device import DalyA5Device
from trackingbms_daly.a5.framing import A5Frame, A5Framer

_LOGGER = logging.getLogger(__name__)
QUIET_GAP = 0.05  # seconds of silence after which a held-back request is decided

SIMULATOR_SCHEMA: dict[Any, Any] = {
    vol.Required("link"): str,
    vol.Optional("cells", default=16): vol.All(int, vol.Range(min=1, max=48)),
    vol.Optional("temps", default=2): vol.All(int, vol.Range(min=0, max=16)),
    vol.Optional("address", default="any"): vol.Any("any", byte_value),
    vol.Optional("board", default=1): vol.All(int, vol.Range(min=1, max=16)),
    vol.Optional("capacity_ah", default=100.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=10000)),
    vol.Optional("soc", default=60.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    vol.Optional("seed"): int,
    vol.Optional("pace", default=False): bool,
    vol.Optional("all_cell_frames", default=False): bool,
    vol.Optional("invert_current", default=False): bool,
}


class DalySimulator:
    """Answers A5 requests arriving on a pty like a Daly board would."""

    def __init__(self, link: Path, device: DalyA5Device, pace_baudrate: int | None = None) -> None:
        self.device = device
        self.link = str(link)
        self._framer = A5Framer()
        self._pty = PtyEndpoint(link, self._on_data, baudrate=pace_baudrate)
        self._tasks: set[asyncio.Task[None]] = set()
        self._quiet: asyncio.TimerHandle | None = None
        self.requests = 0

    async def start(self) -> None:
        """Open the pty and link it."""
        await self._pty.open()
        _LOGGER.info("Daly simulator on %s (%s)", self.link, self._pty.slave_name)

    def _on_data(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self._quiet is not None:
            self._quiet.cancel()
        # The framer may hold a complete request whose tail looks like another frame's start;
        # a quiet line means nothing else is coming, so decide then (like the driver does).
        self._quiet = loop.call_later(QUIET_GAP, self._answer, self._framer.flush)
        self._answer(lambda: self._framer.feed(data))

    def _answer(self, frames: Callable[[], list[A5Frame]]) -> None:
        for request in frames():
            self.requests += 1
            answer = b"".join(self.device.handle(request.raw))
            if answer:
                task = asyncio.get_running_loop().create_task(self._pty.write_paced(answer))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop answering and remove the link."""
        if self._quiet is not None:
            self._quiet.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self._pty.close()


def create(options: Mapping[str, Any], base_dir: Path) -> DalySimulator:
    """Build a simulator from a validated ``simulators`` entry (relative links are under base_dir)."""
    link = Path(options["link"])
    if not link.is_absolute():
        link = base_dir / link
    pack = PackModel(
        cells=options["cells"],
        temps=options["temps"],
        capacity_ah=options["capacity_ah"],
        soc=options["soc"],
        seed=options.get("seed"),
    )
    address = options.get("address", "any")
    hosts = frozenset({0x40, 0x80}) if address == "any" else frozenset({int(address)})
    device = DalyA5Device(
        pack,
        board=options["board"],
        host_addresses=hosts,
        all_cell_frames=options["all_cell_frames"],
        invert_current=options["invert_current"],
    )
    return DalySimulator(link, device, pace_baudrate=9600 if options["pace"] else None)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trackingbms simulate daly``."""
    parser.add_argument("--link", required=True, help="where to symlink the pseudo-terminal")
    parser.add_argument("--cells", type=int, default=16, help="cells in series (1-48)")
    parser.add_argument("--temps", type=int, default=2, help="temperature sensors (0-16)")
    parser.add_argument("--address", default="any", help="host address answered: 0x40, 0x80 or any")
    parser.add_argument("--board", type=int, default=1, help="RS485 board number (1-16)")
    parser.add_argument("--capacity", type=float, default=100.0, help="capacity in Ah")
    parser.add_argument("--soc", type=float, default=60.0, help="initial state of charge in %%")
    parser.add_argument("--seed", type=int, help="random seed for reproducible packs")
    parser.add_argument("--pace", action="store_true", help="send answers at the 9600 baud line rate")
    parser.add_argument("--all-cell-frames", action="store_true", help="answer 0x95 with all 16 frames")
    parser.add_argument("--invert-current", action="store_true", help="send discharge as positive current")


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map CLI options to a validated ``simulators`` entry."""
    entry = {
        "link": args.link,
        "cells": args.cells,
        "temps": args.temps,
        "address": args.address,
        "board": args.board,
        "capacity_ah": args.capacity,
        "soc": args.soc,
        "pace": args.pace,
        "all_cell_frames": args.all_cell_frames,
        "invert_current": args.invert_current,
    }
    if args.seed is not None:
        entry["seed"] = args.seed
    result: dict[str, Any] = vol.Schema(SIMULATOR_SCHEMA)(entry)
    return result
