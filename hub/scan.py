"""Device detection for `trackingbms scan`: probe serial ports with each driver's probes, then discover."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import voluptuous as vol

from hub.batteries import battery_config
from hub.plugins import PluginManager
from hub.specs import DataError, DriverContext, DriverSpec, LinkError

_LOGGER = logging.getLogger(__name__)
PORT_PATTERNS = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*", "/dev/ttyAMA*", "/dev/ttyS[0-3]")
PROBE_LIMIT = 8.0  # seconds one probe (connect + one poll) may take
FAST_PROBE = {"timeout": 0.3, "retries": 1}


@dataclass
class Found:
    """A device that answered: the battery entry that reads it, and what it said."""

    entry: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


def candidate_ports(named: Iterable[str] = ()) -> list[str]:
    """The named ports, or the usual serial ports; /dev/serial/by-id names win over their targets."""
    paths = list(named) or [p for pattern in PORT_PATTERNS for p in sorted(glob.glob(pattern))]
    seen: dict[str, str] = {}
    for path in paths:
        real = os.path.realpath(path)
        seen.setdefault(real, path)
    return list(seen.values())


def _entry(spec: DriverSpec, port: str, options: dict[str, Any], index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The entry to print (only what differs from the defaults) and the validated one to probe with."""
    shown = {"id": f"battery{index}", "driver": spec.name, "port": port, **options}
    keys = {str(key) for key in spec.schema}
    # A silent port should not hold the scan for long: short timeouts where the driver has them.
    fast = {k: v for k, v in FAST_PROBE.items() if k in keys}
    validated: dict[str, Any] = vol.Schema(dict(spec.schema))({"port": port, **fast, **options})
    return shown, {"id": shown["id"], "driver": spec.name, **validated}


async def probe(spec: DriverSpec, entry: dict[str, Any], data_dir: Path) -> dict[str, Any] | None:
    """Connect and poll once; a summary of the reading, or None when nothing sensible answered."""
    driver = spec.factory(battery_config(entry), DriverContext(data_dir))
    try:
        async with asyncio.timeout(PROBE_LIMIT):
            await driver.connect()
            reading = (await driver.poll()).with_derived()
    except (LinkError, DataError, TimeoutError) as err:
        _LOGGER.debug("%s on %s: %s", spec.name, entry.get("port"), err)
        return None
    finally:
        with contextlib.suppress(Exception):
            await driver.close()
    return {"voltage": reading.voltage, "cells": len(reading.cells), "soc": reading.soc}


async def scan_ports(manager: PluginManager, ports: list[str], data_dir: Path, out: TextIO = sys.stderr) -> list[Found]:
    """Try every driver's probes on every port; the first that answers claims the port."""
    found: list[Found] = []
    for port in ports:
        for spec in manager.drivers:
            hit = await _probe_port(spec, port, len(found) + 1, data_dir, out)
            if hit is not None:
                found.append(hit)
                break
        else:
            print(f"  {port}: nothing answered", file=out, flush=True)
    return found


async def _probe_port(spec: DriverSpec, port: str, index: int, data_dir: Path, out: TextIO) -> Found | None:
    for options in spec.probes:
        label = ", ".join(f"{k}={v}" for k, v in options.items())
        print(f"  {port}: trying {spec.name} ({label})...", file=out, flush=True)
        try:
            shown, entry = _entry(spec, port, dict(options), index)
        except vol.Invalid as err:
            _LOGGER.warning("Probe %s of %s is not valid: %s", label, spec.name, err)
            continue
        summary = await probe(spec, entry, data_dir)
        if summary is not None:
            print(f"  {port}: found {spec.name} ({label}): {summary}", file=out, flush=True)
            return Found(shown, summary)
    return None


async def discover(manager: PluginManager, seconds: float, out: TextIO = sys.stderr) -> list[Found]:
    """Devices found by drivers that discover (Bluetooth)."""
    found: list[Found] = []
    for spec in manager.drivers:
        if spec.discover is None:
            continue
        print(f"  scanning for {spec.name} devices ({seconds:.0f} s)...", file=out, flush=True)
        try:
            entries = await spec.discover(seconds)
        except Exception as err:  # no adapter, no permission: say so and go on
            print(f"  {spec.name}: discovery failed: {err}", file=out, flush=True)
            continue
        for entry in entries:
            print(f"  found {spec.name}: {entry}", file=out, flush=True)
            found.append(Found({"id": f"battery{len(found) + 1}", "driver": spec.name, **entry}))
    return found
