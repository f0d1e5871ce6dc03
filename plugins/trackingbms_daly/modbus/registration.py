"""The "daly_modbus" driver and simulator specs (schema, CLI options) and the decode routing helper."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import voluptuous as vol

from hub.config.schema import device_path
from hub.specs import BatteryConfig, DriverContext, DriverSpec, SimulatorSpec
from trackingbms_daly.modbus import simulator
from trackingbms_daly.modbus.describe import describe_modbus, looks_like_modbus
from trackingbms_daly.modbus.driver import DalyModbusDriver
from trackingbms_daly.modbus.framing import MAX_BOARD

__all__ = [
    "BATTERY_SCHEMA",
    "NAME",
    "describe_hex",
    "driver_spec",
    "options_from_args",
    "simulator_spec",
]

NAME = "daly_modbus"

BATTERY_SCHEMA: dict[Any, Any] = {
    vol.Required("port"): device_path,
    # d2: address 0xD2 both ways; x81: request 0x80 + board, answer 0x50 + board; auto tries d2 then x81.
    vol.Optional("protocol", default="auto"): vol.In(["auto", "d2", "x81"]),
    vol.Optional("board", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=MAX_BOARD)),
    vol.Optional("baudrate", default=9600): vol.All(vol.Coerce(int), vol.Range(min=1200, max=115200)),
    vol.Optional("timeout", default=0.5): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=10)),
    vol.Optional("retries", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=10)),
    # Pause in seconds between one answer and the next request on the (shared) port.
    vol.Optional("request_gap", default=0.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=2)),
    # D2 and 0x81 devices send charge as positive; "auto" also follows the BMS's status register.
    vol.Optional("current_sign", default="auto"): vol.In(["auto", "charge_positive", "discharge_positive"]),
    # D2 status block size: 62 (aiobmsble) or 80 ("blue series", with MOS temperature and balance bits).
    vol.Optional("registers", default=62): vol.All(vol.Coerce(int), vol.In([62, 80])),
}


def _create(config: BatteryConfig, context: DriverContext) -> DalyModbusDriver:
    return DalyModbusDriver(config, context)


def _add_read_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="serial device or simulator link")
    parser.add_argument("--protocol", choices=["auto", "d2", "x81"], default="auto", help="protocol family")
    parser.add_argument("--board", type=int, default=1, help="x81 board number (request 0x80+n, answer 0x50+n)")
    parser.add_argument("--registers", type=int, choices=[62, 80], default=62, help="D2 status block size")
    parser.add_argument("--timeout", type=float, default=0.5, help="answer timeout in seconds")
    parser.add_argument("--retries", type=int, default=2, help="retries per request")


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map ``trackingbms read daly_modbus`` options to a validated battery entry."""
    entry = {
        "port": args.port,
        "protocol": args.protocol,
        "board": args.board,
        "registers": args.registers,
        "timeout": args.timeout,
        "retries": args.retries,
    }
    result: dict[str, Any] = vol.Schema(BATTERY_SCHEMA)(entry)
    return result


def describe_hex(text: str) -> dict[str, Any] | None:
    """The description of a D2 / 0x81 frame given as hex, or None when it is not one; raises ValueError.

    Dots are accepted as separators too, as in the 0x81 dumps (``51.03.80...``).
    """
    raw = bytes.fromhex(text.replace(".", ""))
    return describe_modbus(raw) if looks_like_modbus(raw) else None


def _decode(frames: Sequence[str]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for text in frames:
        cleaned = "".join(ch for ch in text if ch not in " :-_.\t")
        try:
            described = describe_modbus(bytes.fromhex(cleaned))
        except ValueError as err:
            described = {"error": f"not hex: {err}"}
        results.append({"input": text, **described})
    return results


def driver_spec() -> DriverSpec:
    """The "daly_modbus" driver."""
    return DriverSpec(
        name=NAME,
        description="Daly H/K/M/S BMS, Modbus-style D2 or 0x81/0x51 protocol over UART or RS485",
        factory=_create,
        schema=BATTERY_SCHEMA,
        transports=("uart", "rs485"),
        add_read_arguments=_add_read_arguments,
        options_from_args=options_from_args,
        decode=_decode,
        # After A5 at 0x40 / 0x80 (the daly driver's probes), D2 then 0x81 (daly.md §0 detection order).
        probes=({"protocol": "d2"}, {"protocol": "x81"}),
    )


def simulator_spec() -> SimulatorSpec:
    """The "daly_modbus" simulator."""
    return SimulatorSpec(
        name=NAME,
        description="simulated Daly D2 or 0x81 boards on a pseudo-terminal",
        factory=simulator.create,
        schema=simulator.SIMULATOR_SCHEMA,
        add_arguments=simulator.add_arguments,
        options_from_args=simulator.options_from_args,
    )
