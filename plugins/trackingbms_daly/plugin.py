"""The Daly plugin: registers the A5 serial driver, its simulator and its decoder."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import voluptuous as vol

from hub.config.schema import byte_value, device_path
from hub.hookspecs import hookimpl
from hub.specs import BatteryConfig, DriverContext, DriverSpec, Registry, SimulatorSpec
from trackingbms_daly import simulator
from trackingbms_daly.a5.describe import decode_frame
from trackingbms_daly.a5.framing import A5Frame
from trackingbms_daly.ble import registration as ble_registration
from trackingbms_daly.can import registration as can_registration
from trackingbms_daly.can.candump import decode_candump, looks_like_candump
from trackingbms_daly.driver import DalyA5Driver
from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus import registration as modbus_registration

if TYPE_CHECKING:
    from aiohttp import web

BATTERY_SCHEMA: dict[Any, Any] = {
    vol.Required("port"): device_path,
    vol.Optional("address", default="auto"): vol.Any("auto", vol.All(byte_value, vol.In([0x40, 0x80]))),
    vol.Optional("board", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=16)),
    vol.Optional("baudrate", default=9600): vol.All(vol.Coerce(int), vol.Range(min=1200, max=115200)),
    vol.Optional("timeout", default=0.5): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=10)),
    vol.Optional("retries", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=10)),
    # Pause between requests in seconds, or "auto": none until the board misses an answer.
    vol.Optional("request_gap", default="auto"): vol.Any("auto", vol.All(vol.Coerce(float), vol.Range(min=0, max=2))),
    vol.Optional("current_sign", default="auto"): vol.In(["auto", "charge_positive", "discharge_positive"]),
    vol.Optional("sync_fill", default=False): vol.Boolean(),
    vol.Optional("rated_capacity_ah"): vol.All(vol.Coerce(float), vol.Range(min=0.1)),
    # Record every byte on the port to <data_dir>/captures/<id>.jsonl (rotating).
    vol.Optional("capture", default=False): vol.Boolean(),
}


def _create(config: BatteryConfig, context: DriverContext) -> DalyA5Driver:
    return DalyA5Driver(config, context)


def _add_read_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="serial device or simulator link")
    parser.add_argument("--address", default="auto", help="host address: 0x40 (RS485), 0x80 (UART) or auto")
    parser.add_argument("--board", type=int, default=1, help="RS485 board number")
    parser.add_argument("--timeout", type=float, default=0.5, help="answer timeout in seconds")


def _options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    entry = {"port": args.port, "address": args.address, "board": args.board, "timeout": args.timeout}
    result: dict[str, Any] = vol.Schema(BATTERY_SCHEMA)(entry)
    return result


def decode_hex(frames: Sequence[str]) -> list[dict[str, Any]]:
    """Decode A5 frames given as hex (spaces and colons allowed), one result per frame."""
    results: list[dict[str, Any]] = []
    for text in frames:
        if looks_like_candump(text):  # "18904001#0203..." or "can0  18904001  [8]  02 03 ...": A5 over CAN
            results.extend(decode_candump([text]))
            continue
        cleaned = "".join(ch for ch in text if ch not in " :-_\t")
        try:
            # D2 and 0x81/0x51 frames (by address byte, or a good Modbus CRC) go to their own describer.
            if (described := modbus_registration.describe_hex(cleaned)) is not None:
                results.append({"input": text, **described})
                continue
            frame = A5Frame.parse(bytes.fromhex(cleaned))
            results.append({"input": text, **decode_frame(frame)})
        except ValueError as err:
            results.append({"input": text, "error": f"not hex: {err}"})
        except DalyProtocolError as err:
            results.append({"input": text, "error": str(err)})
    return results


@hookimpl
def register_drivers(drivers: Registry[DriverSpec]) -> None:
    """Daly A5 over UART/RS485."""
    drivers.add(
        DriverSpec(
            name="daly",
            description="Daly smart BMS, A5 protocol over UART or RS485",
            factory=_create,
            schema=BATTERY_SCHEMA,
            transports=("uart", "rs485"),
            add_read_arguments=_add_read_arguments,
            options_from_args=_options_from_args,
            decode=decode_hex,
            # RS485 ports answer 0x40, UART ports and BT dongles 0x80 (daly.md §1.3, §0 detection order).
            probes=({"address": "0x40"}, {"address": "0x80"}),
        )
    )
    drivers.add(modbus_registration.driver_spec())  # "daly_modbus": D2 and 0x81/0x51 families
    drivers.add(can_registration.driver_spec())  # "daly_can": A5 payloads over CAN via python-can
    drivers.add(ble_registration.driver_spec())  # "daly_ble": A5, D2 or 0x81 over Bluetooth LE


@hookimpl
def register_simulators(simulators: Registry[SimulatorSpec]) -> None:
    """A Daly A5 board on a pseudo-terminal."""
    simulators.add(
        SimulatorSpec(
            name="daly",
            description="simulated Daly A5 board on a pseudo-terminal",
            factory=simulator.create,
            schema=simulator.SIMULATOR_SCHEMA,
            add_arguments=simulator.add_arguments,
            options_from_args=simulator.options_from_args,
        )
    )
    simulators.add(modbus_registration.simulator_spec())  # "daly_modbus"
    simulators.add(can_registration.simulator_spec())  # "daly_can": boards on a CAN bus or slcan pty
    simulators.add(ble_registration.simulator_spec())  # "daly_ble": a fake BLE module in the hub's fake air


@hookimpl
def config_schema() -> dict[Any, Any]:
    """``daly:``: the BLE backend for transmitter scans and pairings (bleak, or fake for demos) and scan time."""
    return ble_registration.PLUGIN_SCHEMA


@hookimpl
def register_routes(app: web.Application) -> None:
    """GET /api/v1/bms/transmitters and POST /api/v1/bms/transmitter/pair (BLE discovery and pairing)."""
    from trackingbms_daly.ble import routes as ble_routes  # the web layer loads only with the web app

    ble_routes.register(app)
