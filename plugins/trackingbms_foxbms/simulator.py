"""The foxBMS simulator: a foxBMS 2 master broadcasting on a python-can bus, driven by the pack model."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import can
import voluptuous as vol

from hub.faults import FaultInjector, fault_name
from hub.simulation import PackModel, add_pack_arguments, pack_options_from_args, packs_for
from trackingbms_foxbms.assembly import CurrentSign
from trackingbms_foxbms.broadcast import SIM_FLAGS, BroadcastSettings, FoxbmsBroadcaster
from trackingbms_foxbms.bus import BITRATE, BusConfig, CanLink
from trackingbms_foxbms.config import firmware_version, parse_option
from trackingbms_foxbms.dbc import (
    BUNDLED,
    FlagPolarity,
    Layout,
    layout_for_firmware,
    load_dbc,
    parse_firmware,
    polarity_for,
)

__all__ = ["SIMULATOR_SCHEMA", "FoxbmsSimulator", "add_arguments", "create", "options_from_args"]

_LOGGER = logging.getLogger(__name__)
_SCALAR = vol.Any(bool, int, float, str)


def _flag(value: Any) -> str:
    if str(value) not in SIM_FLAGS:
        raise vol.Invalid(f"unknown flag {value!r} (known: {', '.join(sorted(SIM_FLAGS))})")
    return str(value)


SIMULATOR_SCHEMA: dict[Any, Any] = {
    vol.Optional("interface", default="virtual"): vol.All(str, vol.Length(min=1)),
    vol.Required("channel"): vol.All(str, vol.Length(min=1)),
    vol.Optional("bitrate", default=BITRATE): vol.All(vol.Coerce(int), vol.Range(min=5_000, max=1_000_000)),
    vol.Optional("options", default={}): {str: _SCALAR},
    vol.Optional("dbc_version", default="current"): vol.In(["current", "v1.6"]),
    vol.Optional("firmware"): firmware_version,
    vol.Optional("invalid_flag", default="auto"): vol.In(["auto", *(p.value for p in FlagPolarity)]),
    vol.Optional("current_sign", default=CurrentSign.DISCHARGE_POSITIVE.value): vol.In([s.value for s in CurrentSign]),
    vol.Optional("strings", default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=4)),
    vol.Optional("cells", default=18): vol.All(vol.Coerce(int), vol.Range(min=1, max=48)),  # per string
    vol.Optional("temps", default=8): vol.All(vol.Coerce(int), vol.Range(min=0, max=16)),  # per string
    vol.Optional("capacity_ah", default=100.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=10000)),
    vol.Optional("soc", default=60.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    vol.Optional("seed"): int,
    vol.Optional("faults", default=[]): [fault_name],
    vol.Optional("invert_current", default=False): vol.Boolean(),
    vol.Optional("pace", default=False): vol.Boolean(),  # shared pack option; CAN frames are paced anyway
    # The firmware's 100 ms base cycle; shorter makes demos and tests quicker.
    vol.Optional("period", default=0.1): vol.All(vol.Coerce(float), vol.Range(min=0.005, max=1.0)),
    vol.Optional("invalid_cells", default=[]): [vol.All(vol.Coerce(int), vol.Range(min=1, max=192))],
    vol.Optional("invalid_temps", default=[]): [vol.All(vol.Coerce(int), vol.Range(min=1, max=64))],
    vol.Optional("flags", default=[]): [_flag],
}


class FoxbmsSimulator:
    """Broadcasts a simulated foxBMS master's frames on a CAN bus every ``period`` seconds."""

    def __init__(self, options: Mapping[str, Any], bus: BusConfig) -> None:
        self.options = dict(options)
        self.bus = bus
        self.link = bus.channel
        self.faults = FaultInjector(options.get("seed"))
        for fault in options.get("faults", []):
            self.faults.inject(fault)
        self.broadcaster: FoxbmsBroadcaster | None = None
        # One pack model per string; set before start() to drive the simulator with own models.
        self.packs: list[PackModel] = []
        self.received: list[tuple[int, bytes]] = []  # frames other nodes sent (e.g. state requests)
        self._can = CanLink(bus, self._on_message)
        self._task: asyncio.Task[None] | None = None

    @property
    def sent(self) -> int:
        """Frames put on the bus so far."""
        return self._can.sent

    def _layout(self) -> tuple[Layout, FlagPolarity]:
        firmware = parse_firmware(self.options["firmware"]) if "firmware" in self.options else None
        layout = layout_for_firmware(firmware) if firmware else Layout(self.options.get("dbc_version", "current"))
        flag = self.options.get("invalid_flag", "auto")
        return layout, FlagPolarity(flag) if flag != "auto" else polarity_for(layout, firmware)

    async def start(self) -> None:
        """Load the DBC (in a worker thread), open the bus and start broadcasting."""
        layout, polarity = self._layout()
        dbc = await asyncio.to_thread(load_dbc, BUNDLED[layout], layout)
        sign = CurrentSign(self.options.get("current_sign", CurrentSign.DISCHARGE_POSITIVE.value))
        if self.options.get("invert_current"):
            other = CurrentSign.CHARGE_POSITIVE if sign is CurrentSign.DISCHARGE_POSITIVE else sign.DISCHARGE_POSITIVE
            sign = other
        settings = BroadcastSettings(
            current_sign=sign,
            polarity=polarity,
            invalid_cells=frozenset(self.options.get("invalid_cells", [])),
            invalid_temps=frozenset(self.options.get("invalid_temps", [])),
            flags=frozenset(self.options.get("flags", [])),
            seed=self.options.get("seed"),
        )
        packs = self.packs or packs_for(self.options, self.options.get("strings", 1))
        self.broadcaster = FoxbmsBroadcaster(dbc, packs, settings, self.faults)
        await self._can.open()
        self._task = asyncio.get_running_loop().create_task(self._run())
        _LOGGER.info("foxBMS simulator (%s layout) on %s %s", layout.value, self.bus.interface, self.bus.channel)

    async def stop(self) -> None:
        """Stop broadcasting and close the bus."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._can.close()

    def _on_message(self, msg: can.Message) -> None:
        if not msg.is_error_frame and not msg.is_remote_frame and len(self.received) < 10_000:
            self.received.append((msg.arbitration_id, bytes(msg.data)))

    async def _run(self) -> None:
        """One cycle every ``period`` on a fixed grid; a late cycle is not made up in a burst."""
        assert self.broadcaster is not None
        loop = asyncio.get_running_loop()
        period = float(self.options.get("period", 0.1))
        next_at = loop.time()
        while True:
            frames = self.broadcaster.tick()
            if frames:
                try:
                    await self._can.send(frames)
                except Exception as err:  # a simulator keeps broadcasting whatever the bus does
                    _LOGGER.debug("foxBMS simulator send failed: %s", err)
            next_at = max(next_at + period, loop.time())
            await asyncio.sleep(next_at - loop.time())


def create(options: Mapping[str, Any], base_dir: Path) -> FoxbmsSimulator:
    """Build from a validated ``simulators`` entry (nothing is opened or loaded until start)."""
    del base_dir  # a CAN channel is a name, not a path
    bus = BusConfig(
        options["interface"], options["channel"], options.get("bitrate", BITRATE), options.get("options", {})
    )
    return FoxbmsSimulator(options, bus)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trackingbms simulate foxbms``."""
    parser.add_argument("--interface", default="socketcan", help="python-can interface (socketcan on vcan0...)")
    parser.add_argument("--channel", default="vcan0", help="CAN channel (sudo ip link add vcan0 type vcan)")
    parser.add_argument("--bitrate", type=int, default=BITRATE, help="bit rate (foxBMS: 500000)")
    parser.add_argument("--dbc-version", default="current", help="current (v1.7+) or v1.6")
    parser.add_argument("--firmware", help="emulate this foxBMS 2 version (layout and invalid-flag meaning)")
    parser.add_argument("--invalid-flag", default="auto", help="auto, one_means_valid or one_means_invalid")
    parser.add_argument("--current-sign", default="discharge_positive", help="discharge_positive or charge_positive")
    parser.add_argument("--strings", type=int, default=1, help="parallel strings (1-4), each with its own pack")
    parser.add_argument("--period", type=float, default=0.1, help="base cycle in seconds (firmware: 0.1)")
    parser.add_argument("--invalid-cell", type=int, action="append", default=[], help="flag this cell invalid")
    parser.add_argument("--invalid-temp", type=int, action="append", default=[], help="flag this sensor invalid")
    parser.add_argument("--flag", action="append", default=[], help=f"raise a flag: {', '.join(sorted(SIM_FLAGS))}")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="can.Bus keyword")
    add_pack_arguments(parser, cells="1-48 per string, foxBMS default 18", temps="0-16 per string")
    parser.set_defaults(cells=18, temps=8)


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map CLI options to a validated ``simulators`` entry."""
    entry: dict[str, Any] = {
        "interface": args.interface,
        "channel": args.channel,
        "bitrate": args.bitrate,
        "dbc_version": args.dbc_version,
        "invalid_flag": args.invalid_flag,
        "current_sign": args.current_sign,
        "strings": args.strings,
        "period": args.period,
        "invalid_cells": args.invalid_cell,
        "invalid_temps": args.invalid_temp,
        "flags": args.flag,
        "options": dict(parse_option(o) for o in args.option),
        **pack_options_from_args(args),
    }
    if args.firmware:
        entry["firmware"] = args.firmware
    result: dict[str, Any] = vol.Schema(SIMULATOR_SCHEMA)(entry)
    return result
