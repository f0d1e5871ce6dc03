"""Fleet: 1,000 simulated batteries polled every second by one hub's own path for 60 s.

Each battery has a real Coordinator (the hub's polling task, held back by the recorder's
back-pressure gate) around an in-memory 16-cell, 4-sensor pack, and every reading goes through
the bus, the processors and the recorder into SQLite. Reports the CPU share of the process, the
polls missed (a gap of more than 1.5 intervals between two polls of a battery counts the polls
that should have fallen in it) and the time from poll to stored (commit announced).

    .venv/bin/python benchmarks/fleet.py [--batteries N] [--seconds S] [--interval I]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from hub.batteries import Coordinator, battery_config
from hub.bus import DATA_BMS_STORED, Event, EventBus
from hub.config.schema import build_schema
from hub.pipeline import Pipeline
from hub.plugins import PluginManager
from hub.reading import Reading, Temperature, TemperatureKind, utc_now
from hub.registry import ServiceRegistry
from hub.storage.recorder import Recorder
from hub.storage.sqlite import SQLiteStorage


class FleetDriver:
    """A pack in memory that answers at once and notes when it was polled."""

    def __init__(self, index: int, polled: list[float]) -> None:
        self.index = index
        self.polled = polled  # loop times of this battery's polls, oldest first
        self.step = 0

    async def connect(self) -> None:
        """Nothing to open: the pack lives in memory."""

    async def close(self) -> None:
        """Nothing to release."""

    async def poll(self) -> Reading:
        self.polled.append(asyncio.get_running_loop().time())
        self.step += 1
        cells = tuple(3.30 - self.step * 1e-5 + ((self.index + c) % 5) * 0.001 for c in range(16))
        return Reading(
            f"b{self.index}",
            timestamp=utc_now(),
            voltage=round(sum(cells), 3),
            current=-12.5 + (self.step % 7) * 0.1,
            soc=80.0 - self.step * 1e-3,
            cells=cells,
            temperatures=(
                Temperature(24.0 + self.index % 3, TemperatureKind.CELL, 1),
                Temperature(24.5, TemperatureKind.CELL, 2),
                Temperature(30.1, TemperatureKind.MOS, 1),
                Temperature(22.0, TemperatureKind.AMBIENT, 1),
            ),
            rated_capacity_ah=280.0,
        )


class Latency:
    """Poll-to-stored times: a battery's readings are stored in poll order, so a stored batch
    holding n readings of a battery stored its next n polls."""

    def __init__(self, polled: dict[str, list[float]]) -> None:
        self.polled = polled
        self.done = dict.fromkeys(polled, 0)
        self.seconds: list[float] = []

    def on_stored(self, event: Event) -> None:
        now = asyncio.get_running_loop().time()
        for battery, count in event.data["batteries"].items():
            first = self.done[battery]
            self.seconds += [now - t for t in self.polled[battery][first : first + count]]
            self.done[battery] = first + count


def missed_polls(times: list[float], interval: float) -> int:
    """Polls that should have happened in gaps longer than 1.5 intervals."""
    gaps = (b - a for a, b in itertools.pairwise(times))
    return sum(round(gap / interval) - 1 for gap in gaps if gap > 1.5 * interval)


async def run(batteries: int, seconds: float, interval: float, path: Path) -> dict[str, Any]:
    manager = PluginManager()
    manager.discover([])
    manager.collect()
    config = build_schema(manager)({})
    bus, storage = EventBus(), SQLiteStorage(path)
    registry = ServiceRegistry(bus)
    await storage.open()
    store = storage.for_tenant("default")
    for b in range(batteries):
        await store.ensure_battery(f"b{b}", f"B{b}", "fleet")
    pipeline = Pipeline(bus, registry)
    pipeline.build(manager.processors, config)
    await pipeline.attach(store)
    pipeline.start()
    section = config["storage"]
    recorder = Recorder(
        bus,
        registry,
        store,
        batch_size=section["batch_size"],
        flush_interval=section["flush_interval"],
        queue_size=section["queue_size"],
    )
    await recorder.start()
    polled: dict[str, list[float]] = {f"b{b}": [] for b in range(batteries)}
    latency = Latency(polled)
    bus.subscribe(DATA_BMS_STORED, latency.on_stored, name="bench.latency", maxsize=100_000)
    coordinators = [
        Coordinator(
            battery_config({"id": f"b{b}", "driver": "fleet", "poll_interval": interval}),
            FleetDriver(b, polled[f"b{b}"]),
            bus,
            registry,
            gate=recorder.wait_for_room,
        )
        for b in range(batteries)
    ]
    cpu, wall = time.process_time(), time.perf_counter()
    for coordinator in coordinators:
        coordinator.start()
    await asyncio.sleep(seconds)
    for coordinator in coordinators:
        await coordinator.stop()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await bus.drain()
    await recorder.stop()
    await bus.drain()
    await pipeline.close()
    bus.close()
    await storage.close()
    polls = sum(len(times) for times in polled.values())
    return {
        "cpu_share": cpu / wall,
        "polls": polls,
        "stored": recorder.stored,
        "missed": sum(missed_polls(times, interval) for times in polled.values()),
        "p99_s": sorted(latency.seconds)[int(0.99 * (len(latency.seconds) - 1))] if latency.seconds else float("nan"),
        "dropped": recorder.dropped,
        "throttled": recorder.throttled,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batteries", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.batteries, args.seconds, args.interval, Path(tmp) / "fleet.db"))
    cores = os.cpu_count() or 1
    print(f"batteries: {args.batteries} polled every {args.interval:g} s for {args.seconds:g} s")
    print(f"polls: {result['polls']}, stored: {result['stored']}, dropped: {result['dropped']}")
    print(f"CPU: {result['cpu_share']:.0%} of one core ({result['cpu_share'] / cores:.0%} of {cores} cores)")
    print(f"missed polls: {result['missed']} (target 0); writer held polling back {result['throttled']} times")
    print(f"poll -> stored p99: {result['p99_s'] * 1000:.0f} ms")
    figures = {"metric": "fleet_cpu_share", "value": round(result["cpu_share"], 3), "unit": "of one core"}
    print(json.dumps(figures | {"target": "report", "met": True}))
    p99 = {"metric": "fleet_poll_to_stored_p99", "value": round(result["p99_s"], 3), "unit": "s"}
    print(json.dumps(p99 | {"target": "report", "met": True}))
    missed = {"metric": "fleet_missed_polls", "value": result["missed"], "unit": "polls", "target": "0"}
    print(json.dumps(missed | {"met": result["missed"] == 0}))


if __name__ == "__main__":
    main()
