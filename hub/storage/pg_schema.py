"""PostgreSQL schema management: numbered migrations under an advisory lock, and lock keys."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

_LOGGER = logging.getLogger(__name__)
_MIGRATIONS_PACKAGE = "hub.storage.migrations.postgres"
_CREATE_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)"
)


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, in order (numbered as the SQLite ones)."""
    found = []
    for entry in resources.files(_MIGRATIONS_PACKAGE).iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name[:-4], entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version() -> int:
    """The newest migration this hub knows."""
    return max((version for version, _, _ in migrations()), default=0)


def quote(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def lock_name(schema: str | None, what: str) -> str:
    """The text an advisory lock key is hashed from: per schema, so hubs and tests sharing one
    database in different schemas never wait for each other."""
    return f"trackingbms:{schema or ''}:{what}"


async def current_schema(conn: Any) -> str | None:
    """The schema new tables go to (None while the configured one does not exist yet)."""
    value = await conn.fetchval("SELECT current_schema()")
    return None if value is None else str(value)


async def schema_version(conn: Any) -> int:
    """The newest applied migration (0 when the migration table is missing)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))


async def migrate(conn: Any, schema: str | None, upto: int | None = None) -> list[int]:
    """Create the schema if needed and apply every newer migration (up to ``upto``), each in one
    transaction. A session advisory lock makes a second hub starting at the same time wait, then
    find the migrations applied. Returns the versions applied."""
    key = lock_name(schema, "migrate")
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", key)
    try:
        if schema is not None:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        await conn.execute(_CREATE_MIGRATIONS)
        return await _apply(conn, upto)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)


async def _apply(conn: Any, upto: int | None) -> list[int]:
    applied = []
    current = await schema_version(conn)
    for version, name, sql in migrations():
        if version <= current or (upto is not None and version > upto):
            continue
        # One transaction per migration: a failed migration leaves the previous version intact.
        async with conn.transaction():
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2, now())", version, name)
        _LOGGER.info("PostgreSQL schema migrated to %s", name)
        applied.append(version)
    return applied


async def lock_batteries(conn: Any, schema: str | None, battery_pks: list[int]) -> None:
    """Take the write locks of batteries for the current transaction, in pk order (no deadlock).

    A battery's readings and rollups change under its lock only: the energy baseline (its newest
    reading) and a rebuilt window cannot change underneath, even with several hubs on one database.
    """
    key = lock_name(schema, "battery")
    for pk in sorted(set(battery_pks)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1), $2)", key, pk)
