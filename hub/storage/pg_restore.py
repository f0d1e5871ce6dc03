"""Restore of a PostgreSQL backup (see ``pg_backup``): checked file, one transaction, counts compared."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.reading import utc_now
from hub.storage.pg_backup import connect, create_pg_backup, read_chunks, run_blocking
from hub.storage.pg_copy import drop_tables, holding_data, in_use, reset_identities, row_counts
from hub.storage.pg_dumpfile import ARCHIVE_ERRORS, SUFFIX, Manifest, open_members, verify_archive
from hub.storage.pg_partitions import Partitions, month_of
from hub.storage.pg_schema import current_schema, latest_version, lock_name, migrate, quote, schema_version
from hub.storage.pg_settings import PostgresSettings
from hub.storage.postgres import ERRORS, reason
from hub.storage.sqlite_backup import BackupError, Snapshot, describe


@dataclass(frozen=True, slots=True)
class PgRestorePlan:
    """What a restore is about to do, shown to the user before anything changes."""

    backup: Path
    target: str
    snapshot: Snapshot
    current_version: int | None  # None when the target holds no TrackingBMS schema
    latest_version: int
    set_aside: Path | None  # the backup of the target's current data, made before restoring
    holding: dict[str, int] = field(default_factory=dict)  # rows the target holds now

    @property
    def migrates(self) -> bool:
        """Whether the backup is older than this hub and is migrated forward."""
        return self.snapshot.schema_version < self.latest_version


def restore_pg_backup(
    settings: PostgresSettings, backup: Path, confirm: Callable[[PgRestorePlan], bool], aside_dir: Path
) -> PgRestorePlan | None:
    """Replace the database's contents with a checked backup; None when ``confirm`` declines.

    When the database holds data, it is first backed up into ``aside_dir``. Raises BackupError.
    Blocking (own event loop in a worker thread).
    """
    backup = Path(backup)
    if not backup.is_file():
        raise BackupError(f"backup not found: {backup}")
    label = f"backup {backup}"
    try:
        manifest = verify_archive(backup, label)
    except OSError as err:
        raise BackupError(f"cannot read {label}: {describe(err)}") from err
    if manifest.schema_version > latest_version():
        raise BackupError(
            f"{label} has schema version {manifest.schema_version}, newer than this hub's {latest_version()}: "
            "upgrade TrackingBMS first"
        )
    return run_blocking(_restore(settings, backup, manifest, confirm, aside_dir))


async def _restore(
    settings: PostgresSettings,
    backup: Path,
    manifest: Manifest,
    confirm: Callable[[PgRestorePlan], bool],
    aside_dir: Path,
) -> PgRestorePlan | None:
    conn = await connect(settings)
    key = lock_name(settings.schema, "migrate")
    try:
        # The migration lock: a hub starting meanwhile waits, then finds the restored schema.
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", key)
        plan = await _plan(conn, settings, backup, manifest, aside_dir)
        if not await asyncio.to_thread(confirm, plan):
            return None
        if plan.set_aside is not None:
            await asyncio.to_thread(create_pg_backup, settings, plan.set_aside, compress=True)
        async with conn.transaction():
            await _load(conn, settings, backup, manifest)
        return plan
    except ERRORS as err:
        raise BackupError(f"restoring {backup} into {settings.describe()} failed: {reason(err)}") from err
    except ARCHIVE_ERRORS as err:  # the file changed since it was checked
        raise BackupError(f"backup {backup} is not a valid backup: {err}") from err
    finally:
        await conn.close()  # also releases the advisory lock


async def _plan(
    conn: Any, settings: PostgresSettings, backup: Path, manifest: Manifest, aside_dir: Path
) -> PgRestorePlan:
    sessions = await in_use(conn, settings.application_name)
    if sessions:
        raise BackupError(
            f"{settings.describe()} is in use by {sessions} hub connection(s): stop the hub before restoring"
        )
    version = await schema_version(conn)
    schema = await current_schema(conn)
    holding = await holding_data(conn, schema) if version and schema else {}
    aside = _aside_name(Path(aside_dir), settings) if holding else None
    return PgRestorePlan(
        backup, settings.describe(), manifest.snapshot, version or None, latest_version(), aside, holding
    )


def _aside_name(directory: Path, settings: PostgresSettings) -> Path:
    """``<schema>.before-restore-<UTC time>.pgdump.gz``, numbered when that name is taken (a restore
    of a kept copy within the same second must not overwrite the very file it restores)."""
    base = f"{settings.schema or 'trackingbms'}.before-restore-{utc_now().strftime('%Y%m%dT%H%M%SZ')}"
    names = (f"{base}{f'-{n}' if n else ''}{SUFFIX}.gz" for n in range(1000))
    return next(path for name in names if not (path := directory / name).exists())


async def _load(conn: Any, settings: PostgresSettings, backup: Path, manifest: Manifest) -> None:
    """Inside the caller's transaction: the hub's tables recreated and filled from the backup."""
    if settings.schema is not None:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(settings.schema)}")
    schema = await current_schema(conn)
    if schema is None:
        raise BackupError(f"{settings.describe()}: no schema to restore into")
    await drop_tables(conn, schema)
    await migrate(conn, settings.schema, upto=manifest.schema_version)
    partitions = Partitions()
    partitions.schema = schema
    await partitions.create(conn, {month_of(lo) for lo, _ in manifest.partitions})
    await conn.execute("SET CONSTRAINTS ALL DEFERRED")  # tables load in any order; checked at commit
    await conn.execute(f"DELETE FROM {quote(schema)}.tenants")  # the default tenant comes with the data
    await _copy_tables(conn, schema, backup, manifest)
    await reset_identities(conn, schema)
    await migrate(conn, settings.schema)  # an older backup is brought to this hub's schema
    counts = await row_counts(conn, schema)
    for table in manifest.tables:
        if counts.get(table.name) != table.rows:
            raise BackupError(
                f"restored {counts.get(table.name)} rows into {table.name}, the backup holds {table.rows}"
            )


async def _copy_tables(conn: Any, schema: str, backup: Path, manifest: Manifest) -> None:
    for _, table, data in open_members(backup, f"backup {backup}"):
        if table is None or data is None:
            continue
        digest = hashlib.sha256()
        await conn.copy_to_table(
            table.name,
            source=read_chunks(data, digest),
            columns=[name for name, _ in table.columns],
            schema_name=schema,
            format="binary",
        )
        if digest.hexdigest() != table.sha256:  # the file changed since it was checked
            raise BackupError(f"backup {backup} changed while it was restored (table {table.name})")
