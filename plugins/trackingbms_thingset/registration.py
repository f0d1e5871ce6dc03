"""Config schemas, CLI options and factories of the ``thingset`` and ``thingset_can`` drivers and simulators."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol

from hub.config.schema import byte_value, device_path
from hub.faults import Fault, fault_name
from hub.simulation import PackModel
from hub.specs import BatteryConfig, DriverContext
from trackingbms_thingset.can.driver import ThingSetCanDriver
from trackingbms_thingset.can.link import BusConfig
from trackingbms_thingset.can.simulator import ThingSetCanSimulator
from trackingbms_thingset.device import ThingSetDevice
from trackingbms_thingset.eras import ERA_ALIASES, ERAS, get_era
from trackingbms_thingset.serial_driver import ThingSetSerialDriver
from trackingbms_thingset.simulator import ThingSetSimulator

__all__ = [
    "BATTERY_SCHEMA",
    "CAN_BATTERY_SCHEMA",
    "CAN_SIMULATOR_SCHEMA",
    "SIMULATOR_SCHEMA",
    "create_can_driver",
    "create_can_simulator",
    "create_driver",
    "create_simulator",
]

ERA_NAMES = [*ERAS, *ERA_ALIASES]
_SCALAR = vol.Any(bool, int, float, str)


def era_value(value: Any) -> str:
    """An era key or alias (YAML may read 2023 as a number)."""
    text = str(value)
    if text not in ERA_NAMES:
        raise vol.Invalid(f"unknown era {text!r} (known: {', '.join(ERA_NAMES)})")
    return text


def _era_or_auto(value: Any) -> str:
    return "auto" if str(value) == "auto" else era_value(value)


def _switch(value: Any) -> str:
    """auto / on / off; YAML 1.1 readers turn on/off into booleans."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value in ("auto", "on", "off"):
        return str(value)
    raise vol.Invalid("expected auto, on or off")


def _node(value: Any) -> Any:
    if value == "auto":
        return "auto"
    number = byte_value(value)
    if not 0x01 <= number <= 0xFD:  # 0xFE is the anonymous discovery source, 0xFF broadcast (§2.6)
        raise vol.Invalid("a node address is 0x01..0xFD")
    return number


_TIMEOUT = vol.All(vol.Coerce(float), vol.Range(min=0.05, max=10))
_RETRIES = vol.All(vol.Coerce(int), vol.Range(min=0, max=10))
_AGE = vol.All(vol.Coerce(float), vol.Range(min=0.1, max=600))
_CELLS = vol.All(vol.Coerce(int), vol.Range(min=1, max=32))
_CAPACITY = vol.All(vol.Coerce(float), vol.Range(min=0.1))

BATTERY_SCHEMA: dict[Any, Any] = {
    vol.Required("port"): device_path,
    vol.Optional("baudrate", default=115200): vol.All(vol.Coerce(int), vol.Range(min=1200, max=3_000_000)),
    vol.Optional("timeout", default=1.0): _TIMEOUT,
    vol.Optional("retries", default=2): _RETRIES,
    vol.Optional("era", default="auto"): _era_or_auto,
    vol.Optional("crc", default="auto"): _switch,
    vol.Optional("mode", default="auto"): vol.In(["auto", "report", "request"]),
    vol.Optional("report_max_age", default=3.0): _AGE,
    vol.Optional("cells"): _CELLS,
    vol.Optional("rated_capacity_ah"): _CAPACITY,
    vol.Optional("capture", default=False): vol.Boolean(),
}

CAN_BATTERY_SCHEMA: dict[Any, Any] = {
    vol.Optional("interface", default="socketcan"): vol.All(str, vol.Length(min=1)),
    vol.Required("channel"): vol.All(str, vol.Length(min=1)),
    vol.Optional("bitrate"): vol.All(vol.Coerce(int), vol.Range(min=10_000, max=1_000_000)),
    vol.Optional("node", default="auto"): _node,
    vol.Optional("client_address", default=0x00): byte_value,
    vol.Optional("era", default="auto"): _era_or_auto,
    vol.Optional("timeout", default=1.0): _TIMEOUT,
    vol.Optional("retries", default=2): _RETRIES,
    vol.Optional("report_max_age", default=3.0): _AGE,
    vol.Optional("cells"): _CELLS,
    vol.Optional("rated_capacity_ah"): _CAPACITY,
    vol.Optional("request_cells", default=True): vol.Boolean(),
    vol.Optional("options", default={}): {str: _SCALAR},
}

_PACK: dict[Any, Any] = {
    vol.Optional("era", default="2024"): era_value,
    vol.Optional("cells", default=8): vol.All(vol.Coerce(int), vol.Range(min=1, max=32)),
    vol.Optional("temps", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=16)),
    vol.Optional("channels", default=16): vol.All(vol.Coerce(int), vol.Range(min=1, max=32)),
    vol.Optional("capacity_ah", default=100.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=10000)),
    vol.Optional("soc", default=60.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    vol.Optional("seed"): int,
    vol.Optional("faults", default=[]): [fault_name],
    vol.Optional("reports", default=True): vol.Boolean(),
    vol.Optional("report_period", default=1.0): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=60)),
    vol.Optional("error_flags", default=0): vol.All(vol.Coerce(int), vol.Range(min=0, max=0xFFFFFFFF)),
    vol.Optional("names_era"): era_value,
}

SIMULATOR_SCHEMA: dict[Any, Any] = {
    vol.Required("link"): vol.All(str, vol.Length(min=1)),
    **_PACK,
    vol.Optional("crc", default="auto"): _switch,
    vol.Optional("enforce_crc", default=False): vol.Boolean(),
    vol.Optional("status_text", default="auto"): vol.Any("auto", vol.Boolean()),
    vol.Optional("pace", default=False): vol.Boolean(),
}

CAN_SIMULATOR_SCHEMA: dict[Any, Any] = {
    vol.Optional("interface", default="virtual"): vol.All(str, vol.Length(min=1)),
    vol.Required("channel"): vol.All(str, vol.Length(min=1)),
    vol.Optional("bitrate"): vol.All(vol.Coerce(int), vol.Range(min=10_000, max=1_000_000)),
    vol.Optional("node"): _node,
    vol.Optional("options", default={}): {str: _SCALAR},
    **_PACK,
}


def create_driver(config: BatteryConfig, context: DriverContext) -> ThingSetSerialDriver:
    """The ``thingset`` driver."""
    return ThingSetSerialDriver(config, context)


def create_can_driver(config: BatteryConfig, context: DriverContext) -> ThingSetCanDriver:
    """The ``thingset_can`` driver."""
    return ThingSetCanDriver(config, context)


def _device(options: Mapping[str, Any]) -> ThingSetDevice:
    era = get_era(str(options.get("era", "2024")))
    pack = PackModel(
        cells=options.get("cells", 8),
        temps=options.get("temps", 2),
        capacity_ah=options.get("capacity_ah", 100.0),
        soc=options.get("soc", 60.0),
        seed=options.get("seed"),
    )
    device = ThingSetDevice(pack, era, options.get("channels", 16), options.get("error_flags", 0))
    device.reporting = bool(options.get("reports", True))
    device.report_period_ms = int(float(options.get("report_period", 1.0)) * 1000)
    if options.get("names_era"):
        device.names_era = get_era(str(options["names_era"]))
    return device


def _inject(faults: Any, options: Mapping[str, Any]) -> None:
    for fault in options.get("faults", []):
        faults.inject(fault)


def create_simulator(options: Mapping[str, Any], base_dir: Path) -> ThingSetSimulator:
    """A ``thingset`` simulator from a validated entry; a relative link is under base_dir."""
    link = Path(options["link"])
    crc = options.get("crc", "auto")
    status_text = options.get("status_text", "auto")
    simulator = ThingSetSimulator(
        link if link.is_absolute() else base_dir / link,
        _device(options),
        crc=None if crc == "auto" else crc == "on",
        status_text=None if status_text == "auto" else bool(status_text),
        enforce_crc=bool(options.get("enforce_crc", False)),
        pace=bool(options.get("pace", False)),
        seed=options.get("seed"),
    )
    _inject(simulator.faults, options)
    return simulator


def create_can_simulator(options: Mapping[str, Any], base_dir: Path) -> ThingSetCanSimulator:
    """A ``thingset_can`` simulator from a validated entry."""
    device = _device(options)
    bitrate = options.get("bitrate") or device.era.can_bitrate
    bus = BusConfig(options.get("interface", "virtual"), options["channel"], bitrate, options.get("options") or {})
    simulator = ThingSetCanSimulator(device, bus, options.get("node"), options.get("seed"))
    _inject(simulator.faults, options)
    return simulator


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--era", default="auto", help=f"firmware era: auto or {', '.join(ERA_NAMES)}")
    parser.add_argument("--timeout", type=float, default=1.0, help="answer timeout in seconds")
    parser.add_argument("--cells", type=int, help="cells in series (default: channels above 0.5 V)")


def add_read_arguments(parser: argparse.ArgumentParser) -> None:
    """``trackingbms read thingset``."""
    parser.add_argument("--port", required=True, help="serial device or simulator link")
    parser.add_argument("--baudrate", type=int, default=115200, help="UART speed (115200)")
    parser.add_argument("--crc", default="auto", help="auto, on or off")
    parser.add_argument("--mode", default="auto", help="auto, report or request")
    _add_common(parser)


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map ``read thingset`` options to a battery entry."""
    entry = {k: getattr(args, k) for k in ("port", "baudrate", "crc", "mode", "era", "timeout")}
    if args.cells is not None:
        entry["cells"] = args.cells
    result: dict[str, Any] = vol.Schema(BATTERY_SCHEMA)(entry)
    return result


def add_can_read_arguments(parser: argparse.ArgumentParser) -> None:
    """``trackingbms read thingset_can``."""
    parser.add_argument("--interface", default="socketcan", help="python-can interface (socketcan, slcan, ...)")
    parser.add_argument("--channel", required=True, help="CAN channel: can0, a serial device for slcan, ...")
    parser.add_argument("--bitrate", type=int, help="bit rate (default 500000; 250000 for era 2021-05)")
    parser.add_argument("--node", default="auto", help="node address 1-253 or auto")
    _add_common(parser)


def can_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map ``read thingset_can`` options to a battery entry."""
    entry = {k: getattr(args, k) for k in ("interface", "channel", "node", "era", "timeout")}
    entry.update({k: getattr(args, k) for k in ("bitrate", "cells") if getattr(args, k) is not None})
    result: dict[str, Any] = vol.Schema(CAN_BATTERY_SCHEMA)(entry)
    return result


def _add_pack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--era", default="2024", help=f"firmware era to simulate: {', '.join(ERA_NAMES)}")
    parser.add_argument("--cells", type=int, default=8, help="cells in series (1-32)")
    parser.add_argument("--temps", type=int, default=2, help="temperature sensors (0-16)")
    parser.add_argument("--channels", type=int, default=16, help="cell channels reported (CONFIG_BMS_IC_MAX_CELLS)")
    parser.add_argument("--capacity", type=float, default=100.0, help="capacity in Ah")
    parser.add_argument("--soc", type=float, default=60.0, help="initial state of charge in %%")
    parser.add_argument("--seed", type=int, help="random seed for reproducible packs")
    parser.add_argument("--report-period", type=float, default=1.0, help="seconds between reports")
    parser.add_argument("--no-reports", action="store_true", help="start with reporting disabled")
    parser.add_argument("--error-flags", type=lambda v: int(v, 0), default=0, help="rErrorFlags to report")
    parser.add_argument("--names-era", help="send the measurement names of another era (renamed objects)")
    names = ", ".join(f.value for f in Fault)
    parser.add_argument("--fault", action="append", default=[], metavar="FAULT", help=f"inject a fault: {names}")


def _pack_entry(args: argparse.Namespace) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "era": args.era,
        "cells": args.cells,
        "temps": args.temps,
        "channels": args.channels,
        "capacity_ah": args.capacity,
        "soc": args.soc,
        "report_period": args.report_period,
        "reports": not args.no_reports,
        "error_flags": args.error_flags,
        "faults": args.fault,
    }
    entry.update({k: getattr(args, k) for k in ("seed", "names_era") if getattr(args, k) is not None})
    return entry


def add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    """``trackingbms simulate thingset``."""
    parser.add_argument("--link", required=True, help="where to symlink the pseudo-terminal")
    _add_pack_arguments(parser)
    parser.add_argument("--crc", default="auto", help="append the CRC: auto (by era), on or off")
    parser.add_argument("--enforce-crc", action="store_true", help="ignore requests without CRC")
    parser.add_argument("--pace", action="store_true", help="send at the 115200 baud line rate")


def simulator_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map ``simulate thingset`` options to a ``simulators`` entry."""
    entry = {"link": args.link, **_pack_entry(args), "crc": args.crc, "enforce_crc": args.enforce_crc}
    entry["pace"] = args.pace
    result: dict[str, Any] = vol.Schema(SIMULATOR_SCHEMA)(entry)
    return result


def add_can_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    """``trackingbms simulate thingset_can``."""
    parser.add_argument("--interface", default="virtual", help="python-can interface (virtual: in-process only)")
    parser.add_argument("--channel", required=True, help="python-can channel")
    parser.add_argument("--bitrate", type=int, help="bit rate (default: the era's)")
    parser.add_argument("--node", help="node address (default 1; 10 for eras before 2023)")
    _add_pack_arguments(parser)


def can_simulator_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map ``simulate thingset_can`` options to a ``simulators`` entry."""
    entry = {"interface": args.interface, "channel": args.channel, **_pack_entry(args)}
    entry.update({k: getattr(args, k) for k in ("bitrate", "node") if getattr(args, k) is not None})
    result: dict[str, Any] = vol.Schema(CAN_SIMULATOR_SCHEMA)(entry)
    return result
