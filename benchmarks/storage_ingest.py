"""Ingest: 16-cell, 4-sensor readings through bus -> processors -> writer -> SQLite, against plain
``sqlite3.executemany`` of the very same rows into the very same table (batches of 1,000 per
transaction, WAL, synchronous=NORMAL, no processing), measured in one run. (Bytes on disk per
reading: benchmarks/storage_size.py.)

    .venv/bin/python benchmarks/storage_ingest.py [--readings N] [--batteries B]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.bus import DATA_BMS_RAW, DATA_BMS_STORED, EventBus
from hub.config.schema import build_schema
from hub.pipeline import Pipeline
from hub.plugins import PluginManager
from hub.reading import Reading, Temperature, TemperatureKind
from hub.registry import ServiceRegistry
from hub.storage.packing import COLUMNS, pack_rows
from hub.storage.recorder import Recorder
from hub.storage.sqlite import SQLiteStorage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 1000


def make_readings(count: int, batteries: int) -> list[Reading]:
    """Readings of a slowly discharging 16-cell pack with 4 sensors, one per second per battery."""
    readings = []
    for i in range(count):
        battery, step = i % batteries, i // batteries
        cells = tuple(3.30 - step * 1e-6 + ((battery + c) % 5) * 0.001 for c in range(16))
        readings.append(
            Reading(
                f"b{battery}",
                timestamp=T0 + timedelta(seconds=step),
                voltage=round(sum(cells), 3),
                current=-12.5 + (step % 7) * 0.1,
                soc=80.0 - step * 1e-4,
                cells=cells,
                temperatures=(
                    Temperature(24.0 + battery % 3, TemperatureKind.CELL, 1),
                    Temperature(24.5, TemperatureKind.CELL, 2),
                    Temperature(30.1, TemperatureKind.MOS, 1),
                    Temperature(22.0, TemperatureKind.AMBIENT, 1),
                ),
                rated_capacity_ah=280.0,
            )
        )
    return readings


async def ours(readings: list[Reading], batteries: int, path: Path, *, processors: bool = True) -> float:
    """Seconds to store every reading through the hub's own path; without ``processors`` the
    pipeline has no step (the readings must then come derived, to store the very same rows)."""
    manager = PluginManager()
    manager.discover([])
    manager.collect()
    config = build_schema(manager)({})
    bus = EventBus()
    registry = ServiceRegistry(bus)
    storage = SQLiteStorage(path)
    await storage.open()
    store = storage.for_tenant("default")
    for b in range(batteries):
        await store.ensure_battery(f"b{b}", f"B{b}", "daly")
    pipeline = Pipeline(bus, registry)
    pipeline.build(manager.processors, config)
    if not processors:
        pipeline.steps = []
    await pipeline.attach(store)
    pipeline.start()
    recorder = Recorder(bus, registry, store, batch_size=BATCH, flush_interval=0.05, queue_size=20_000)
    await recorder.start()
    done = asyncio.Event()
    bus.subscribe(DATA_BMS_STORED, lambda _: done.set() if recorder.stored >= len(readings) else None)
    started = time.perf_counter()
    for first in range(0, len(readings), 500):
        await recorder.wait_for_room()  # the same back-pressure the pollers obey
        for reading in readings[first : first + 500]:
            bus.publish(DATA_BMS_RAW, reading, origin="bench")
        await bus.drain()  # the bus queues drop their oldest when full: publish no faster than handled
    await done.wait()
    elapsed = time.perf_counter() - started
    await recorder.stop()
    await pipeline.close()
    bus.close()
    await storage.close()
    return elapsed


def baseline(readings: list[Reading], batteries: int, path: Path) -> float:
    """Seconds for plain executemany of the same packed rows into the same (freshly created) table."""
    asyncio.run(_create(path, batteries))
    rows = [(int(row[1][1:]) + 1, *row[2:]) for row in pack_rows("default", [r.with_derived() for r in readings])]
    sql = f"INSERT INTO readings (battery_pk, {', '.join(COLUMNS)}) VALUES ({', '.join('?' * (len(COLUMNS) + 1))})"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for first in range(0, len(rows), BATCH):
        db.execute("BEGIN")
        db.executemany(sql, rows[first : first + BATCH])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


async def _create(path: Path, batteries: int) -> None:
    storage = SQLiteStorage(path)
    await storage.open()
    for b in range(batteries):  # pk b+1, as the baseline rows say
        await storage.for_tenant("default").ensure_battery(f"b{b}", f"B{b}", "daly")
    await storage.close()


def target(metric: str, value: float, unit: str, goal: str, met: bool) -> str:
    return json.dumps({"metric": metric, "value": round(value, 3), "unit": unit, "target": goal, "met": met})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--batteries", type=int, default=10)
    args = parser.parse_args()
    readings = make_readings(args.readings, args.batteries)
    with tempfile.TemporaryDirectory() as tmp:
        base_s = baseline(readings, args.batteries, Path(tmp) / "baseline.db")
        ours_s = asyncio.run(ours(readings, args.batteries, Path(tmp) / "ours.db"))
        # The floor of the design: the same bus hops, writer, packing and rollups, no processor.
        derived = [r.with_derived() for r in readings]
        floor_s = asyncio.run(ours(derived, args.batteries, Path(tmp) / "floor.db", processors=False))
    ours_rate, base_rate, floor_rate = args.readings / ours_s, args.readings / base_s, args.readings / floor_s
    ratio = ours_rate / base_rate
    print(f"readings: {args.readings} of {args.batteries} batteries, 16 cells, 4 temperatures")
    print(f"baseline executemany: {base_rate:,.0f} readings/s ({base_s:.2f} s)")
    print(f"ours (bus, processors, writer with rollups): {ours_rate:,.0f} readings/s ({ours_s:.2f} s)")
    print(f"ratio ours / baseline: {ratio:.2f} (target >= 0.5)")
    print(f"bus and writer alone, no processor: {floor_rate:,.0f} readings/s, ratio {floor_rate / base_rate:.2f}")
    print(target("ingest_readings_per_second", ours_rate, "readings/s", ">= 50000", ours_rate >= 50_000))
    print(target("ingest_ratio_to_executemany", ratio, "ratio", ">= 0.5", ratio >= 0.5))


if __name__ == "__main__":
    main()
