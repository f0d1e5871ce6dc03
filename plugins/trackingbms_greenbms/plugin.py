"""Green-BMS (SmartBMS) over Bluetooth serial: registers the driver, its simulator and its line decoder."""

from __future__ import annotations

import argparse
from typing import Any

import voluptuous as vol

from hub.config.schema import device_path
from hub.hookspecs import hookimpl
from hub.specs import BatteryConfig, DriverContext, DriverSpec, Registry, SimulatorSpec
from trackingbms_greenbms import simulator
from trackingbms_greenbms.describe import decode_lines
from trackingbms_greenbms.driver import MAX_CELLS, GreenBmsDriver
from trackingbms_greenbms.link import KEEPALIVE_WINDOW

BATTERY_SCHEMA: dict[Any, Any] = {
    # The HC-05 bound as an RFCOMM device (/dev/rfcomm0), or a UART adapter on its pins.
    vol.Required("port"): device_path,
    vol.Optional("baudrate", default=9600): vol.All(vol.Coerce(int), vol.Range(min=1200, max=115200)),
    # Longest wait for an expected line before a page selection is sent again.
    vol.Optional("timeout", default=1.5): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=30)),
    vol.Optional("retries", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=10)),
    # Cells expected; without it the unit's own count (#p014 from its settings) is used.
    vol.Optional("cells"): vol.All(vol.Coerce(int), vol.Range(min=1, max=MAX_CELLS)),
    # Must stay below the firmware's 15 s keep-alive window (legacy.md §3.3).
    vol.Optional("keepalive_interval", default=5.0): vol.All(
        vol.Coerce(float), vol.Range(min=0.05, max=KEEPALIVE_WINDOW, max_included=False)
    ),
    # Record every byte on the port to <data_dir>/captures/<id>.jsonl (rotating).
    vol.Optional("capture", default=False): vol.Boolean(),
}


def _create(config: BatteryConfig, context: DriverContext) -> GreenBmsDriver:
    return GreenBmsDriver(config, context)


def _add_read_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="RFCOMM device (/dev/rfcomm0) or simulator link")
    parser.add_argument("--cells", type=int, help="cells expected (default: the unit's own count)")
    parser.add_argument("--timeout", type=float, default=1.5, help="seconds to wait for a line")
    parser.add_argument("--baudrate", type=int, default=9600, help="serial speed (HC-05 default 9600)")


def _options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    entry: dict[str, Any] = {"port": args.port, "timeout": args.timeout, "baudrate": args.baudrate}
    if args.cells is not None:
        entry["cells"] = args.cells
    result: dict[str, Any] = vol.Schema(BATTERY_SCHEMA)(entry)
    return result


@hookimpl
def register_drivers(drivers: Registry[DriverSpec]) -> None:
    """Green-BMS Control Unit over its HC-05 Bluetooth serial link."""
    drivers.add(
        DriverSpec(
            name="greenbms",
            description="Green-BMS (Green-bms/SmartBMS) Control Unit, ASCII tokens over HC-05 Bluetooth serial",
            factory=_create,
            schema=BATTERY_SCHEMA,
            transports=("bluetooth-spp", "uart"),
            add_read_arguments=_add_read_arguments,
            options_from_args=_options_from_args,
            decode=decode_lines,
            # No scan probes: a read sweeps pages for seconds and the unit pushes ASCII, so
            # probing every serial port would be slow and talk to devices that never asked.
        )
    )


@hookimpl
def register_simulators(simulators: Registry[SimulatorSpec]) -> None:
    """A Green-BMS Control Unit streaming on a pseudo-terminal."""
    simulators.add(
        SimulatorSpec(
            name="greenbms",
            description="simulated Green-BMS Control Unit on a pseudo-terminal",
            factory=simulator.create,
            schema=simulator.SIMULATOR_SCHEMA,
            add_arguments=simulator.add_arguments,
            options_from_args=simulator.options_from_args,
        )
    )
