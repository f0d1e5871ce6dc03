"""Builds the configured storage backend (and its scheduled backups) from the ``storage`` section."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hub.storage.backup import BackupOutcome, BackupScheduler
from hub.storage.base import Storage
from hub.storage.pg_settings import PostgresSettings
from hub.storage.retention import Retention

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)


def backend_of(section: Mapping[str, Any]) -> str:
    """The backend a ``storage`` section selects (sqlite when it says nothing)."""
    return str(section.get("backend") or SQLITE)


def sqlite_path(section: Mapping[str, Any], data_dir: Path) -> Path:
    """The SQLite file: ``storage.path`` under the data directory."""
    return Path(data_dir) / str(section.get("path") or "trackingbms.db")


def build_storage(
    section: Mapping[str, Any], data_dir: Path, *, with_retention: bool = True, read_only: bool = False
) -> Storage:
    """The storage of a (validated) ``storage`` section, not opened yet.

    ``with_retention`` runs the background pruner once opened (the hub; not offline tools).
    """
    retention = Retention.from_config(section) if with_retention else None
    backend = backend_of(section)
    if backend == POSTGRESQL:
        from hub.storage.postgres import PostgreSQLStorage  # asyncpg is loaded only when used

        return PostgreSQLStorage(PostgresSettings.from_config(section), retention=retention, read_only=read_only)
    if backend == SQLITE:
        from hub.storage.sqlite import SQLiteStorage

        return SQLiteStorage(sqlite_path(section, data_dir), retention=retention, read_only=read_only)
    raise ValueError(f"unknown storage backend {backend!r} (expected one of {', '.join(BACKENDS)})")


def describe_storage(storage: Storage) -> str:
    """Where a storage's data is, for messages (a file, or a database without its password)."""
    describe = getattr(storage, "describe", None)
    if callable(describe):
        return str(describe())
    return str(getattr(storage, "path", type(storage).__name__))


def build_backup_scheduler(
    section: Mapping[str, Any], data_dir: Path, on_result: Callable[[BackupOutcome], None] | None
) -> BackupScheduler:
    """The scheduled backups of a ``storage`` section whose ``backups.enabled`` is set."""
    backups = dict(section["backups"])
    if backend_of(section) == POSTGRESQL:
        from hub.storage.pg_backup import ScheduledPostgresBackup

        maker = ScheduledPostgresBackup(PostgresSettings.from_config(section))
        return BackupScheduler.from_config(maker.database, data_dir, backups, on_result, maker=maker)
    return BackupScheduler.from_config(sqlite_path(section, data_dir), data_dir, backups, on_result)
