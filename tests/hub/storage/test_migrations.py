"""Upgrading a SQLite database of every earlier schema version, with data in it, to the newest."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.reading import Reading, Temperature
from hub.storage.base import Storage
from hub.storage.packing import COLUMNS, to_row
from hub.storage.records import AlertRecord
from hub.storage.sqlite import SQLiteStorage, migrations

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
LATEST = migrations()[-1][0]


def sample_readings(count: int) -> list[Reading]:
    return [
        Reading(
            "pack",
            timestamp=T0 + timedelta(minutes=i),
            voltage=52.0 + i / 100,
            current=-4.0,
            soc=80.0 - i / 10,
            cells=(3.25, 3.26, 3.27, 3.24 + i / 1000),
            temperatures=(Temperature(21.5 + i / 10),),
        )
        for i in range(count)
    ]


def old_database(path: Path, version: int) -> None:
    """A database exactly as schema ``version`` left it, holding the data that version could hold."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT)")
        for number, name, sql in migrations():
            if number > version:
                break
            db.executescript(sql)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, '')", (number, name))
        db.execute(
            "INSERT INTO batteries (pk, tenant_id, id, name, driver, created_at) "
            "VALUES (1, 'default', 'pack', 'Pack', 'daly', '')"
        )
        rows = [(1, *to_row(r)) for r in sample_readings(30)]
        db.executemany(
            f"INSERT INTO readings (battery_pk, {', '.join(COLUMNS)}) VALUES ({', '.join('?' * (len(COLUMNS) + 1))})",
            rows,
        )
        if version >= 2:
            db.execute(
                "INSERT INTO audit_log (tenant_id, ts, actor, action, target, request, result, details) "
                "VALUES ('default', ?, 'ann', 'bms.soc', 'pack', '{}', 'ok', '{}')",
                (T0.isoformat(),),
            )
        if version >= 3:
            db.execute(
                "INSERT INTO battery_state VALUES ('default', 'pack', 'energy', ?, '')",
                (json.dumps({"version": 1, "charged_kwh": 12.5, "discharged_kwh": 3.0}),),
            )


async def written_fresh(storage: Storage) -> list[dict[str, object]]:
    """Write the sample readings into a storage at the newest version; its history of them."""
    await storage.open()
    try:
        store = storage.for_tenant("default")
        await store.ensure_battery("pack", "Pack", "daly")
        await store.write_readings(sample_readings(30))
        return [r.to_dict() for r in await store.history("pack", None, None, 100)]
    finally:
        await storage.close()


async def roll_up_as_the_recorder_did(path: Path, tmp_path: Path) -> None:
    """From version 4 on the recorder rolled readings up as it wrote them: give the file those
    rollups (the buckets a newest-version database builds for the same readings)."""
    rolled = tmp_path / "rolled.db"
    await written_fresh(SQLiteStorage(rolled))
    with sqlite3.connect(path) as db:
        db.execute("ATTACH DATABASE ? AS rolled", (str(rolled),))
        assert db.execute("INSERT INTO rollups SELECT * FROM rolled.rollups").rowcount > 0


async def fresh_history(tmp_path: Path) -> list[dict[str, object]]:
    """The same readings written through a database created at the newest version."""
    return await written_fresh(SQLiteStorage(tmp_path / "fresh.db"))


@pytest.mark.parametrize("version", [v for v, _, _ in migrations()[:-1]])
async def test_upgrade_from_every_earlier_version_keeps_the_data(tmp_path: Path, version: int) -> None:
    path = tmp_path / f"v{version}.db"
    old_database(path, version)
    if version >= 4:
        await roll_up_as_the_recorder_did(path, tmp_path)
    storage = SQLiteStorage(path)
    await storage.open()
    try:
        assert await storage.schema_version() == LATEST
        store = storage.for_tenant("default")
        assert [r.to_dict() for r in await store.history("pack", None, None, 100)] == await fresh_history(tmp_path)
        # Rollups exist whatever version the readings were written under (built at the upgrade).
        hours = [b async for chunk in store.iter_buckets("pack", "1h", None, None) for b in chunk]
        assert sum(b.n for b in hours) == 30
        entries, total = await store.audit(10)
        assert total == (1 if version >= 2 else 0)
        assert [e.actor for e in entries] == (["ann"] if version >= 2 else [])
        state = await store.load_state("pack", "energy")
        assert state == ({"version": 1, "charged_kwh": 12.5, "discharged_kwh": 3.0} if version >= 3 else None)
        # The newest schema's tables work on the upgraded file.
        alert = AlertRecord("a1", "r1", "threshold", "pack", "warning", "raised", T0)
        await store.save_alert(alert)
        assert await store.get_alert("a1") == alert
        await store.write_readings([Reading("pack", timestamp=T0 + timedelta(hours=2), voltage=53.0)])
        assert (await store.latest("pack")).voltage == 53.0  # type: ignore[union-attr]
    finally:
        await storage.close()


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    old_database(path, LATEST - 1)
    with sqlite3.connect(path) as db:  # a table or index the next migration creates already exists: it fails
        last_sql = migrations()[-1][2]
        first_name = re.search(r"CREATE (?:TABLE|INDEX) (\w+)", last_sql)
        assert first_name is not None, "the newest migration creates no table or index to collide with"
        db.execute(f"CREATE TABLE {first_name[1]} (x INTEGER)")
    storage = SQLiteStorage(path)
    with pytest.raises(sqlite3.Error):
        await storage.open()
    await storage.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == LATEST - 1
        assert db.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 30
