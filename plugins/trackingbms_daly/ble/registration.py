"""The "daly_ble" driver and simulator specs, their schemas, and the plugin's ``daly:`` BLE settings."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol

from hub.specs import BatteryConfig, DriverContext, DriverSpec, SimulatorSpec
from trackingbms_daly.ble.backend import BACKENDS, backend_named
from trackingbms_daly.ble.driver import DalyBleDriver
from trackingbms_daly.ble.fake import FAKE_AIR, FakeAir, FakeDaly, fake_daly
from trackingbms_daly.ble.fake_device import PROTOCOLS
from trackingbms_daly.ble.scan import scan

__all__ = [
    "BATTERY_SCHEMA",
    "NAME",
    "PLUGIN_SCHEMA",
    "SIMULATOR_SCHEMA",
    "DalyBleSimulator",
    "ble_address",
    "create_simulator",
    "discover",
    "driver_spec",
    "simulator_spec",
]

_LOGGER = logging.getLogger(__name__)
NAME = "daly_ble"
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$")
_UUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def ble_address(value: Any) -> str:
    """A MAC (AA:BB:CC:DD:EE:FF, upper-cased) or a bleak device id (a UUID on macOS)."""
    text = str(value).strip() if isinstance(value, str) else ""
    if _MAC.match(text):
        return text.upper().replace("-", ":")
    if _UUID.match(text):
        return text.upper()
    raise vol.Invalid("expected a Bluetooth MAC (AA:BB:CC:DD:EE:FF) or a device UUID")


def _seconds(low: float, high: float) -> Any:
    return vol.All(vol.Coerce(float), vol.Range(min=low, max=high))


BATTERY_SCHEMA: dict[Any, Any] = {
    vol.Required("address"): ble_address,
    # auto tries D2, then 0x81, then A5 (daly.md §0); naming it skips the probing.
    vol.Optional("protocol", default="auto"): vol.In(["auto", "a5", "d2", "x81"]),
    vol.Optional("board", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=15)),
    vol.Optional("timeout", default=2.0): _seconds(0.1, 30),  # per answer
    vol.Optional("retries", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=10)),
    vol.Optional("current_sign", default="auto"): vol.In(["auto", "charge_positive", "discharge_positive"]),
    vol.Optional("registers", default=62): vol.All(vol.Coerce(int), vol.In([62, 80])),  # D2 status block
    # Ping after this many idle seconds so the module keeps the connection; null: never.
    vol.Optional("keep_alive", default=None): vol.Any(None, _seconds(1, 3600)),
    # Disconnect after every poll, so the vendor's phone app can connect in between.
    vol.Optional("release", default=False): vol.Boolean(),
    vol.Optional("scan_timeout", default=10.0): _seconds(0.5, 120),
    vol.Optional("connect_timeout", default=15.0): _seconds(1, 120),
    # "fake": a daly_ble simulator of this hub instead of the radio (demos and tests).
    vol.Optional("backend", default="bleak"): vol.In(list(BACKENDS)),
}

# The plugin's own section: ``daly: {ble_backend: fake}`` makes scans and pairings use the fake air.
PLUGIN_SCHEMA: dict[Any, Any] = {
    vol.Optional("ble_backend", default="bleak"): vol.In(list(BACKENDS)),
    vol.Optional("ble_scan_timeout", default=5.0): _seconds(0.5, 60),
}

SIMULATOR_SCHEMA: dict[Any, Any] = {
    vol.Required("address"): ble_address,
    vol.Optional("name"): str,  # default DL-<MAC hex>
    vol.Optional("protocol", default="d2"): vol.In(list(PROTOCOLS)),
    vol.Optional("cells", default=16): vol.All(vol.Coerce(int), vol.Range(min=1, max=32)),
    vol.Optional("temps", default=2): vol.All(vol.Coerce(int), vol.Range(min=0, max=8)),
    vol.Optional("board", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=15)),
    vol.Optional("soc", default=60.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    vol.Optional("capacity_ah", default=100.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=6500)),
    vol.Optional("seed"): int,
    vol.Optional("rssi", default=-60): vol.All(vol.Coerce(int), vol.Range(min=-127, max=20)),
    vol.Optional("manufacturer_id", default=0x0302): vol.Any(
        None, vol.All(vol.Coerce(int), vol.Range(min=0, max=0xFFFF))
    ),
    vol.Optional("mtu", default=20): vol.All(vol.Coerce(int), vol.Range(min=1, max=512)),
    vol.Optional("notify_not_permitted", default=False): vol.Boolean(),
    vol.Optional("bad_echoes", default=0): vol.All(vol.Coerce(int), vol.Range(min=0)),
    # Cloud mode: the module neither advertises nor accepts connections (daly.md §3.4).
    vol.Optional("cloud_mode", default=False): vol.Boolean(),
}


def _create(config: BatteryConfig, context: DriverContext) -> DalyBleDriver:
    return DalyBleDriver(config, context)


def _add_read_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", required=True, help="Bluetooth MAC (or device UUID on macOS)")
    parser.add_argument("--protocol", choices=["auto", "a5", "d2", "x81"], default="auto", help="protocol family")
    parser.add_argument("--timeout", type=float, default=2.0, help="answer timeout in seconds")
    parser.add_argument("--scan-timeout", type=float, default=10.0, help="seconds to look for the module")


def _options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    entry = {
        "address": args.address,
        "protocol": args.protocol,
        "timeout": args.timeout,
        "scan_timeout": args.scan_timeout,
    }
    result: dict[str, Any] = vol.Schema(BATTERY_SCHEMA)(entry)
    return result


async def discover(seconds: float) -> list[dict[str, Any]]:
    """``trackingbms scan``: Daly modules in range as battery entries (address and advertised name)."""
    records = await scan(backend_named("bleak").scanner, seconds)
    return [{"address": str(r["address"]), "name": str(r["name"] or r["address"])} for r in records]


def driver_spec() -> DriverSpec:
    """The "daly_ble" driver."""
    return DriverSpec(
        name=NAME,
        description="Daly BMS over Bluetooth LE (D2, 0x81 or legacy A5; DL-* modules and BT dongles)",
        factory=_create,
        schema=BATTERY_SCHEMA,
        transports=("ble",),
        add_read_arguments=_add_read_arguments,
        options_from_args=_options_from_args,
        discover=discover,
    )


class DalyBleSimulator:
    """A fake Daly module in this process's fake air, for ``backend: fake`` batteries and scans."""

    def __init__(self, device: FakeDaly, air: FakeAir = FAKE_AIR) -> None:
        self.device = device
        self.air = air
        self.link = device.address

    async def start(self) -> None:
        """Put the module in range."""
        self.air.add(self.device)
        _LOGGER.info("Fake Daly BLE module %s (%s) in range", self.device.address, self.device.name)

    async def stop(self) -> None:
        """Take it out of range (a connected battery sees a disconnect)."""
        self.air.remove(self.device.address)


def create_simulator(options: Mapping[str, Any], base_dir: Path) -> DalyBleSimulator:
    """Build from a validated ``simulators`` entry (base_dir is unused: the air has no files)."""
    cloud = bool(options.get("cloud_mode", False))
    device = fake_daly(
        options["address"],
        options.get("protocol", "d2"),
        cells=options.get("cells", 16),
        temps=options.get("temps", 2),
        board=options.get("board", 1),
        soc=options.get("soc", 60.0),
        capacity_ah=options.get("capacity_ah", 100.0),
        seed=options.get("seed"),
        name=options.get("name"),
        rssi=options.get("rssi", -60),
        manufacturer_id=options.get("manufacturer_id", 0x0302),
        mtu=options.get("mtu", 20),
        notify_not_permitted=options.get("notify_not_permitted", False),
        bad_echoes=options.get("bad_echoes", 0),
        advertising=not cloud,
        connectable=not cloud,
    )
    return DalyBleSimulator(device)


def simulator_spec() -> SimulatorSpec:
    """The "daly_ble" simulator (in-process fake air; no CLI: nothing outside the hub can reach it)."""
    return SimulatorSpec(
        name=NAME,
        description="simulated Daly BLE module in the hub's fake air (use with backend: fake)",
        factory=create_simulator,
        schema=SIMULATOR_SCHEMA,
    )
