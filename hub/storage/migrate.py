"""``trackingbms migrate-data``: copy every table of a SQLite database into an empty PostgreSQL one.

The source is read in one read transaction (a consistent snapshot even while a hub writes to it),
table by table in primary-key order, ``--batch`` rows at a time, and loaded with binary COPY. The
whole copy is ONE PostgreSQL transaction: an interrupted or failed run leaves the target as empty as
it found it, so it can simply be run again; a target already holding data is refused. Row counts of
every table are compared before the commit.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import voluptuous as vol
from tqdm import tqdm

from hub.storage.base import StorageError
from hub.storage.pg_copy import TABLES, holding_data, reset_identities, row_counts, table_columns
from hub.storage.pg_partitions import Partitions
from hub.storage.pg_settings import PostgresSettings, schema_name
from hub.storage.postgres import ERRORS, PostgreSQLStorage, reason
from hub.storage.sqlite import migrations as sqlite_migrations

DEFAULT_BATCH = 5000


class MigrationError(Exception):
    """The copy cannot run or failed; nothing was committed. One line for the user."""


def _time(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite keeps UTC times


# SQLite value -> PostgreSQL column value, by the PostgreSQL column type.
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "timestamp with time zone": _time,
    "boolean": bool,
    "double precision": float,
    "integer": int,
    "bigint": int,
    "smallint": int,
    "bytea": lambda v: v.encode() if isinstance(v, str) else bytes(v),
    "text": str,
}


def _converters(table: str, columns: list[tuple[str, str]]) -> list[Callable[[Any], Any]]:
    unknown = [f"{name} {kind}" for name, kind in columns if kind not in _CONVERT]
    if unknown:
        raise MigrationError(f"{table}: no conversion for the column types {unknown}")
    return [_CONVERT[kind] for _, kind in columns]


class SQLiteSource:
    """The SQLite database read in one snapshot, table by table, in primary-key order."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def check_version(self, path: Path) -> None:
        """MigrationError unless the file is a TrackingBMS database at this hub's schema version."""
        async with self.db.execute("SELECT name FROM sqlite_master WHERE name = 'schema_migrations'") as cur:
            if await cur.fetchone() is None:
                raise MigrationError(f"{path} is not a TrackingBMS database (no schema_migrations table)")
        async with self.db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        version, latest = int(row[0]) if row else 0, sqlite_migrations()[-1][0]
        if version != latest:
            raise MigrationError(
                f"{path} is at schema {version}, this hub's is {latest}: "
                + (
                    "start this hub on it once to upgrade it, then migrate"
                    if version < latest
                    else "upgrade TrackingBMS"
                )
            )

    async def counts(self) -> dict[str, int]:
        """Rows per table of TABLES."""
        found = {}
        for table in TABLES:
            async with self.db.execute(f'SELECT COUNT(*) FROM "{table}"') as cur:
                row = await cur.fetchone()
            found[table] = int(row[0]) if row else 0
        return found

    async def key(self, table: str) -> list[str]:
        """The primary key columns of a table, in key order."""
        async with self.db.execute(f'PRAGMA table_info("{table}")') as cur:
            info = await cur.fetchall()
        key = [str(row[1]) for row in sorted(info, key=lambda r: int(r[5])) if int(row[5]) > 0]
        if not key:
            raise MigrationError(f"{table} has no primary key to read it in order")
        return key

    async def batches(self, table: str, columns: list[str], size: int) -> Any:
        """Rows of ``columns``, ``size`` at a time (keyset paging: no cursor stays open)."""
        key = await self.key(table)
        selected = ", ".join(f'"{c}"' for c in [*columns, *key])
        order = ", ".join(f'"{c}"' for c in key)
        after: tuple[Any, ...] | None = None
        while True:
            where = f"WHERE ({order}) > ({', '.join('?' * len(key))})" if after is not None else ""
            sql = f'SELECT {selected} FROM "{table}" {where} ORDER BY {order} LIMIT ?'
            async with self.db.execute(sql, (*(after or ()), size)) as cur:
                rows = [tuple(row) for row in await cur.fetchall()]
            if rows:
                yield [row[: len(columns)] for row in rows]
                after = rows[-1][len(columns) :]
            if len(rows) < size:
                return


async def migrate_data(
    source: Path, settings: PostgresSettings, *, batch: int = DEFAULT_BATCH, progress: bool = False
) -> dict[str, int]:
    """Copy ``source`` into the (empty) PostgreSQL database; rows copied per table. Raises MigrationError."""
    path = await asyncio.to_thread(Path(source).resolve)
    if not await asyncio.to_thread(path.is_file):
        raise MigrationError(f"no SQLite database at {source}")
    try:
        async with aiosqlite.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None) as db:
            await db.execute("BEGIN")  # one snapshot for every table
            reader = SQLiteSource(db)
            await reader.check_version(source)
            return await _into(reader, settings, batch, progress)
    except sqlite3.Error as err:
        raise MigrationError(f"reading {source} failed: {err}") from err


async def _into(reader: SQLiteSource, settings: PostgresSettings, batch: int, progress: bool) -> dict[str, int]:
    target = PostgreSQLStorage(settings)
    try:
        await target.open()  # creates the schema and migrates it
        return await _copy(reader, target, batch, progress)
    except StorageError as err:
        raise MigrationError(str(err)) from err
    except ERRORS as err:
        raise MigrationError(f"copying into {settings.describe()} failed: {reason(err)}") from err
    finally:
        await target.close()


async def _copy(reader: SQLiteSource, target: PostgreSQLStorage, batch: int, progress: bool) -> dict[str, int]:
    expected = await reader.counts()
    schema = target.schema
    with tqdm(total=sum(expected.values()), unit=" rows", file=sys.stderr, disable=None if progress else True) as bar:
        async with target.connection("migrate-data") as conn, conn.transaction():
            held = await holding_data(conn, schema)
            if held:
                listed = ", ".join(f"{t} {n}" for t, n in held.items())
                raise MigrationError(
                    f"{target.describe()} already holds data ({listed}): migrate into an empty database "
                    "or another --schema"
                )
            await conn.execute("SET CONSTRAINTS ALL DEFERRED")  # tables load in any order; checked at commit
            await conn.execute(f'DELETE FROM "{schema}".tenants')  # the default tenant comes with the data
            for table in TABLES:
                bar.set_description(table)
                await _copy_table(reader, conn, target.partitions, schema, table, batch, bar)
            await reset_identities(conn, schema)
            copied = await row_counts(conn, schema)
            wrong = {t: (copied.get(t), n) for t, n in expected.items() if copied.get(t) != n}
            if wrong:
                raise MigrationError(f"row counts differ (PostgreSQL, SQLite): {wrong}; nothing was committed")
    return copied


async def _copy_table(
    reader: SQLiteSource, conn: Any, partitions: Partitions, schema: str, table: str, batch: int, bar: tqdm[Any]
) -> None:
    columns = await table_columns(conn, schema, table)
    convert = _converters(table, columns)
    names = [name for name, _ in columns]
    ts = names.index("ts") if table == "readings" else None
    async for rows in reader.batches(table, names, batch):
        try:
            records: list[tuple[Any, ...]] = [
                tuple(None if v is None else f(v) for f, v in zip(convert, row, strict=True)) for row in rows
            ]
        except (ValueError, TypeError) as err:
            raise MigrationError(f"{table}: a value cannot be converted for PostgreSQL: {err}") from err
        if ts is not None:  # readings go into monthly partitions: create the months this batch needs
            await partitions.create(conn, partitions.missing(record[ts] for record in records))
        try:
            await conn.copy_records_to_table(table, records=records, columns=names, schema_name=schema)
        except ERRORS as err:
            raise MigrationError(f"copying {table} failed: {reason(err)}") from err
        bar.update(len(records))


def _schema_argument(value: str) -> str:
    try:
        checked = schema_name(value)
    except vol.Invalid as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    assert checked is not None
    return checked


def add_migrate_command(subparsers: Any) -> None:
    """Register ``migrate-data`` on the ``trackingbms`` sub-command parser."""
    parser = subparsers.add_parser(
        "migrate-data", help="copy a SQLite database into an empty PostgreSQL database (or schema)"
    )
    parser.add_argument("--from", dest="source", type=Path, required=True, metavar="FILE", help="SQLite database")
    parser.add_argument("--to", dest="dsn", required=True, metavar="DSN", help="postgresql://user:pw@host:port/db")
    parser.add_argument("--schema", type=_schema_argument, help="PostgreSQL schema (default: the search_path's)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help=f"rows per batch (default {DEFAULT_BATCH})")
    parser.set_defaults(func=cmd_migrate_data)


def cmd_migrate_data(args: argparse.Namespace) -> int:
    """Exit 0 when copied and verified, 1 when refused or failed (nothing committed)."""
    settings = PostgresSettings(dsn=args.dsn, schema=args.schema)
    try:
        copied = asyncio.run(migrate_data(args.source, settings, batch=max(1, args.batch), progress=True))
    except MigrationError as err:
        print(f"migrate-data failed: {err}", file=sys.stderr)
        return 1
    print(f"copied {sum(copied.values())} rows in {len(copied)} tables into {settings.describe()}; row counts verified")
    return 0
