"""Both storage backends for tests: where a test database lives, SQL on either backend, PostgreSQL probing.

PostgreSQL is the server at 127.0.0.1:5432 (``TRACKINGBMS_TEST_PG_DSN`` overrides it). Each test gets
a schema of its own, named with a uuid and dropped at the end, so parallel runs never collide. When
the server is unreachable the PostgreSQL tests skip, except with CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from hub.reading import Alarm, AlarmLevel, Reading, Temperature
from hub.storage import DEFAULT_TENANT
from hub.storage.base import AuditEntry, Storage, TenantStore
from hub.storage.factory import build_storage
from hub.storage.history import HistoryQuery, run_history
from hub.storage.pg_schema import migrations as pg_migrations
from hub.storage.pg_settings import PostgresSettings
from hub.storage.records import AlertRecord
from hub.storage.rollups import BY_NAME
from hub.storage.sqlite import SQLiteStorage
from hub.storage.sqlite import migrations as sqlite_migrations
from tests.helpers import IN_CI

PG_DSN = os.environ.get("TRACKINGBMS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def in_thread(coroutine: Any) -> Any:
    """Run a coroutine to completion on a loop of its own (callable with or without a running loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@functools.cache
def postgresql_down() -> str | None:
    """Why the test server cannot be used, or None when it can (asked once per run)."""

    async def probe() -> None:
        conn = await asyncpg.connect(PG_DSN, timeout=5)
        await conn.close()

    try:
        in_thread(probe())
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        return f"PostgreSQL at {PG_DSN} is unreachable: {err}"
    return None


def require_postgresql() -> None:
    """Skip the test when PostgreSQL is down; fail it instead under CI."""
    down = postgresql_down()
    if down is not None:
        if IN_CI:
            pytest.fail(f"{down} (CI=true: PostgreSQL tests must run; start it with `make services`)")
        pytest.skip(down)


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_DSN, timeout=10)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@dataclass
class Location:
    """Where one test's database is: a SQLite file or a PostgreSQL schema."""

    backend: str
    path: Path
    schema: str

    @property
    def section(self) -> dict[str, Any]:
        """The ``storage`` config section selecting this database."""
        if self.backend == "sqlite":
            return {"backend": "sqlite", "path": str(self.path)}
        return {"backend": "postgresql", "dsn": PG_DSN, "schema": self.schema, "pool_max_size": 4}

    @property
    def settings(self) -> PostgresSettings:
        return PostgresSettings.from_config(self.section)

    def make(self, **options: Any) -> Storage:
        """A storage on this database, not opened yet (``read_only``, ``with_retention``)."""
        options.setdefault("with_retention", False)
        return build_storage(self.section, self.path.parent, **options)


async def sql(storage: Storage, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run SQL written with ``?`` placeholders on either backend in a transaction; rows as tuples.

    Datetimes go to SQLite as ISO text and to PostgreSQL as timestamptz.
    """
    if isinstance(storage, SQLiteStorage):
        values = [a.isoformat() if isinstance(a, datetime) else a for a in args]
        async with storage.transaction("test") as db, db.execute(query, values) as cur:
            return [tuple(row) for row in await cur.fetchall()]
    numbers = itertools.count(1)
    query = re.sub(r"\?", lambda _: f"${next(numbers)}", query)
    async with storage.transaction("test") as conn:  # type: ignore[attr-defined]
        return [tuple(row) for row in await conn.fetch(query, *args)]


async def add_tenant(storage: Storage, tenant_id: str) -> None:
    """Create a tenant (the API for it is not part of the storage interface)."""
    await sql(storage, "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)", tenant_id, tenant_id, T_TENANT)


T_TENANT = datetime.fromisoformat("2026-01-01T00:00:00+00:00")


def migrations_of(storage: Storage) -> list[tuple[int, str, str]]:
    """(version, name, sql) of the backend's migration files."""
    if isinstance(storage, SQLiteStorage):
        return sqlite_migrations()
    return pg_migrations()


async def table_names(storage: Storage) -> set[str]:
    """The tables of the database (PostgreSQL: of the storage's schema, partitions left out)."""
    if isinstance(storage, SQLiteStorage):
        rows = await sql(storage, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await sql(
            storage,
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = to_regnamespace(?) "
            "AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
            storage.schema,  # type: ignore[attr-defined]
        )
    return {str(row[0]) for row in rows}


# --- a database holding a bit of everything, and what the storage interface shows of it -------------

T_DATA = datetime(2025, 1, 31, 23, 0, tzinfo=UTC)  # readings run into February: two months, two partitions


def _reading(battery: str, second: int, voltage: float) -> Reading:
    return Reading(
        battery,
        timestamp=T_DATA + timedelta(seconds=second, milliseconds=second % 7),
        voltage=voltage,
        current=-12.5 if second % 300 < 150 else 8.0,
        soc=50.0 + (second % 100) / 10,
        cells=tuple(3.3 + i / 1000 for i in range(4)),
        temperatures=(Temperature(21.5), Temperature(25.0, sensor=3)),
        charge_mos=True,
        balancing=(False, True, False, False),
        alarms=(Alarm("cell_high", "Cell high", AlarmLevel.WARNING),) if second == 600 else (),
    )


async def populate(storage: Storage) -> None:
    """Batteries of two tenants, readings across a month end (with a late batch into a compacted
    hour), state, audit, alerts with events, rules, the outbox and a client tree."""
    if "other" not in {row[0] for row in await sql(storage, "SELECT id FROM tenants")}:
        await add_tenant(storage, "other")
    mine, theirs = storage.for_tenant(DEFAULT_TENANT), storage.for_tenant("other")
    for store in (mine, theirs):
        await store.ensure_battery("garage", "Garage", "daly")
    await mine.ensure_battery("shed", "Shed", "jbd")
    await mine.write_readings([_reading("garage", s, 52.0 + s / 1000) for s in range(0, 7200, 30)])
    await storage.compact(T_DATA + timedelta(hours=1))  # copies and backups carry both raw tables
    await mine.write_readings([_reading("garage", s, 49.0) for s in range(15, 3600, 600)])  # late: rebuilds
    await mine.write_readings([_reading("shed", s, 13.1) for s in range(0, 900, 10)])
    await theirs.write_readings([_reading("garage", s, 24.0) for s in range(0, 600, 60)])
    await mine.save_state("garage", "energy", {"charged_wh": 12.5})
    await mine.add_audit(AuditEntry("ann", "soc", "garage", "ok", {"soc": 80}, {"took_ms": 12}, "10.0.0.1", T_DATA))
    await theirs.add_audit(AuditEntry("bob", "restart", "garage", "failed", timestamp=T_DATA))
    await _records(storage, mine)


async def _records(storage: Storage, store: TenantStore) -> None:
    raised = AlertRecord(
        "a1", "cell_high", "threshold", "garage", "warning", "raised", T_DATA, "cell_max", 3.66, 3.65, {"en": "Hi"}
    )
    await store.save_alert(raised)
    await store.add_alert_event("a1", "raised", {"value": 3.66})
    await store.save_alert(raised.replace(state="cleared", cleared_at=T_DATA + timedelta(minutes=5)))
    await store.save_alert(raised.replace(id="a2", raised_at=T_DATA + timedelta(minutes=6, microseconds=250)))
    await store.save_rule("r1", {"metric": "soc", "below": 20})
    first = await store.outbox_add("webhook", "d1", {"n": 1})
    await store.outbox_add("webhook", "d2", {"n": 2})
    await store.outbox_retry(first, T_DATA + timedelta(hours=1), "connection refused")
    for cid, parent in (("acme", None), ("farm", "acme")):
        await sql(
            storage,
            "INSERT INTO clients (tenant_id, id, parent_id, name, created_at) VALUES ('default', ?, ?, ?, ?)",
            cid, parent, cid.title(), T_DATA,
        )  # fmt: skip
    await sql(
        storage,
        "INSERT INTO sites (tenant_id, id, client_id, name, created_at) VALUES ('default', 'barn', 'farm', 'Barn', ?)",
        T_DATA,
    )
    await sql(storage, "UPDATE batteries SET site_id = 'barn' WHERE tenant_id = 'default' AND id = 'garage'")
    await sql(
        storage,
        "INSERT INTO users (id, tenant_id, username, system_admin, disabled, created_at, updated_at) "
        "VALUES ('u1', 'default', 'ann', ?, ?, ?, ?)",
        True, False, T_DATA, T_DATA,
    )  # fmt: skip


async def observe(storage: Storage) -> dict[str, Any]:
    """Everything the storage interface answers about the populated data, for comparisons."""
    seen: dict[str, Any] = {}
    for tenant in (DEFAULT_TENANT, "other"):
        store = storage.for_tenant(tenant)
        seen[f"{tenant}/batteries"] = await store.batteries()
        for battery in await store.batteries():
            seen[f"{tenant}/{battery.id}"] = await _observe_battery(store, battery.id)
        seen[f"{tenant}/audit"] = await store.audit(100)
        seen[f"{tenant}/alerts"] = alerts = await store.alerts()
        seen[f"{tenant}/events"] = [await store.alert_events(a.id) for a in alerts[0]]
        seen[f"{tenant}/rules"] = await store.rules()
        seen[f"{tenant}/outbox"] = await store.outbox_pending("webhook")
        seen[f"{tenant}/state"] = await store.load_state("garage", "energy")
    users = await sql(storage, "SELECT id, username, system_admin, disabled, created_at FROM users ORDER BY id")
    seen["users"] = [(u[0], u[1], bool(u[2]), bool(u[3]), _time(u[4])) for u in users]
    return seen


async def _observe_battery(store: TenantStore, battery: str) -> dict[str, Any]:
    seen: dict[str, Any] = {
        "history": await store.history(battery, None, None, 100_000),
        "data_start": await store.data_start(battery),
        "scope": await store.battery_scope(battery),
        "api": (await run_history(store, HistoryQuery(battery, points=50), T_DATA + timedelta(days=2))).data,
    }
    for name in ("raw", *BY_NAME):
        seen[f"count/{name}"] = await store.count_rows(battery, name, None, None)
    for name in BY_NAME:
        seen[f"buckets/{name}"] = [b async for chunk in store.iter_buckets(battery, name, None, None) for b in chunk]
    return seen


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
