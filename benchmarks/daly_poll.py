"""Full 16-cell Daly A5 poll at 9600 baud: our driver against the wire time and against dalybms.

The simulator paces its answers at the 9600 baud line rate (10 bits per byte) and answers a
request only after the request itself would have crossed the line, so the floor for a poll is
the time its bytes (both ways) need on the wire. Both clients poll the same simulator in the
same run; the script prints the figures, then one JSON line per target.

    .venv/bin/python benchmarks/daly_poll.py [--polls N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import voluptuous as vol
from dalybms import DalyBMS
from trackingbms_daly.driver import DalyA5Driver
from trackingbms_daly.plugin import BATTERY_SCHEMA
from trackingbms_daly.simulator import SIMULATOR_SCHEMA, DalySimulator, create

from hub.batteries import battery_config
from hub.specs import DriverContext

BAUD = 9600
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop


async def poll_ours(link: str, polls: int, data_dir: Path, gap: str) -> tuple[list[float], list[int]]:
    """Times of full polls by our driver, and the bytes each moved in both directions."""
    options = {"port": link, "address": "0x40", "request_gap": gap}
    entry = {"id": "bench", "driver": "daly", **vol.Schema(BATTERY_SCHEMA)(options)}
    driver = DalyA5Driver(battery_config(entry), DriverContext(data_dir))
    await driver.connect()
    await driver.poll()  # warm-up: reads the rated capacity (0x50) once
    assert driver.port is not None
    times, sizes = [], []
    for _ in range(polls):
        link_stats = driver.port.link
        before = link_stats.bytes_in + link_stats.bytes_out
        start = time.perf_counter()
        reading = await driver.poll()
        times.append(time.perf_counter() - start)
        await asyncio.sleep(0.1)  # let the last stray frame (0x96 frame 2) finish on the wire
        sizes.append(link_stats.bytes_in + link_stats.bytes_out - before)
        assert len(reading.cells) == 16
    await driver.close()
    return times, sizes


def poll_dalybms(link: str, polls: int) -> list[float]:
    """Times of the same poll by the dalybms client (status, SOC, MOSFETs, cells, temperatures, errors)."""
    bms = DalyBMS(request_retries=3, address=4)
    bms.connect(link)
    times = []
    for _ in range(polls):
        start = time.perf_counter()
        bms.get_status()
        bms.get_soc()
        bms.get_mosfet_status()
        cells = bms.get_cell_voltages()
        bms.get_temperatures()
        bms.get_errors()
        times.append(time.perf_counter() - start)
        assert cells and len(cells) == 16
    bms.disconnect()
    return times


async def run(polls: int, gap: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        options = vol.Schema(SIMULATOR_SCHEMA)({"link": "bench-link", "cells": 16, "temps": 4, "pace": True, "seed": 1})
        simulator: DalySimulator = create(options, Path(tmp))
        await simulator.start()
        try:
            ours, sizes = await poll_ours(simulator.link, polls, Path(tmp), gap)
            theirs = await asyncio.get_running_loop().run_in_executor(None, poll_dalybms, simulator.link, polls)
        finally:
            await simulator.stop()
    wire = statistics.median(sizes) * BITS_PER_BYTE / BAUD
    return {
        "ours": statistics.median(ours),
        "dalybms": statistics.median(theirs),
        "wire": wire,
        "bytes": statistics.median(sizes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument(
        "--request-gap", default="auto", help="the driver's pause between requests in s, or auto (its default)"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.polls, args.request_gap))
    print(f"request gap: {args.request_gap}")
    wire_ratio = result["ours"] / result["wire"]
    speedup = result["dalybms"] / result["ours"]
    print(
        f"bytes on the wire per poll: {result['bytes']:.0f} -> wire time {result['wire'] * 1000:.0f} ms at {BAUD} baud"
    )
    print(f"our poll:     {result['ours'] * 1000:.0f} ms  ({wire_ratio:.2f} x wire time, target <= 1.25)")
    print(f"dalybms poll: {result['dalybms'] * 1000:.0f} ms  (ours is {speedup:.1f} x faster, target >= 3)")
    print(
        json.dumps(
            {
                "metric": "a5_poll_time_over_wire_time",
                "value": round(wire_ratio, 3),
                "unit": "ratio",
                "target": "<= 1.25",
                "met": wire_ratio <= 1.25,
            }
        )
    )
    print(
        json.dumps(
            {
                "metric": "a5_poll_speedup_over_dalybms",
                "value": round(speedup, 2),
                "unit": "ratio",
                "target": ">= 3",
                "met": speedup >= 3,
            }
        )
    )


if __name__ == "__main__":
    main()
