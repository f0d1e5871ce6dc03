"""PostgreSQL backup and restore: round trips, a snapshot under writes, damaged files, refusals, CLI, schedule."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import tarfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.reading import Reading
from hub.storage import DEFAULT_TENANT
from hub.storage.backup import add_backup_commands, scheduled_backups
from hub.storage.base import Storage
from hub.storage.factory import build_backup_scheduler
from hub.storage.pg_backup import connect, create_pg_backup
from hub.storage.pg_copy import drop_tables
from hub.storage.pg_dumpfile import MANIFEST, SUFFIX, CopyCounter, Manifest
from hub.storage.pg_restore import PgRestorePlan, restore_pg_backup
from hub.storage.pg_schema import migrations as pg_migrations
from hub.storage.sqlite_backup import BackupCancelledError, BackupError
from tests.hub.storage.backends import Location, drop_schema, observe, populate


async def opened(location: Location) -> Storage:
    storage = location.make()
    await storage.open()
    return storage


async def populated(location: Location) -> dict[str, Any]:
    storage = await opened(location)
    try:
        await populate(storage)
        return await observe(storage)
    finally:
        await storage.close()


async def observed(location: Location) -> dict[str, Any]:
    storage = await opened(location)
    try:
        return await observe(storage)
    finally:
        await storage.close()


async def wipe(location: Location) -> None:
    conn = await connect(location.settings)
    try:
        await drop_tables(conn, location.schema)
    finally:
        await conn.close()


def yes(_plan: PgRestorePlan) -> bool:
    return True


@pytest.mark.parametrize("name", ["b.pgdump", "b.pgdump.gz"])
async def test_backup_wipe_restore_gives_identical_results(pg_location: Location, tmp_path: Path, name: str) -> None:
    before = await populated(pg_location)
    info = await asyncio.to_thread(create_pg_backup, pg_location.settings, tmp_path / name)
    # The first hour's 120 readings of the garage went into a chunk (populate compacts it).
    assert info.snapshot.tables["readings"] == 240 - 120 + 6 + 90 + 10
    assert info.snapshot.tables["reading_chunks"] == 1
    assert info.snapshot.schema_version == pg_migrations()[-1][0]
    assert (await asyncio.to_thread((tmp_path / name).read_bytes)).startswith(b"\x1f\x8b") == name.endswith(".gz")
    await wipe(pg_location)
    plan = await asyncio.to_thread(restore_pg_backup, pg_location.settings, tmp_path / name, yes, tmp_path / "aside")
    assert plan is not None and plan.current_version is None and plan.set_aside is None
    assert await observed(pg_location) == before
    storage = await opened(pg_location)  # ids go on after the restored ones
    try:
        assert await storage.for_tenant(DEFAULT_TENANT).outbox_add("webhook", "d9", {}) == 3
    finally:
        await storage.close()
    elsewhere = Location("postgresql", tmp_path / "x", f"{pg_location.schema}_copy")  # a schema not there yet
    try:
        await asyncio.to_thread(restore_pg_backup, elsewhere.settings, tmp_path / name, yes, tmp_path / "aside")
        assert await observed(elsewhere) == before
    finally:
        await drop_schema(elsewhere.schema)


async def test_restoring_over_data_keeps_it_in_a_backup_first(pg_location: Location, tmp_path: Path) -> None:
    before = await populated(pg_location)
    await asyncio.to_thread(create_pg_backup, pg_location.settings, tmp_path / "b.pgdump.gz")
    storage = await opened(pg_location)
    try:
        late = Reading("shed", timestamp=datetime(2025, 3, 1, tzinfo=UTC), voltage=13.3)
        await storage.for_tenant(DEFAULT_TENANT).write_readings([late])  # a new month, a new partition
        changed = await observe(storage)
    finally:
        await storage.close()
    aside_dir = tmp_path / "aside"
    plan = await asyncio.to_thread(restore_pg_backup, pg_location.settings, tmp_path / "b.pgdump.gz", yes, aside_dir)
    assert plan is not None and plan.set_aside is not None and plan.holding["readings"] == 347 - 120
    assert await observed(pg_location) == before
    await asyncio.to_thread(restore_pg_backup, pg_location.settings, plan.set_aside, yes, aside_dir)
    assert await observed(pg_location) == changed  # the kept copy brings the change back


async def test_a_declined_restore_changes_nothing(pg_location: Location, tmp_path: Path) -> None:
    await populated(pg_location)
    await asyncio.to_thread(create_pg_backup, pg_location.settings, tmp_path / "b.pgdump")
    storage = await opened(pg_location)
    try:
        await storage.for_tenant(DEFAULT_TENANT).save_state("garage", "energy", {"changed": True})
    finally:
        await storage.close()
    changed = await observed(pg_location)
    plans: list[PgRestorePlan] = []

    def no(plan: PgRestorePlan) -> bool:
        plans.append(plan)
        return False

    assert await asyncio.to_thread(restore_pg_backup, pg_location.settings, tmp_path / "b.pgdump", no, tmp_path) is None
    assert plans[0].current_version == pg_migrations()[-1][0] and plans[0].snapshot.tables["alerts"] == 2
    assert await observed(pg_location) == changed
    left = await asyncio.to_thread(lambda: [path.name for path in tmp_path.iterdir()])
    assert not any("before-restore" in name for name in left)


async def test_backup_is_one_snapshot_while_a_hub_writes(pg_location: Location, tmp_path: Path) -> None:
    storage = await opened(pg_location)
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("pack", "Pack", "daly")
    start = datetime(2025, 6, 1, tzinfo=UTC)
    done = asyncio.Event()

    async def writer() -> int:
        batches = 0
        while not done.is_set() or batches < 5:
            second = batches * 20
            await store.write_readings(
                [Reading("pack", timestamp=start + timedelta(seconds=second + i), voltage=50.0) for i in range(20)]
            )
            batches += 1
        return batches

    task = asyncio.create_task(writer())
    try:
        info = await asyncio.to_thread(create_pg_backup, pg_location.settings, tmp_path / "b.pgdump")
    finally:
        done.set()
        written = await task
        await storage.close()
    copied = info.snapshot.tables["readings"]
    assert copied % 20 == 0 and copied < written * 20  # whole batches only, taken while writing went on
    await asyncio.to_thread(restore_pg_backup, pg_location.settings, tmp_path / "b.pgdump", yes, tmp_path)
    restored = await opened(pg_location)
    try:
        store = restored.for_tenant(DEFAULT_TENANT)
        buckets = [b async for chunk in store.iter_buckets("pack", "5m", None, None) for b in chunk]
        assert sum(b.n for b in buckets) == copied == await store.count_rows("pack", "raw", None, None)
    finally:
        await restored.close()


def rewrite(source: Path, target: Path, change: Any) -> None:
    """A copy of a backup with its manifest changed by ``change(data)``, checksums left as they were."""
    import json

    with tarfile.open(source, "r:*") as tar, tarfile.open(target, "w") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member)
            assert data is not None
            raw = data.read()
            if member.name == MANIFEST:
                raw = json.dumps(change(json.loads(raw))).encode()
            member.size = len(raw)
            out.addfile(member, io.BytesIO(raw))


@pytest.mark.parametrize("damage", ["flip", "cut", "manifest", "newer", "sqlite", "empty"])
async def test_damaged_or_foreign_backups_are_rejected(pg_location: Location, tmp_path: Path, damage: str) -> None:
    before = await populated(pg_location)
    good = tmp_path / "b.pgdump"
    await asyncio.to_thread(create_pg_backup, pg_location.settings, good)
    bad, raw = tmp_path / "bad.pgdump", good.read_bytes()
    if damage == "flip":  # a byte inside the readings table
        at = raw.index(b"PGCOPY", raw.index(b"tables/readings.copy")) + 4000
        bad.write_bytes(raw[:at] + bytes([raw[at] ^ 0x40]) + raw[at + 1 :])
    elif damage == "cut":
        bad.write_bytes(raw[: len(raw) * 2 // 3])
    elif damage == "manifest":
        rewrite(good, bad, lambda data: data | {"format": "something else"})
    elif damage == "newer":
        rewrite(good, bad, lambda data: data | {"schema_version": 99})
    elif damage == "sqlite":
        bad.write_bytes(gzip.compress(b"SQLite format 3\x00" + bytes(4096)))
    else:
        bad.write_bytes(b"")
    expected = {
        "flip": "is damaged: table readings",
        "cut": "not a valid backup|is damaged|cut short",
        "manifest": "is not a TrackingBMS PostgreSQL backup",
        "newer": f"schema version 99, newer than this hub's {pg_migrations()[-1][0]}",
        "sqlite": "is not a valid backup",
        "empty": "is not a valid backup",
    }[damage]
    with pytest.raises(BackupError, match=expected):
        await asyncio.to_thread(restore_pg_backup, pg_location.settings, bad, yes, tmp_path)
    assert await observed(pg_location) == before


async def test_restore_is_refused_while_a_hub_is_connected(pg_location: Location, tmp_path: Path) -> None:
    await populated(pg_location)
    await asyncio.to_thread(create_pg_backup, pg_location.settings, tmp_path / "b.pgdump")
    hub = await opened(pg_location)
    try:
        with pytest.raises(BackupError, match=r"is in use by \d+ hub connection\(s\): stop the hub"):
            await asyncio.to_thread(restore_pg_backup, pg_location.settings, tmp_path / "b.pgdump", yes, tmp_path)
    finally:
        await hub.close()


async def test_an_aborted_backup_leaves_nothing(pg_location: Location, tmp_path: Path) -> None:
    await populated(pg_location)
    stop = threading.Event()
    stop.set()  # the hub is stopping
    with pytest.raises(BackupCancelledError):
        await asyncio.to_thread(create_pg_backup, pg_location.settings, tmp_path / "out" / "b.pgdump", abort=stop)
    assert await asyncio.to_thread(lambda: list((tmp_path / "out").iterdir())) == []


async def test_backup_of_a_missing_database_fails_and_leaves_nothing(pg_location: Location, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no TrackingBMS database at"):
        await asyncio.to_thread(create_pg_backup, pg_location.settings, tmp_path / "out" / "b.pgdump")
    assert list((tmp_path / "out").iterdir()) == []


def test_copy_counter_checks_the_framing() -> None:
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
    row = (2).to_bytes(2, "big") + (3).to_bytes(4, "big") + b"abc" + (-1).to_bytes(4, "big", signed=True)
    stream = header + row * 3 + (-1).to_bytes(2, "big", signed=True)
    counter = CopyCounter()
    for i in range(len(stream)):  # byte by byte: every split point
        counter.feed(stream[i : i + 1])
    assert counter.finish() == 3
    cut = CopyCounter()
    cut.feed(stream[:-3])
    with pytest.raises(BackupError, match="cut short"):
        cut.finish()
    with pytest.raises(BackupError, match="not in binary COPY format"):
        CopyCounter().feed(b"id,name\n" * 4)


def test_manifest_round_trip() -> None:
    manifest = Manifest(5, "2025-01-01T00:00:00+00:00", "postgresql://x/y", "1.0", [(0, 10)], [])
    assert Manifest.from_json(manifest.to_json(), "m") == manifest


def cli(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="trackingbms")
    add_backup_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return int(args.func(args))


def config_for(location: Location, tmp_path: Path) -> Path:
    section = location.section
    path = tmp_path / "hub.yaml"
    path.write_text(
        f"hub:\n  data_dir: {tmp_path / 'data'}\n"
        f"storage:\n  backend: postgresql\n  dsn: {section['dsn']}\n  schema: {section['schema']}\n",
        encoding="utf-8",
    )
    return path


async def test_backup_and_restore_commands_follow_the_configured_backend(
    pg_location: Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await populated(pg_location)
    config = config_for(pg_location, tmp_path)
    assert await asyncio.to_thread(cli, "backup", "--config", config) == 0
    made = Path(capsys.readouterr().out.split(":")[0])
    assert made.parent == tmp_path / "data" / "backups"
    assert made.name.startswith(f"{pg_location.schema}-manual-") and made.name.endswith(f"{SUFFIX}.gz")
    await wipe(pg_location)
    assert await asyncio.to_thread(cli, "restore", made, "--config", config, "--yes") == 0
    assert "restored" in capsys.readouterr().out
    assert await observed(pg_location) == before
    assert await asyncio.to_thread(cli, "restore", tmp_path / "none.pgdump", "--config", config, "--yes") == 1
    assert capsys.readouterr().err.startswith("restore failed: backup not found")


async def test_scheduled_backups_on_postgresql(pg_location: Location, tmp_path: Path) -> None:
    await populated(pg_location)
    section = pg_location.section | {"backups": {"enabled": True, "interval_hours": 1, "keep": 2, "compress": True}}
    section["backups"]["directory"] = "backups"
    times = iter(datetime(2025, 1, 1, h, tzinfo=UTC) for h in range(10))
    scheduler = build_backup_scheduler(section, tmp_path, None)
    scheduler._clock = lambda: next(times)
    for _ in range(3):
        outcome = await scheduler.run_once()
        assert outcome is not None and outcome.ok, outcome
    kept = scheduled_backups(tmp_path / "backups", scheduler.database, SUFFIX)
    assert [p.name for _, p in kept] == [
        f"{pg_location.schema}-20250101T020000Z{SUFFIX}.gz",
        f"{pg_location.schema}-20250101T010000Z{SUFFIX}.gz",
    ]
