"""The ``modbus`` battery entry: its schema, and the options a driver uses once merged with the map's defaults."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import voluptuous as vol

from hub.config.schema import device_path
from hub.specs import LinkError
from trackingbms_modbus.link import LinkSettings
from trackingbms_modbus.regmap.loader import map_reference
from trackingbms_modbus.regmap.model import RegisterMap
from trackingbms_modbus.regmap.schema import parity, slave_id

__all__ = ["BATTERY_SCHEMA", "ModbusOptions", "add_read_arguments", "options_from_args"]


def _port(value: Any) -> int | str:
    """A serial device (RTU) or a TCP port number (TCP)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 65535:
            raise vol.Invalid("expected a TCP port 1..65535 or a serial device")
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return _port(int(value))
    return device_path(value)


BATTERY_SCHEMA: dict[Any, Any] = {
    vol.Required("map"): map_reference,
    vol.Optional("transport"): vol.In(["rtu", "tcp"]),
    # RTU: the serial device (relative paths are under the data directory); TCP: the port (default 502).
    vol.Optional("port"): _port,
    vol.Optional("host"): vol.All(str, vol.Length(min=1)),
    vol.Optional("baudrate"): vol.All(vol.Coerce(int), vol.Range(min=300, max=921_600)),
    vol.Optional("bytesize"): vol.All(vol.Coerce(int), vol.In([7, 8])),
    vol.Optional("parity"): parity,
    vol.Optional("stopbits"): vol.All(vol.Coerce(int), vol.In([1, 2])),
    vol.Optional("slave"): slave_id,
    vol.Optional("timeout"): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=30)),
    vol.Optional("retries", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=10)),
    vol.Optional("inter_frame_delay"): vol.All(vol.Coerce(float), vol.Range(min=0, max=5)),
    vol.Optional("current_sign"): vol.In(["charge_positive", "discharge_positive"]),
    vol.Optional("max_registers"): vol.All(vol.Coerce(int), vol.Range(min=1, max=125)),
}


@dataclass(frozen=True, slots=True)
class ModbusOptions:
    """A battery entry merged with its map's defaults."""

    link: LinkSettings
    slave: int
    timeout: float
    retries: int
    inter_frame_delay: float
    current_sign: str
    max_registers: int | None

    @classmethod
    def resolve(cls, options: Mapping[str, Any], regmap: RegisterMap, data_dir: Path) -> ModbusOptions:
        """Entry keys win over the map's defaults; raises LinkError for an incomplete entry."""
        defaults = regmap.defaults
        transport = str(options.get("transport") or ("tcp" if "host" in options else defaults.transport))
        port = options.get("port")
        if transport == "tcp":
            if "host" not in options:
                raise LinkError("transport tcp needs host (and optionally port, default 502)")
            if isinstance(port, str):
                raise LinkError(f"transport tcp needs a TCP port number, not {port!r}")
            link = LinkSettings("tcp", host=str(options["host"]), tcp_port=int(port or defaults.tcp_port))
        else:
            if not isinstance(port, str):
                raise LinkError("transport rtu needs port: the serial device (e.g. /dev/ttyUSB0)")
            link = LinkSettings(
                "rtu",
                port=_device(port, data_dir),
                baudrate=int(options.get("baudrate", defaults.baudrate)),
                bytesize=int(options.get("bytesize", defaults.bytesize)),
                parity=str(options.get("parity", defaults.parity)),
                stopbits=int(options.get("stopbits", defaults.stopbits)),
            )
        return cls(
            link=link,
            slave=int(options.get("slave", defaults.slave)),
            timeout=float(options.get("timeout", defaults.timeout)),
            retries=int(options.get("retries", 2)),
            inter_frame_delay=float(options.get("inter_frame_delay", regmap.inter_frame_delay)),
            current_sign=str(options.get("current_sign", regmap.current_sign)),
            max_registers=options.get("max_registers"),
        )


def _device(port: str, data_dir: Path) -> str:
    # Like every serial driver: a relative path (a simulator's pty link) is under the data directory.
    if "://" in port or Path(port).is_absolute():
        return port
    return str(data_dir / port)


def add_read_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trackingbms read modbus``."""
    parser.add_argument("--map", required=True, help="a shipped map name (seplos_v3, renogy_smart_lfp...) or a file")
    parser.add_argument("--port", help="serial device (RTU) or TCP port (TCP)")
    parser.add_argument("--host", help="TCP host (implies --transport tcp)")
    parser.add_argument("--transport", choices=["rtu", "tcp"])
    parser.add_argument("--slave", help="unit id (default: the map's)")
    parser.add_argument("--baudrate", type=int)
    parser.add_argument("--parity", choices=["N", "E", "O"])
    parser.add_argument("--stopbits", type=int, choices=[1, 2])
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--retries", type=int, default=2)


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map ``trackingbms read modbus`` options to a validated battery entry."""
    keys = ("map", "port", "host", "transport", "slave", "baudrate", "parity", "stopbits", "timeout", "retries")
    entry = {key: getattr(args, key) for key in keys if getattr(args, key, None) is not None}
    result: dict[str, Any] = vol.Schema(BATTERY_SCHEMA)(entry)
    return result
