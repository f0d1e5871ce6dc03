"""``trackingbms backup`` / ``restore`` when the configured backend is PostgreSQL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from hub.reading import utc_now
from hub.storage.pg_backup import ScheduledPostgresBackup, create_pg_backup
from hub.storage.pg_dumpfile import SUFFIX
from hub.storage.pg_restore import PgRestorePlan, restore_pg_backup
from hub.storage.pg_settings import PostgresSettings
from hub.storage.sqlite_backup import BackupError

if TYPE_CHECKING:
    from hub.storage.backup import Locations


def cmd_backup_postgresql(args: argparse.Namespace, where: Locations) -> int:
    """Back the configured PostgreSQL database up; exit 0 or 1 (backup failed)."""
    from hub.storage.backup import backup_name  # hub.storage.backup imports this module lazily

    settings = PostgresSettings.from_config(where.storage)
    compress = bool(where.backups["compress"])
    name = ScheduledPostgresBackup(settings).database
    output = args.output or where.backup_dir / backup_name(name, utc_now(), compress, manual=True, suffix=SUFFIX)
    with tqdm(desc="backup", unit=" rows", file=sys.stderr, disable=None, leave=False) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            info = create_pg_backup(settings, output, compress=None if args.output else compress, progress=progress)
        except BackupError as err:
            print(f"backup failed: {err}", file=sys.stderr)
            return 1
    rows = sum(info.snapshot.tables.values())
    print(
        f"{info.path}: {rows} rows in {len(info.snapshot.tables)} tables, schema {info.snapshot.schema_version}, "
        f"{info.size} bytes"
    )
    return 0


def cmd_restore_postgresql(args: argparse.Namespace, where: Locations) -> int:
    """Restore a PostgreSQL backup into the configured database; exit 0 or 1 (refused, declined, failed)."""
    settings = PostgresSettings.from_config(where.storage)
    try:
        plan = restore_pg_backup(
            settings, Path(args.file), (lambda _plan: True) if args.yes else _ask, where.backup_dir
        )
    except BackupError as err:
        print(f"restore failed: {err}", file=sys.stderr)
        return 1
    if plan is None:
        print("restore cancelled: nothing was changed", file=sys.stderr)
        return 1
    migrated = (
        f", migrated from schema {plan.snapshot.schema_version} to {plan.latest_version}" if plan.migrates else ""
    )
    print(f"restored {plan.backup} into {plan.target}{migrated}")
    if plan.set_aside is not None:
        print(f"the previous contents are kept in the backup {plan.set_aside}")
    return 0


def _ask(plan: PgRestorePlan) -> bool:
    """Describe the restore on stderr and read y/N from stdin (end of input means no)."""
    current = "no TrackingBMS schema" if plan.current_version is None else f"schema {plan.current_version}"
    held = sum(plan.holding.values())
    readings = plan.snapshot.raw_tier()
    print(
        f"Replace the contents of {plan.target} ({current}, {held} rows) with {plan.backup} "
        f"(schema {plan.snapshot.schema_version}, {readings})?",
        file=sys.stderr,
    )
    if plan.set_aside is not None:
        print(f"The current contents will first be backed up to {plan.set_aside}.", file=sys.stderr)
    print("Restore? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():
        print(answer.strip(), file=sys.stderr)  # show the answer that came from a pipe
    return answer.strip().lower() in ("y", "yes")
