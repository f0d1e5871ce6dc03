"""The Daly A5 device simulator on a pseudo-terminal, driven by the shared pack model."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import voluptuous as vol

from hub.config.schema import byte_value
from hub.faults import Fault, fault_name
from hub.simulation import add_pack_arguments, pack_options_from_args, packs_for
from hub.transport.pty_device import PtyDevice
from trackingbms_daly.a5.device import DalyA5Device
from trackingbms_daly.a5.framing import A5Frame, A5Framer

_LOGGER = logging.getLogger(__name__)


SIMULATOR_SCHEMA: dict[Any, Any] = {
    vol.Required("link"): str,
    vol.Optional("cells", default=16): vol.All(vol.Coerce(int), vol.Range(min=1, max=48)),
    vol.Optional("temps", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=16)),
    vol.Optional("address", default="any"): vol.Any("any", vol.All(byte_value, vol.In([0x40, 0x80]))),
    vol.Optional("board", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=16)),
    # Several boards on one RS485 bus: boards board..board+boards-1, each with its own pack.
    vol.Optional("boards", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=16)),
    vol.Optional("faults", default=[]): [fault_name],
    vol.Optional("capacity_ah", default=100.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=10000)),
    vol.Optional("soc", default=60.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    vol.Optional("seed"): int,
    vol.Optional("pace", default=False): vol.Boolean(),
    vol.Optional("all_cell_frames", default=False): vol.Boolean(),
    vol.Optional("invert_current", default=False): vol.Boolean(),
}


class DalySimulator(PtyDevice[A5Frame]):
    """Answers A5 requests arriving on a pty like one or more Daly boards on a bus would."""

    def __init__(self, link: Path, devices: Sequence[DalyA5Device], pace_baudrate: int | None = None) -> None:
        super().__init__(link, A5Framer(), pace_baudrate)
        self.devices = list(devices)
        # Configured behaviour, which the INVERTED_CURRENT / ALL_CELL_FRAMES faults flip or add to.
        self._base_invert = self.devices[0].invert_current
        self._base_all_frames = self.devices[0].all_cell_frames

    @property
    def device(self) -> DalyA5Device:
        """The first board (the only one unless ``boards`` > 1)."""
        return self.devices[0]

    def answers(self, request: A5Frame) -> list[list[bytes]]:
        """Each board sees the request; only the addressed one answers (RS485 multi-drop)."""
        result = []
        for device in self.devices:
            device.invert_current = self._base_invert != self.faults.use(Fault.INVERTED_CURRENT)
            device.all_cell_frames = self._base_all_frames or self.faults.use(Fault.ALL_CELL_FRAMES)
            device.junk_cells = self.faults.use(Fault.JUNK_CELLS)
            result.append(device.handle(request.raw))
        return result


def create(options: Mapping[str, Any], base_dir: Path) -> DalySimulator:
    """Build a simulator from a validated ``simulators`` entry (relative links are under base_dir)."""
    link = Path(options["link"])
    if not link.is_absolute():
        link = base_dir / link
    address = options.get("address", "any")
    hosts = frozenset({0x40, 0x80}) if address == "any" else frozenset({int(address)})
    packs = packs_for(options, options.get("boards", 1))
    devices = [
        DalyA5Device(
            pack,
            board=options["board"] + offset,
            host_addresses=hosts,
            all_cell_frames=options["all_cell_frames"],
            invert_current=options["invert_current"],
        )
        for offset, pack in enumerate(packs)
    ]
    simulator = DalySimulator(link, devices, pace_baudrate=9600 if options["pace"] else None)
    for fault in options.get("faults", []):
        simulator.faults.inject(fault)
    return simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trackingbms simulate daly``."""
    parser.add_argument("--link", required=True, help="where to symlink the pseudo-terminal")
    add_pack_arguments(parser, cells="1-48", temps="0-16")
    parser.add_argument("--address", default="any", help="host address answered: 0x40, 0x80 or any")
    parser.add_argument("--board", type=int, default=1, help="RS485 board number (1-16)")
    parser.add_argument("--boards", type=int, default=1, help="boards on this RS485 bus (numbered from --board)")
    parser.add_argument("--all-cell-frames", action="store_true", help="answer 0x95 with all 16 frames")


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map CLI options to a validated ``simulators`` entry."""
    entry = {
        "link": args.link,
        **pack_options_from_args(args),
        "address": args.address,
        "board": args.board,
        "boards": args.boards,
        "all_cell_frames": args.all_cell_frames,
    }
    result: dict[str, Any] = vol.Schema(SIMULATOR_SCHEMA)(entry)
    return result
