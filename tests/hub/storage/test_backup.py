"""Online backup and restore on real SQLite files: consistency under writes, round trips, rejections."""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.reading import Reading, Temperature
from hub.storage import DEFAULT_TENANT
from hub.storage.base import AuditEntry
from hub.storage.sqlite import SQLiteStorage, SQLiteTenantStore, migrations
from hub.storage.sqlite_backup import (
    RestorePlan,
    create_backup,
    latest_version,
    restore_backup,
)

T0 = datetime(2024, 7, 1, 6, 0, 0, tzinfo=UTC)
Rows = dict[str, list[tuple[Any, ...]]]


def reading(battery: str, second: int) -> Reading:
    return Reading(
        battery,
        timestamp=T0 + timedelta(seconds=second),
        voltage=52.0 + (second % 50) / 100,
        current=1.5,
        soc=50.0,
        cells=tuple(3.3 + i / 1000 for i in range(16)),
        temperatures=(Temperature(25.0), Temperature(26.5, sensor=2)),
    )


async def populate(path: Path, readings: int = 300, start: int = 0) -> None:
    """A hub database with batteries, readings, processor state and audit entries."""
    storage = SQLiteStorage(path)
    await storage.open()
    try:
        store = storage.for_tenant(DEFAULT_TENANT)
        await store.ensure_battery("garage", "Garage", "daly")
        await store.ensure_battery("shed", "Shed", "daly")
        await store.write_readings([reading("garage", start + i) for i in range(readings)])
        await store.write_readings([reading("shed", start + i) for i in range(readings // 3)])
        await store.save_state("garage", "energy", {"charged_wh": 12.5 + start})
        await store.add_audit(AuditEntry(actor="cli", action="soc", target="garage", result="ok", request={"v": 80}))
    finally:
        await storage.close()


def fill(path: Path, readings: int = 300, start: int = 0) -> None:
    """``populate`` from synchronous code."""
    asyncio.run(populate(path, readings, start))


def names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def dump(path: Path) -> Rows:
    """Every row of every table, sorted, read through a fresh connection."""
    with closing(sqlite3.connect(path)) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {name: sorted(db.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}


def magic(path: Path) -> bytes:
    with open(path, "rb") as file:
        return file.read(2)


def exists(path: str) -> bool:
    return Path(path).exists()


def yes(_plan: RestorePlan) -> bool:
    return True


def leftovers(directory: Path) -> list[str]:
    """Temporary files and SQLite sidecars a failed operation might have left."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp"))


class Writer:
    """Writes like the hub's recorder: one reading per transaction on a real aiosqlite connection."""

    def __init__(self, path: Path, first: int, active: bool = True) -> None:
        self.storage = SQLiteStorage(path)
        self.next, self.active = first, active
        self.mark = threading.Event()  # set by the test: count the commits from now on
        self.enough = threading.Event()  # set once 25 rows were committed after the mark
        self._after_mark = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Writer:
        await self.storage.open()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task
        await self.storage.close()

    async def _run(self) -> None:
        store = self.storage.for_tenant(DEFAULT_TENANT)
        while self.active and not self._stop.is_set():
            await store.write_readings([reading("garage", self.next)])
            self.next += 1
            self._after_mark += self.mark.is_set()
            if self._after_mark >= 25:
                self.enough.set()
            await asyncio.sleep(0)


def copy_files(source: Path, dest: Path, suffixes: tuple[str, ...]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    for suffix in suffixes:
        shutil.copyfile(f"{source}{suffix}", f"{dest}{suffix}")


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "trackingbms.db"
    fill(path)
    return path


async def test_backup_is_a_consistent_snapshot_while_a_writer_keeps_inserting(tmp_path: Path) -> None:
    path = tmp_path / "data" / "trackingbms.db"
    await populate(path, readings=1500)
    before = dump(path)
    output = tmp_path / "backups" / "live.db"
    steps: list[tuple[int, int]] = []

    async with Writer(path, first=10_000) as writer:

        def progress(done: int, total: int) -> None:
            steps.append((done, total))
            writer.mark.set()  # the snapshot is taken: what the writer commits now must not be in the copy
            assert writer.enough.wait(timeout=60), "the writer made no progress during the copy"

        info = await asyncio.to_thread(create_backup, path, output, progress=progress, pages_per_step=4)

    copy, source = dump(output), dump(path)
    assert {name: len(rows) for name, rows in copy.items()} == info.snapshot.tables
    assert len(copy["readings"]) + 25 <= len(source["readings"])
    # Whole transactions only: every old row and the writer's first rows, in order, none missing.
    garage = sorted(row for row in source["readings"] if row[0] == 1)
    others = [row for row in source["readings"] if row[0] != 1]
    assert copy["readings"] == sorted(others + garage[: len(copy["readings"]) - len(others)], key=repr)
    untouched = [name for name, rows in before.items() if source[name] == rows]  # rollups follow readings
    assert {"batteries", "battery_state", "audit_log", "schema_migrations"} <= set(untouched)
    assert all(copy[name] == source[name] for name in untouched)
    assert len(steps) > 2
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)  # never restarted
    assert steps[-1][0] == steps[-1][1]
    assert leftovers(output.parent) == []
    with closing(sqlite3.connect(output)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


@pytest.mark.parametrize("name", ["round.db", "round.db.gz"])
async def test_backup_wipe_restore_gives_identical_tables(database: Path, tmp_path: Path, name: str) -> None:
    before = dump(database)
    info = create_backup(database, tmp_path / name)
    assert magic(tmp_path / name) == (b"\x1f\x8b" if name.endswith(".gz") else b"SQ")
    assert info.snapshot.schema_version == latest_version()
    assert info.snapshot.tables["readings"] == 400
    shutil.rmtree(database.parent)  # wipe

    plan = restore_backup(tmp_path / name, database, yes)

    assert plan is not None
    assert plan.set_aside is None
    assert plan.current_version is None
    assert not plan.migrates
    assert dump(database) == before
    assert names(database.parent) == ["trackingbms.db"]
    storage = SQLiteStorage(database)  # the hub opens the restored file and reads it
    await storage.open()
    try:
        latest = await SQLiteTenantStore(storage, DEFAULT_TENANT).latest("garage")
        assert latest is not None
        assert latest.timestamp == T0 + timedelta(seconds=299)
    finally:
        await storage.close()


def test_restore_keeps_the_previous_database(database: Path, tmp_path: Path) -> None:
    original = dump(database)
    create_backup(database, tmp_path / "b.db.gz")
    fill(database, readings=50, start=5000)
    changed = dump(database)
    assert changed != original

    plan = restore_backup(tmp_path / "b.db.gz", database, yes)

    assert plan is not None
    assert plan.set_aside is not None
    assert plan.current_version == latest_version()
    assert re.fullmatch(r"trackingbms\.db\.before-restore-\d{8}T\d{6}Z", plan.set_aside.name)
    assert dump(database) == original
    assert dump(plan.set_aside) == changed
    assert not exists(f"{plan.set_aside}-journal")
    second = restore_backup(tmp_path / "b.db.gz", database, yes)  # same second: a new name, nothing overwritten
    assert second is not None
    assert second.set_aside is not None
    assert second.set_aside != plan.set_aside
    assert dump(plan.set_aside) == changed


async def test_restore_over_a_crashed_hub_keeps_its_wal_with_the_old_database(database: Path, tmp_path: Path) -> None:
    create_backup(database, tmp_path / "b.db")
    crashed = tmp_path / "crashed" / "trackingbms.db"
    storage = SQLiteStorage(database)
    await storage.open()
    await storage.for_tenant(DEFAULT_TENANT).write_readings([reading("garage", 9000 + i) for i in range(20)])
    copy_files(database, crashed, ("", "-wal"))  # as a killed hub leaves them: recent rows only in the WAL
    expected = dump(crashed)
    await storage.close()

    plan = restore_backup(tmp_path / "b.db", crashed, yes)

    assert plan is not None
    assert plan.set_aside is not None
    assert dump(plan.set_aside) == expected
    assert len(expected["readings"]) == 420
    assert dump(crashed) == dump(tmp_path / "b.db")
    assert not exists(f"{crashed}-wal")


def test_declined_restore_changes_nothing(database: Path, tmp_path: Path) -> None:
    create_backup(database, tmp_path / "b.db")
    fill(database, readings=10, start=7000)
    before = dump(database)
    seen: list[RestorePlan] = []

    def decline(plan: RestorePlan) -> bool:
        seen.append(plan)
        return False

    assert restore_backup(tmp_path / "b.db", database, decline) is None

    assert seen[0].snapshot.tables["readings"] == 400
    assert dump(database) == before
    assert names(database.parent) == ["trackingbms.db"]


def test_older_backup_is_migrated_forward(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with closing(sqlite3.connect(old, isolation_level=None)) as db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT)")
        for version, name, sql in migrations()[:-1]:
            db.executescript(sql)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, '2024-01-01')", (version, name))
        db.execute(
            "INSERT INTO batteries (tenant_id, id, name, driver, created_at) VALUES ('default', 'a', 'A', 'daly', '')"
        )
    target = tmp_path / "data" / "trackingbms.db"

    plan = restore_backup(old, target, yes)

    assert plan is not None
    assert plan.migrates
    assert plan.snapshot.schema_version == latest_version() - 1
    restored = dump(target)
    assert [row[0] for row in restored["schema_migrations"]] == [v for v, _, _ in migrations()]
    assert [row[2] for row in restored["batteries"]] == ["a"]
    assert names(target.parent) == ["trackingbms.db"]


def test_restore_replaces_a_file_that_is_not_a_database(database: Path, tmp_path: Path) -> None:
    create_backup(database, tmp_path / "b.db")
    expected = dump(database)
    database.write_bytes(b"garbage" * 1000)

    plan = restore_backup(tmp_path / "b.db", database, yes)

    assert plan is not None
    assert plan.current_version is None
    assert plan.set_aside is not None
    assert plan.set_aside.read_bytes() == b"garbage" * 1000
    assert dump(database) == expected
