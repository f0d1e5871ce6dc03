"""Simulated Daly D2 / 0x81 boards on a pseudo-terminal, with fault injection, driven by the pack model."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import voluptuous as vol

from hub.faults import Fault, fault_name
from hub.simulation import add_pack_arguments, pack_options_from_args, packs_for
from hub.transport.pty_device import PtyDevice
from trackingbms_daly.modbus.device import FAMILIES, DalyModbusDevice, request_addresses
from trackingbms_daly.modbus.framing import MAX_BOARD, WRITE_SINGLE, ModbusFrame, ModbusFramer, Role

__all__ = ["SIMULATOR_SCHEMA", "DalyModbusSimulator", "add_arguments", "create", "options_from_args"]

_LOGGER = logging.getLogger(__name__)


SIMULATOR_SCHEMA: dict[Any, Any] = {
    vol.Required("link"): str,
    vol.Optional("protocol", default="d2"): vol.In(list(FAMILIES)),
    vol.Optional("cells", default=16): vol.All(vol.Coerce(int), vol.Range(min=1, max=48)),
    vol.Optional("temps", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=8)),
    vol.Optional("board", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=MAX_BOARD)),
    # 0x81 multi-drop: boards board..board+boards-1 on one line, each with its own pack.
    vol.Optional("boards", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=MAX_BOARD)),
    vol.Optional("faults", default=[]): [fault_name],
    vol.Optional("capacity_ah", default=100.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=6500)),
    vol.Optional("soc", default=60.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    vol.Optional("seed"): int,
    vol.Optional("pace", default=False): vol.Boolean(),
    vol.Optional("invert_current", default=False): vol.Boolean(),
    vol.Optional("mos_sensor", default=True): vol.Boolean(),
}


class DalyModbusSimulator(PtyDevice[ModbusFrame]):
    """Answers D2 or 0x81 requests arriving on a pty like one or more Daly boards on a bus would."""

    def __init__(self, link: Path, devices: Sequence[DalyModbusDevice], pace_baudrate: int | None = None) -> None:
        if not devices:
            raise ValueError("a simulator needs at least one device")
        super().__init__(link, ModbusFramer(request_addresses(devices), Role.REQUEST), pace_baudrate)
        self.devices = list(devices)
        self._base_invert = [d.invert_current for d in self.devices]

    @property
    def device(self) -> DalyModbusDevice:
        """The first board (the only one unless ``boards`` > 1)."""
        return self.devices[0]

    def answers(self, request: ModbusFrame) -> list[list[bytes]]:
        """The addressed board's answer (0x81 multi-drop: each board has its own address)."""
        result = []
        for index, device in enumerate(self.devices):
            if request.address != device.address:
                continue
            device.invert_current = self._base_invert[index] != self.faults.use(Fault.INVERTED_CURRENT)
            answer = device.handle(request)
            if answer is None:
                continue
            if request.function == WRITE_SINGLE and self.faults.use(Fault.BAD_ECHO):
                # A write echo with a bad CRC, as the btsnoop shows (daly.md §3.4); the write took effect.
                answer = answer[:-2] + bytes(b ^ 0x5A for b in answer[-2:])
            result.append([answer])
        return result


def create(options: Mapping[str, Any], base_dir: Path) -> DalyModbusSimulator:
    """Build a simulator from a validated ``simulators`` entry (relative links are under base_dir)."""
    link = Path(options["link"])
    if not link.is_absolute():
        link = base_dir / link
    family = options.get("protocol", "d2")
    boards = options.get("boards", 1)
    first = options.get("board", 1)
    if family == "d2" and boards > 1:
        raise ValueError("D2 boards all answer from 0xD2; use protocol x81 for several boards on one line")
    if first + boards - 1 > MAX_BOARD:
        raise ValueError(f"boards {first}..{first + boards - 1} go beyond board {MAX_BOARD}")
    devices = [
        DalyModbusDevice(
            pack,
            family,
            board=first + offset,
            invert_current=options.get("invert_current", False),
            mos_sensor=options.get("mos_sensor", True),
        )
        for offset, pack in enumerate(packs_for(options, boards))
    ]
    simulator = DalyModbusSimulator(link, devices, pace_baudrate=9600 if options.get("pace") else None)
    for fault in options.get("faults", []):
        simulator.faults.inject(fault)
    return simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trackingbms simulate daly_modbus``."""
    parser.add_argument("--link", required=True, help="where to symlink the pseudo-terminal")
    parser.add_argument("--protocol", choices=FAMILIES, default="d2", help="d2 or x81 (0x81/0x51)")
    add_pack_arguments(parser, cells="d2: 1-32, x81: 1-48", temps="0-8")
    parser.add_argument("--board", type=int, default=1, help="x81 board number of the first board (1-15)")
    parser.add_argument("--boards", type=int, default=1, help="x81 boards on this line (numbered from --board)")
    parser.add_argument("--no-mos-sensor", action="store_true", help="report no MOS temperature (0x42 = 0)")


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map CLI options to a validated ``simulators`` entry."""
    entry = {
        "link": args.link,
        "protocol": args.protocol,
        **pack_options_from_args(args),
        "board": args.board,
        "boards": args.boards,
        "mos_sensor": not args.no_mos_sensor,
    }
    result: dict[str, Any] = vol.Schema(SIMULATOR_SCHEMA)(entry)
    if result["protocol"] == "d2" and (result["boards"] > 1 or result["cells"] > 32):
        raise vol.Invalid("d2 simulates one board of at most 32 cells; use --protocol x81 for more")
    return result
