"""The ``modbus`` simulator entry: schema, factory and ``trackingbms simulate modbus`` options."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol

from hub.faults import Fault, FaultInjector, fault_name
from hub.simulation import add_pack_arguments, pack_options_from_args, packs_for
from trackingbms_modbus.device import MODBUS_FAULTS, FaultCounter, MapDevice
from trackingbms_modbus.regmap.loader import load_map, map_reference
from trackingbms_modbus.regmap.schema import slave_id
from trackingbms_modbus.simulator import ModbusSimulator

__all__ = ["SIMULATOR_SCHEMA", "add_arguments", "create", "options_from_args"]


def _fault(value: Any) -> str:
    """A hub fault (asleep, late, garbage, ...) or a Modbus one (exception, wrong_values)."""
    text = str(value).strip().lower().replace("-", "_")
    return text if text in MODBUS_FAULTS else fault_name(text)


SIMULATOR_SCHEMA: dict[Any, Any] = {
    vol.Required("map"): map_reference,
    # tcp: a Modbus TCP server on host:port (port 0 picks a free one); rtu: RTU on a pty linked at ``link``.
    vol.Optional("transport"): vol.In(["rtu", "tcp"]),
    vol.Optional("link"): str,
    vol.Optional("host", default="127.0.0.1"): str,
    vol.Optional("port", default=0): vol.All(vol.Coerce(int), vol.Range(min=0, max=65535)),
    # Several units on one line or gateway, each with its own pack (default: the map's unit id).
    vol.Optional("slaves"): vol.All([slave_id], vol.Length(min=1, max=32)),
    vol.Optional("cells", default=16): vol.All(vol.Coerce(int), vol.Range(min=1, max=48)),
    vol.Optional("temps", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=16)),
    vol.Optional("capacity_ah", default=100.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=6500)),
    vol.Optional("soc", default=60.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    vol.Optional("seed"): int,
    vol.Optional("faults", default=[]): [_fault],
    # Alarm codes of the map to raise (the bits' names), e.g. [cell_over_voltage_protection].
    vol.Optional("alarms", default=[]): [str],
    vol.Optional("invert_current", default=False): vol.Boolean(),
    vol.Optional("pace", default=False): vol.Boolean(),
}


def create(options: Mapping[str, Any], base_dir: Path) -> ModbusSimulator:
    """Build a simulator from a validated ``simulators`` entry (a relative map or link is under base_dir)."""
    regmap = load_map(str(options["map"]), base_dirs=(base_dir, Path.cwd()))
    transport = options.get("transport") or ("rtu" if options.get("link") else "tcp")
    link = _pty_link(options, base_dir) if transport == "rtu" else None
    unknown = set(options.get("alarms", [])) - set(regmap.alarm_bits())
    if unknown:
        raise ValueError(f"map {regmap.name} has no alarm {', '.join(sorted(unknown))}")
    slaves = list(options.get("slaves") or [regmap.defaults.slave])
    faults = FaultCounter()
    injector = FaultInjector(seed=options.get("seed"))
    devices = [
        MapDevice(
            regmap,
            pack,
            slave,
            injector,
            faults,
            invert_current=bool(options.get("invert_current", False)),
            alarms=options.get("alarms", ()),
        )
        for slave, pack in zip(slaves, packs_for(options, len(slaves)), strict=True)
    ]
    result = ModbusSimulator(
        devices,
        transport,
        host=str(options.get("host", "127.0.0.1")),
        port=int(options.get("port", 0)),
        link=link,
        faults=injector,
        modbus_faults=faults,
        pace_baudrate=regmap.defaults.baudrate if options.get("pace") else None,
    )
    for fault in options.get("faults", []):
        result.inject(fault)
    return result


def _pty_link(options: Mapping[str, Any], base_dir: Path) -> Path:
    if not options.get("link"):
        raise ValueError("an RTU simulator needs link: where to put the pseudo-terminal")
    link = Path(options["link"])
    return link if link.is_absolute() else base_dir / link


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trackingbms simulate modbus``."""
    parser.add_argument("--map", required=True, help="a shipped map name (seplos_v3, renogy_smart_lfp...) or a file")
    parser.add_argument("--transport", choices=["rtu", "tcp"], help="default: rtu with --link, else tcp")
    parser.add_argument("--link", help="RTU: where to symlink the pseudo-terminal")
    parser.add_argument("--host", default="127.0.0.1", help="TCP: address to listen on")
    parser.add_argument("--port", type=int, default=5020, help="TCP: port to listen on (0: any free port)")
    parser.add_argument("--slave", type=int, action="append", help="unit id to answer (repeatable; default: the map's)")
    parser.add_argument("--alarm", action="append", default=[], help="raise this alarm code of the map (repeatable)")
    add_pack_arguments(parser, cells="1-48", temps="0-16")
    parser.epilog = f"Modbus faults besides the common ones: {', '.join(MODBUS_FAULTS)}; common: " + ", ".join(
        f.value for f in Fault
    )


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map CLI options to a validated ``simulators`` entry."""
    entry: dict[str, Any] = {"map": args.map, "host": args.host, "port": args.port, **pack_options_from_args(args)}
    for key in ("transport", "link"):
        if getattr(args, key) is not None:
            entry[key] = getattr(args, key)
    if args.slave:
        entry["slaves"] = args.slave
    entry["alarms"] = args.alarm
    result: dict[str, Any] = vol.Schema(SIMULATOR_SCHEMA)(entry)
    return result
