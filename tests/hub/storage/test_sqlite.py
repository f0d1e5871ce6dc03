"""What only the SQLite backend has: one file in WAL mode, readable by any other process."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.storage import DEFAULT_TENANT, StorageError
from hub.storage.sqlite import SQLiteStorage, migrations


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "hub.db"


@pytest.fixture
async def sqlite_storage(db_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(db_path)
    await storage.open()
    yield storage
    await storage.close()


async def test_the_schema_is_in_the_file(sqlite_storage: SQLiteStorage, db_path: Path) -> None:
    with sqlite3.connect(db_path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"schema_migrations", "tenants", "batteries", "readings"} <= tables
        assert db.execute("SELECT id FROM tenants").fetchall() == [(DEFAULT_TENANT,)]
        applied = db.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert applied == [(v, name) for v, name, _ in migrations()]


async def test_database_is_in_wal_mode(sqlite_storage: SQLiteStorage, db_path: Path) -> None:
    async with sqlite_storage.db.execute("PRAGMA journal_mode") as cur:
        row = await cur.fetchone()
    assert row is not None
    assert row[0] == "wal"
    # WAL is a property of the file: another process opening it sees it too.
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_read_only_open_needs_an_existing_file(db_path: Path) -> None:
    with pytest.raises(StorageError, match="no database"):
        await SQLiteStorage(db_path, read_only=True).open()
    assert not db_path.parent.exists()
