"""The ``daly_can`` driver and simulator specs: config schemas and CLI options."""

from __future__ import annotations

import argparse
from typing import Any

import voluptuous as vol

from hub.config.schema import byte_value
from hub.faults import Fault, fault_name
from hub.specs import BatteryConfig, DriverContext, DriverSpec, SimulatorSpec
from trackingbms_daly.can import simulator
from trackingbms_daly.can.candump import decode_candump
from trackingbms_daly.can.driver import DalyCanDriver
from trackingbms_daly.can.ids import BITRATE, HOST

__all__ = ["BATTERY_SCHEMA", "SIMULATOR_SCHEMA", "driver_spec", "parse_option", "simulator_spec"]

_SCALAR = vol.Any(bool, int, float, str)


def _board(value: Any) -> int:
    number = byte_value(value)
    # Boards are 0x01.. (issue #215 has 0x0B and 0x0E); 0x40 is the host's own address.
    if number == 0 or number == HOST:
        raise vol.Invalid(f"board must be 1..255 and not the host address 0x{HOST:02X}")
    return number


BATTERY_SCHEMA: dict[Any, Any] = {
    # Any python-can interface name: socketcan, slcan, pcan, kvaser, virtual, ...
    vol.Optional("interface", default="socketcan"): vol.All(str, vol.Length(min=1)),
    vol.Required("channel"): vol.All(str, vol.Length(min=1)),
    vol.Optional("bitrate", default=BITRATE): vol.All(vol.Coerce(int), vol.Range(min=5_000, max=1_000_000)),
    vol.Optional("board", default=1): _board,
    vol.Optional("timeout", default=0.5): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=10)),
    vol.Optional("retries", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=10)),
    vol.Optional("current_sign", default="auto"): vol.In(["auto", "charge_positive", "discharge_positive"]),
    vol.Optional("rated_capacity_ah"): vol.All(vol.Coerce(float), vol.Range(min=0.1)),
    # Interface-specific keyword arguments for can.Bus, e.g. tty_baudrate or sleep_after_open (slcan).
    vol.Optional("options", default={}): {str: _SCALAR},
}

SIMULATOR_SCHEMA: dict[Any, Any] = {
    # A python-can interface to serve on, or "slcan-pty": an emulated slcan adapter at ``link``.
    vol.Optional("interface", default="virtual"): vol.All(str, vol.Length(min=1)),
    vol.Optional("channel"): vol.All(str, vol.Length(min=1)),
    vol.Optional("link"): vol.All(str, vol.Length(min=1)),
    vol.Optional("bitrate", default=BITRATE): vol.All(vol.Coerce(int), vol.Range(min=5_000, max=1_000_000)),
    vol.Optional("options", default={}): {str: _SCALAR},
    vol.Optional("board", default=1): _board,
    # Several boards on one bus: board, board+1, ..., each with its own pack.
    vol.Optional("boards", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=16)),
    vol.Optional("cells", default=16): vol.All(vol.Coerce(int), vol.Range(min=1, max=48)),
    vol.Optional("temps", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=16)),
    vol.Optional("capacity_ah", default=100.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=10000)),
    vol.Optional("soc", default=60.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    vol.Optional("seed"): int,
    vol.Optional("faults", default=[]): [fault_name],
    vol.Optional("all_cell_frames", default=False): vol.Boolean(),
    vol.Optional("invert_current", default=False): vol.Boolean(),
}


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line, VALUE read as bool, int, float or text."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise vol.Invalid(f"expected KEY=VALUE, got {text!r}")
    if raw.lower() in ("true", "false"):
        return key, raw.lower() == "true"
    for convert in (int, float):
        try:
            return key, convert(raw)
        except ValueError:
            pass
    return key, raw


def _create(config: BatteryConfig, context: DriverContext) -> DalyCanDriver:
    return DalyCanDriver(config, context)


def _add_read_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interface", default="socketcan", help="python-can interface (socketcan, slcan, virtual...)")
    parser.add_argument("--channel", required=True, help="CAN channel: can0, a serial device for slcan, a name")
    parser.add_argument("--bitrate", type=int, default=BITRATE, help="bit rate (Daly: 250000)")
    parser.add_argument("--board", default="1", help="board address 1-255 (decimal or 0x..)")
    parser.add_argument("--timeout", type=float, default=0.5, help="answer timeout in seconds")
    parser.add_argument("--retries", type=int, default=2, help="repeats of unanswered requests")
    parser.add_argument("--current-sign", default="auto", help="auto, charge_positive or discharge_positive")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="can.Bus keyword")


def _options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    entry = {
        "interface": args.interface,
        "channel": args.channel,
        "bitrate": args.bitrate,
        "board": args.board,
        "timeout": args.timeout,
        "retries": args.retries,
        "current_sign": args.current_sign,
        "options": dict(parse_option(o) for o in args.option),
    }
    result: dict[str, Any] = vol.Schema(BATTERY_SCHEMA)(entry)
    return result


def _add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interface", default=simulator.SLCAN_PTY, help="slcan-pty (an slcan adapter on a pty) or a python-can one"
    )
    parser.add_argument("--link", help="slcan-pty: where to symlink the pseudo-terminal")
    parser.add_argument("--channel", help="python-can channel (virtual: in-process only)")
    parser.add_argument("--bitrate", type=int, default=BITRATE, help="bit rate of a python-can interface")
    parser.add_argument("--board", default="1", help="first board address (1-255)")
    parser.add_argument("--boards", type=int, default=1, help="boards on the bus (numbered from --board)")
    parser.add_argument("--cells", type=int, default=16, help="cells in series (1-48)")
    parser.add_argument("--temps", type=int, default=2, help="temperature sensors (0-16)")
    parser.add_argument("--capacity", type=float, default=100.0, help="capacity in Ah")
    parser.add_argument("--soc", type=float, default=60.0, help="initial state of charge in %%")
    parser.add_argument("--seed", type=int, help="random seed for reproducible packs")
    parser.add_argument("--all-cell-frames", action="store_true", help="answer 0x95 with all 16 frames")
    parser.add_argument("--invert-current", action="store_true", help="send discharge as positive current")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="can.Bus keyword")
    names = ", ".join(f.value for f in Fault)
    parser.add_argument("--fault", action="append", default=[], metavar="FAULT", help=f"inject a fault: {names}")


def _simulator_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "interface": args.interface,
        "bitrate": args.bitrate,
        "board": args.board,
        "boards": args.boards,
        "cells": args.cells,
        "temps": args.temps,
        "capacity_ah": args.capacity,
        "soc": args.soc,
        "all_cell_frames": args.all_cell_frames,
        "invert_current": args.invert_current,
        "options": dict(parse_option(o) for o in args.option),
        "faults": args.fault,
    }
    entry.update({k: getattr(args, k) for k in ("link", "channel", "seed") if getattr(args, k) is not None})
    if args.interface == simulator.SLCAN_PTY and not args.link:
        raise vol.Invalid("--interface slcan-pty needs --link PATH")
    if args.interface != simulator.SLCAN_PTY and not args.channel:
        raise vol.Invalid(f"--interface {args.interface} needs --channel")
    result: dict[str, Any] = vol.Schema(SIMULATOR_SCHEMA)(entry)
    return result


def driver_spec() -> DriverSpec:
    """The ``daly_can`` driver."""
    return DriverSpec(
        name="daly_can",
        description="Daly smart BMS, A5 payloads over CAN (250 kbit/s, 29-bit IDs) via python-can",
        factory=_create,
        schema=BATTERY_SCHEMA,
        transports=("can",),
        add_read_arguments=_add_read_arguments,
        options_from_args=_options_from_args,
        decode=decode_candump,
    )


def simulator_spec() -> SimulatorSpec:
    """The ``daly_can`` simulator."""
    return SimulatorSpec(
        name="daly_can",
        description="simulated Daly boards on a CAN bus (python-can interface or slcan adapter on a pty)",
        factory=simulator.create,
        schema=SIMULATOR_SCHEMA,
        add_arguments=_add_simulator_arguments,
        options_from_args=_simulator_options_from_args,
    )
