"""Backups and restores that must fail cleanly: damaged or newer backups, a busy database, a full disk."""

from __future__ import annotations

import asyncio
import errno
import gzip
import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from hub.storage import DEFAULT_TENANT
from hub.storage import sqlite_backup as engine
from hub.storage.sqlite_backup import BackupCancelledError, BackupError, create_backup, latest_version, restore_backup
from tests.hub.storage.test_backup import Writer, dump, fill, leftovers, names, reading, yes


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "trackingbms.db"
    fill(path)
    return path


def corrupt_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 6] = bytes((i * 37) % 256 for i in range(4096 * 4))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["pages", "truncated_gz", "text", "foreign_sqlite"])
def test_damaged_or_foreign_backups_are_rejected(database: Path, tmp_path: Path, damage: str) -> None:
    backup = tmp_path / ("b.db.gz" if damage == "truncated_gz" else "b.db")
    create_backup(database, backup)
    if damage == "pages":
        corrupt_pages(backup)
    elif damage == "truncated_gz":
        backup.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    elif damage == "text":
        backup.write_text("not a database\n" * 500)
    else:
        backup.unlink()
        with closing(sqlite3.connect(backup, isolation_level=None)) as db:
            db.execute("CREATE TABLE notes (text TEXT)")
    before = dump(database)

    with pytest.raises(BackupError, match=r"not a valid backup|integrity check|not a TrackingBMS database") as err:
        restore_backup(backup, database, yes)

    assert "\n" not in str(err.value)
    assert dump(database) == before
    assert names(database.parent) == ["trackingbms.db"]


def test_backup_from_a_newer_hub_is_rejected(database: Path, tmp_path: Path) -> None:
    create_backup(database, tmp_path / "b.db")
    with closing(sqlite3.connect(tmp_path / "b.db", isolation_level=None)) as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 'future', '2030-01-01')", (latest_version() + 1,))
    before = dump(database)

    with pytest.raises(BackupError, match=rf"schema version {latest_version() + 1}, newer than this hub's"):
        restore_backup(tmp_path / "b.db", database, yes)

    assert dump(database) == before
    assert leftovers(database.parent) == []


@pytest.mark.parametrize("writing", [True, False])
async def test_restore_is_refused_while_the_database_is_open(database: Path, tmp_path: Path, writing: bool) -> None:
    create_backup(database, tmp_path / "b.db")
    async with Writer(database, first=20_000, active=writing) as writer:
        with pytest.raises(BackupError, match="is in use"):
            await asyncio.to_thread(restore_backup, tmp_path / "b.db", database, yes)
        await writer.storage.for_tenant(DEFAULT_TENANT).write_readings([reading("shed", 30_000)])  # undisturbed
    assert len(dump(database)["readings"]) == 401 + writer.next - 20_000
    assert names(database.parent) == ["trackingbms.db"]


def enospc(*_args: Any, **_kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_while_compressing_leaves_nothing(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    monkeypatch.setattr(gzip.GzipFile, "write", enospc)
    with pytest.raises(BackupError, match="no space left on device") as err:
        create_backup(database, out / "b.db.gz")
    assert str(err.value).startswith(f"cannot back up {database} to {out / 'b.db.gz'}")
    assert list(out.iterdir()) == []


def test_full_disk_while_copying_leaves_nothing(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = engine._open_output

    def tiny(path: Path) -> sqlite3.Connection:
        db = real(path)
        db.execute("PRAGMA max_page_count = 3")  # SQLite answers SQLITE_FULL as on a full disk
        return db

    monkeypatch.setattr(engine, "_open_output", tiny)
    out = tmp_path / "out"
    with pytest.raises(BackupError, match="no space left on device"):
        create_backup(database, out / "b.db")
    assert list(out.iterdir()) == []


def test_full_disk_while_unpacking_a_restore_changes_nothing(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_backup(database, tmp_path / "b.db.gz")
    before = dump(database)
    monkeypatch.setattr(shutil, "copyfileobj", enospc)
    with pytest.raises(BackupError, match="no space left on device"):
        restore_backup(tmp_path / "b.db.gz", database, yes)
    assert dump(database) == before
    assert names(database.parent) == ["trackingbms.db"]


def test_missing_database_and_bad_outputs(database: Path, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"database not found: .*nope\.db"):
        create_backup(tmp_path / "nope.db", tmp_path / "b.db")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackupError, match="Not a directory"):
        create_backup(database, tmp_path / "file" / "b.db")
    with pytest.raises(BackupError, match="is the database itself"):
        create_backup(database, database)
    with pytest.raises(BackupError, match="backup not found"):
        restore_backup(tmp_path / "nope.db", database, yes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "file"]


def test_abort_cancels_the_copy_and_leaves_nothing(database: Path, tmp_path: Path) -> None:
    abort = threading.Event()

    def progress(_done: int, _total: int) -> None:
        abort.set()

    with pytest.raises(BackupCancelledError):
        create_backup(database, tmp_path / "out" / "b.db", progress=progress, pages_per_step=1, abort=abort)
    assert list((tmp_path / "out").iterdir()) == []
