"""Shared helpers for the BLE tests: the fixture's BLE frames, fake air set-up, drivers and stream readers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import voluptuous as vol
from trackingbms_daly.a5.framing import A5Frame, A5Framer
from trackingbms_daly.ble.driver import DalyBleDriver
from trackingbms_daly.ble.fake import FakeAir, FakeDaly, fake_daly
from trackingbms_daly.ble.link import BleLink
from trackingbms_daly.ble.registration import BATTERY_SCHEMA
from trackingbms_daly.modbus.framing import ModbusFrame, ModbusFramer

from hub.batteries import battery_config
from hub.specs import DriverContext

FIXTURES: list[dict[str, Any]] = json.loads((Path(__file__).parents[3] / "fixtures/daly/frames.json").read_text())
BLE = [e for e in FIXTURES if e["protocol"] == "ble"]
BTSNOOP = "syssi/esphome-daly-bms:docs/pdus/btsnoop_daly_balancer.log"
ADDRESS = "40:D6:3C:32:23:A2"  # the DL-40D63C3223A2 example name of daly.md §3.4
# Short answer timeouts: the fake answers within a few event-loop turns.
FAST: dict[str, Any] = {"timeout": 0.3, "retries": 1, "scan_timeout": 1.0, "connect_timeout": 2.0}


def raw(entry: dict[str, Any]) -> bytes:
    """The entry's bytes."""
    return bytes.fromhex(entry["hex"])


def entry_id(entry: dict[str, Any]) -> str:
    """A test id that cites the entry's source."""
    return f"{entry['hex'][:17]}|{entry['direction']}|{entry['source'][:60]}"


def air_with(protocol: str = "d2", address: str = ADDRESS, **knobs: Any) -> tuple[FakeAir, FakeDaly]:
    """A fresh fake air holding one module of ``protocol``."""
    air = FakeAir()
    device = air.add(fake_daly(address, protocol, seed=7, **knobs))
    return air, device


def make_driver(air: FakeAir, address: str = ADDRESS, **options: Any) -> DalyBleDriver:
    """A daly_ble driver for a validated battery entry, on the given fake air."""
    entry = {"id": "pack", "driver": "daly_ble", **vol.Schema(BATTERY_SCHEMA)({"address": address, **FAST, **options})}
    return DalyBleDriver(battery_config(entry), DriverContext(Path("/")), backend=air.backend())


async def open_link(air: FakeAir, address: str = ADDRESS, **kwargs: Any) -> BleLink:
    """A connected link (fast backoff)."""
    link = BleLink(address, air.backend(), connect_timeout=2.0, scan_timeout=1.0, backoff=0.0, **kwargs)
    await link.open()
    return link


async def drain(link: BleLink, quiet: float = 0.05) -> bytes:
    """Everything the link receives until it has been quiet for ``quiet`` seconds."""
    data = bytearray()
    while chunk := await link.read(quiet):
        data += chunk
    return bytes(data)


async def modbus_frames(link: BleLink, addresses: set[int], quiet: float = 0.05) -> list[ModbusFrame]:
    """Modbus frames cut from the link's stream as the driver's framer would, read by read."""
    framer = ModbusFramer(addresses)
    frames: list[ModbusFrame] = []
    while chunk := await link.read(quiet):
        frames += framer.feed(chunk)
    return frames + framer.flush()


async def a5_frames(link: BleLink, quiet: float = 0.05) -> list[A5Frame]:
    """A5 frames cut from the link's stream, read by read."""
    framer = A5Framer()
    frames: list[A5Frame] = []
    while chunk := await link.read(quiet):
        frames += framer.feed(chunk)
    return frames + framer.flush()


def settle() -> Any:
    """Let queued notifications and callbacks run."""
    return asyncio.sleep(0.01)
