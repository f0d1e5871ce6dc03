"""Upgrading a PostgreSQL schema of every earlier version, with data in it, to the newest."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.reading import Reading
from hub.storage.packing import COLUMNS, to_millis, to_row
from hub.storage.pg_backup import connect
from hub.storage.pg_partitions import Partitions, month_of
from hub.storage.pg_schema import migrate, migrations
from hub.storage.records import AlertRecord
from tests.hub.storage.backends import Location, drop_schema, in_thread, require_postgresql
from tests.hub.storage.test_migrations import T0, fresh_history, sample_readings, written_fresh

LATEST = migrations()[-1][0]
_INSERT = f"INSERT INTO readings (battery_pk, {', '.join(COLUMNS)}) VALUES ({', '.join(f'${i}' for i in range(1, 16))})"


@pytest.fixture
def rolled_location(tmp_path: Path) -> Iterator[Location]:
    """A second schema, at the newest version, whose rollups stand in for the recorder's."""
    require_postgresql()
    place = Location("postgresql", tmp_path / "unused.db", f"t_{uuid.uuid4().hex}")
    yield place
    in_thread(drop_schema(place.schema))


async def old_schema(location: Location, version: int, rolled: Location) -> None:
    """A schema exactly as ``version`` left it, holding the data that version could hold."""
    conn = await connect(location.settings)
    try:
        await migrate(conn, location.schema, upto=version)
        partitions = Partitions()
        partitions.schema = location.schema
        async with conn.transaction():
            await partitions.create(conn, [month_of(to_millis(T0))])
        await conn.execute(
            "INSERT INTO batteries (pk, tenant_id, id, name, driver, created_at) "
            "VALUES (1, 'default', 'pack', 'Pack', 'daly', now())"
        )
        await conn.executemany(_INSERT, [(1, *to_row(r)) for r in sample_readings(30)])
        if version >= 2:
            await conn.execute(
                "INSERT INTO audit_log (tenant_id, ts, actor, action, target, request, result, details) "
                "VALUES ('default', $1, 'ann', 'bms.soc', 'pack', '{}', 'ok', '{}')",
                T0,
            )
        if version >= 3:
            state = json.dumps({"version": 1, "charged_kwh": 12.5, "discharged_kwh": 3.0})
            await conn.execute("INSERT INTO battery_state VALUES ('default', 'pack', 'energy', $1, now())", state)
        if version >= 4:
            await written_fresh(rolled.make())  # the buckets the recorder of version 4 on wrote
            await conn.execute(f'INSERT INTO rollups SELECT * FROM "{rolled.schema}".rollups')
    finally:
        await conn.close()


@pytest.mark.parametrize("version", [v for v, _, _ in migrations()[:-1]])
async def test_upgrade_from_every_earlier_version_keeps_the_data(
    pg_location: Location, rolled_location: Location, tmp_path: Path, version: int
) -> None:
    await old_schema(pg_location, version, rolled_location)
    expected = await fresh_history(tmp_path)
    storage = pg_location.make()
    await storage.open()
    try:
        assert await storage.schema_version() == LATEST
        store = storage.for_tenant("default")
        assert [r.to_dict() for r in await store.history("pack", None, None, 100)] == expected
        hours = [b async for chunk in store.iter_buckets("pack", "1h", None, None) for b in chunk]
        assert sum(b.n for b in hours) == 30  # built at the upgrade, or kept as the recorder wrote them
        entries, total = await store.audit(10)
        assert (total, [e.actor for e in entries]) == ((1, ["ann"]) if version >= 2 else (0, []))
        state = await store.load_state("pack", "energy")
        assert state == ({"version": 1, "charged_kwh": 12.5, "discharged_kwh": 3.0} if version >= 3 else None)
        alert = AlertRecord("a1", "r1", "threshold", "pack", "warning", "raised", T0)
        await store.save_alert(alert)  # the newest schema's tables work on the upgraded schema
        assert await store.get_alert("a1") == alert
        assert await storage.compact(T0.replace(hour=23)) == 30  # and its raw tier compacts them
        assert [r.to_dict() for r in await store.history("pack", None, None, 100)] == expected
        await store.write_readings([Reading("pack", timestamp=T0.replace(hour=12), voltage=53.0)])
        assert (await store.latest("pack")).voltage == 53.0  # type: ignore[union-attr]
    finally:
        await storage.close()
