"""Size: bytes on disk per reading in the raw tier, as the hub leaves it (closed hours compacted).

Simulated 16-cell packs with 4 sensors (the hub's own pack model: cell noise of a millivolt, a solar
day's current, I²R heating), polled every second with the poll loop's jitter, written through the
storage API in batches as the recorder writes them; then compacted as the background task does a
second after the last reading (hours closed for 10 minutes; the last hour stays one row per
reading). Measured against the same readings one row each (the layout before compaction) on the
same backend, in the same run.

    .venv/bin/python benchmarks/storage_size.py [--hours H] [--packs P] [--dsn DSN | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.reading import Reading, Temperature, TemperatureKind
from hub.simulation import PackModel
from hub.storage.base import Storage
from hub.storage.pg_settings import PostgresSettings
from hub.storage.postgres import PostgreSQLStorage
from hub.storage.retention import COMPACT_GRACE
from hub.storage.sqlite import SQLiteStorage

T0 = datetime(2026, 6, 1, 5, tzinfo=UTC)
BATCH = 1000
RAW_TABLES = ("readings", "reading_chunks")
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def simulated(packs: int, hours: float) -> list[Reading]:
    """One reading per pack and second, with up to 40 ms of poll jitter."""
    seconds = int(hours * 3600)
    found = []
    for pack in range(packs):
        clock = [0.0]
        model = PackModel(cells=16, temps=3, capacity_ah=280.0, soc=40.0, seed=pack, clock=lambda c=clock: c[0])
        for second in range(seconds):
            clock[0] = float(second)
            state = model.snapshot()
            temps = [Temperature(t, TemperatureKind.CELL, i + 1) for i, t in enumerate(state.temperatures)]
            found.append(
                Reading(
                    f"pack{pack}",
                    timestamp=T0 + timedelta(seconds=second, milliseconds=(second * 37 + pack * 11) % 40),
                    voltage=round(state.voltage, 2),
                    current=state.current,
                    soc=state.soc,
                    cells=state.cell_voltages,
                    temperatures=(*temps, Temperature(state.mos_temperature, TemperatureKind.MOS, 1)),
                    charge_mos=state.charge_mos,
                    discharge_mos=state.discharge_mos,
                    balancing=state.balancing,
                    cycles=state.cycles,
                    remaining_capacity_ah=state.remaining_capacity_ah,
                    rated_capacity_ah=state.rated_capacity_ah,
                ).with_derived()
            )
    return found


async def fill(storage: Storage, readings: list[Reading], packs: int) -> None:
    store = storage.for_tenant("default")
    for pack in range(packs):
        await store.ensure_battery(f"pack{pack}", f"Pack {pack}", "daly")
    by_time = sorted(readings, key=lambda r: r.timestamp)  # as the recorder sees them: all packs interleaved
    for first in range(0, len(by_time), BATCH):
        await store.write_readings(by_time[first : first + BATCH])


def hub_now(readings: list[Reading]) -> datetime:
    """The background task's clock: a second after the newest reading."""
    return max(r.timestamp for r in readings) + timedelta(seconds=1)


def sqlite_raw_bytes(path: Path) -> int:
    """Pages of the raw tables and their indexes, from SQLite's page accounting (WAL folded in)."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE tbl_name IN (?, ?)", RAW_TABLES)]
        marks = ", ".join("?" * len(names))
        return int(db.execute(f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({marks})", names).fetchone()[0])
    finally:
        db.close()


async def pg_raw_bytes(storage: PostgreSQLStorage) -> int:
    """Heap, TOAST and indexes of the raw tables and every readings partition, after a VACUUM."""
    async with storage.connection("size") as conn:
        for table in RAW_TABLES:
            await conn.execute(f"VACUUM (FULL, ANALYZE) {table}")
        parts = await conn.fetch(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'readings'::regclass"
        )
        names = [*RAW_TABLES, *(p[0] for p in parts)]
        for name in names[2:]:
            await conn.execute(f"VACUUM FULL {name}")
        sizes = [await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name) for name in names]
    return int(sum(sizes))


async def measure_sqlite(readings: list[Reading], packs: int, directory: Path) -> tuple[float, float]:
    """Bytes per reading one row each, then after compaction."""
    path = directory / "size.db"
    storage = SQLiteStorage(path)
    await storage.open()
    await fill(storage, readings, packs)
    await storage.close()
    rows = sqlite_raw_bytes(path) / len(readings)
    await storage.open()
    started = time.perf_counter()
    folded = await storage.compact(hub_now(readings) - COMPACT_GRACE)
    print(f"SQLite: compacted {folded:,} readings in {time.perf_counter() - started:.1f} s")
    await storage.close()
    return rows, sqlite_raw_bytes(path) / len(readings)


async def measure_postgresql(readings: list[Reading], packs: int, dsn: str) -> tuple[float, float]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    storage = PostgreSQLStorage(PostgresSettings(dsn=dsn, schema=schema))
    await storage.open()
    try:
        await fill(storage, readings, packs)
        rows = await pg_raw_bytes(storage) / len(readings)
        await storage.compact(hub_now(readings) - COMPACT_GRACE)
        return rows, await pg_raw_bytes(storage) / len(readings)
    finally:
        async with storage.connection("drop") as conn:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await storage.close()


def target(metric: str, value: float, unit: str, goal: str, met: bool) -> str:
    return json.dumps({"metric": metric, "value": round(value, 3), "unit": unit, "target": goal, "met": met})


def report(name: str, rows: float, compacted: float) -> None:
    share = compacted / rows
    print(f"{name}: one row per reading {rows:.1f} B, as the hub leaves it {compacted:.1f} B ({share:.3f} of the rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="hours of 1 s polls per pack (default 24)")
    parser.add_argument("--packs", type=int, default=2)
    parser.add_argument("--dsn", default=PG_DSN)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    readings = simulated(args.packs, args.hours)
    print(f"{len(readings):,} readings: {args.packs} packs x {args.hours:g} h at 1 s, 16 cells, 4 sensors")
    results: list[tuple[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        sqlite_rows, sqlite_compacted = asyncio.run(measure_sqlite(readings, args.packs, Path(directory)))
    report("SQLite", sqlite_rows, sqlite_compacted)
    results.append(("raw_bytes_per_reading_sqlite", sqlite_compacted))
    if not args.no_postgres:
        pg_rows, pg_compacted = asyncio.run(measure_postgresql(readings, args.packs, args.dsn))
        report("PostgreSQL", pg_rows, pg_compacted)
        results.append(("raw_bytes_per_reading_postgresql", pg_compacted))
    for metric, value in results:
        print(target(metric, value, "B", "<= 40", value <= 40))


if __name__ == "__main__":
    main()
