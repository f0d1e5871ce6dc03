"""Backups of the database: the ``backup`` and ``restore`` commands, scheduled backups, their config.

The copying, checking and swapping live in ``hub.storage.sqlite_backup``. ``hub.config`` is imported
inside the command functions only: ``hub.config.schema`` imports ``BACKUP_SCHEMA`` from here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

import voluptuous as vol

from hub.reading import utc_now
from hub.storage.sqlite_backup import (
    BackupCancelledError,
    BackupError,
    BackupInfo,
    RestorePlan,
    create_backup,
    restore_backup,
)

_LOGGER = logging.getLogger(__name__)
DEFAULT_CONFIG = Path("config/trackingbms.yaml")  # as hub.core.DEFAULT_CONFIG (core imports this module)
_STAMP = "%Y%m%dT%H%M%SZ"

# The ``storage.backups`` section.
BACKUP_SCHEMA: dict[Any, Any] = {
    vol.Optional("enabled", default=False): vol.Boolean(),
    vol.Optional("interval_hours", default=24.0): vol.All(vol.Coerce(float), vol.Range(min=0.1, max=8760)),
    vol.Optional("keep", default=7): vol.All(vol.Coerce(int), vol.Range(min=1, max=1000)),
    vol.Optional("directory", default="backups"): vol.All(str, vol.Length(min=1)),
    vol.Optional("compress", default=True): vol.Boolean(),
}


def backup_name(database: Path, when: datetime, compress: bool, manual: bool = False, suffix: str = ".db") -> str:
    """``trackingbms-20240701T060000Z.db.gz``; manual backups say so and are never pruned.

    ``suffix`` tells the backend's format (``.pgdump`` for PostgreSQL).
    """
    kind = "-manual" if manual else ""
    return f"{database.stem}{kind}-{when.astimezone(UTC).strftime(_STAMP)}{suffix}{'.gz' if compress else ''}"


def scheduled_backups(directory: Path, database: Path, suffix: str = ".db") -> list[tuple[datetime, Path]]:
    """The scheduled backups of ``database`` in ``directory``, newest first (other files are ignored)."""
    pattern = re.compile(rf"{re.escape(database.stem)}-(\d{{8}}T\d{{6}}Z){re.escape(suffix)}(\.gz)?")
    found = []
    with contextlib.suppress(FileNotFoundError):
        for path in directory.iterdir():
            match = pattern.fullmatch(path.name)
            if match and path.is_file():
                found.append((datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC), path))
    return sorted(found, reverse=True)


def prune(directory: Path, database: Path, keep: int, suffix: str = ".db") -> list[Path]:
    """Delete all but the newest ``keep`` scheduled backups; returns what was deleted."""
    removed = [path for _, path in scheduled_backups(directory, database, suffix)[keep:]]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


class Maker(Protocol):
    """Makes one backup of another backend into ``output``; raises BackupError (BackupCancelledError
    once ``abort`` is set). ``suffix`` names its files."""

    suffix: str

    def __call__(self, output: Path, compress: bool, abort: threading.Event) -> BackupInfo: ...


@dataclass(frozen=True, slots=True)
class BackupOutcome:
    """The result of one scheduled backup, as handed to the scheduler's callback."""

    ok: bool
    message: str
    path: Path | None = None
    at: datetime = field(default_factory=utc_now)


class BackupScheduler:
    """Backs the database up every ``interval`` seconds into ``directory``, keeping the newest ``keep``.

    The first backup is due one interval after the newest one already there (at once when there is
    none), but never sooner than ``first_delay`` after start. Copies run in a worker thread, with
    ``maker`` (output, compress, abort) when given (PostgreSQL), else the SQLite file copy.
    """

    def __init__(
        self,
        database: Path,
        directory: Path,
        *,
        interval: float,
        keep: int,
        compress: bool = True,
        on_result: Callable[[BackupOutcome], None] | None = None,
        first_delay: float = 60.0,
        clock: Callable[[], datetime] = utc_now,
        maker: Maker | None = None,
    ) -> None:
        self.database, self.directory = Path(database), Path(directory)
        self.maker = maker
        self.suffix = maker.suffix if maker is not None else ".db"
        self.interval, self.keep, self.compress = interval, keep, compress
        self.first_delay = first_delay
        self._on_result, self._clock = on_result, clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._abort = threading.Event()

    @classmethod
    def from_config(
        cls,
        database: Path,
        data_dir: Path,
        section: dict[str, Any],
        on_result: Callable[[BackupOutcome], None] | None,
        maker: Maker | None = None,
    ) -> BackupScheduler:
        """A scheduler for a validated ``storage.backups`` section; ``directory`` is under ``data_dir``."""
        return cls(
            database,
            Path(data_dir) / Path(section["directory"]).expanduser(),
            interval=float(section["interval_hours"]) * 3600,
            keep=int(section["keep"]),
            compress=bool(section["compress"]),
            on_result=on_result,
            maker=maker,
        )

    @property
    def running(self) -> bool:
        """Whether the schedule is active."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the schedule on the running loop (a no-op when it runs already)."""
        if not self.running:
            self._stopping.clear()
            self._abort.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="storage.backups")

    async def stop(self) -> None:
        """Stop the schedule; a backup in progress is abandoned and leaves no file."""
        self._stopping.set()
        self._abort.set()
        if self._task is not None:
            await self._task
            self._task = None

    def next_delay(self) -> float:
        """Seconds until the next backup is due."""
        existing = scheduled_backups(self.directory, self.database, self.suffix)
        due = (existing[0][0] - self._clock()).total_seconds() + self.interval if existing else 0.0
        return max(self.first_delay, due)

    async def run_once(self) -> BackupOutcome | None:
        """Make one backup now and prune; None when it was abandoned because the scheduler stops."""
        output = self.directory / backup_name(self.database, self._clock(), self.compress, suffix=self.suffix)
        try:
            info = await asyncio.to_thread(self._backup, output)
        except BackupCancelledError:
            _LOGGER.info("Backup to %s abandoned: the hub is stopping", output)
            return None
        except BackupError as err:
            outcome = BackupOutcome(False, str(err))
        except OSError as err:  # pruning failed: the backup is there, but old ones pile up
            outcome = BackupOutcome(False, f"cannot prune old backups in {self.directory}: {err.strerror}", output)
        else:
            outcome = BackupOutcome(True, f"backup {info.path.name} ({info.size} bytes)", info.path)
        self._report(outcome)
        return outcome

    def _backup(self, output: Path) -> BackupInfo:
        if self.maker is not None:
            info = self.maker(output, self.compress, self._abort)
        else:
            info = create_backup(self.database, output, compress=self.compress, abort=self._abort)
        prune(self.directory, self.database, self.keep, self.suffix)
        return info

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.next_delay())
            if not self._stopping.is_set():
                await self.run_once()
                self.first_delay = 0.0  # only the first backup waits for the hub to settle

    def _report(self, outcome: BackupOutcome) -> None:
        if outcome.ok:
            _LOGGER.info("Scheduled %s", outcome.message)
        else:
            _LOGGER.warning("Scheduled backup failed: %s", outcome.message)
        if self._on_result is not None:
            try:
                self._on_result(outcome)
            except Exception:
                _LOGGER.exception("Backup result callback failed")


class ProgressBar:
    """A one-line text bar redrawn in place, for copies that take a while."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self._shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent == self._shown:
            return
        self._shown = percent
        filled = self.width * percent // 100
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {percent:3d}% {done}/{total} pages")
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line (if one was drawn)."""
        if self._shown >= 0:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = -1


@dataclass(frozen=True, slots=True)
class Locations:
    """Where the database and its backups are, from the config and ``--data-dir``."""

    database: Path
    data_dir: Path
    backups: dict[str, Any]
    storage: dict[str, Any] = field(default_factory=dict)  # the whole validated section (backend...)

    @property
    def backup_dir(self) -> Path:
        """The directory of scheduled (and, by default, manual) backups."""
        return self.data_dir / Path(self.backups["directory"]).expanduser()


def locate(config: Path | None, data_dir: Path | None) -> Locations:
    """Read ``hub.data_dir``, ``storage.path`` and ``storage.backups``; raises ConfigError.

    Without ``--config`` the default file is read when it exists, else the defaults apply.
    """
    from hub.config import ConfigError, load_config  # hub.config.schema imports this module
    from hub.config.schema import CORE_SCHEMA

    loaded = load_config(config or DEFAULT_CONFIG) if config is not None or DEFAULT_CONFIG.exists() else None
    hub_key, storage_key = (next(key for key in CORE_SCHEMA if str(key) == name) for name in ("hub", "storage"))
    storage = {**CORE_SCHEMA[storage_key], vol.Optional("backups", default={}): BACKUP_SCHEMA}
    # Only these two sections are checked; the nested schemas keep refusing unknown keys.
    sections = {hub_key: vol.Schema(CORE_SCHEMA[hub_key]), storage_key: vol.Schema(storage)}
    schema = vol.Schema(sections, extra=vol.ALLOW_EXTRA)
    try:
        checked = schema(loaded.data if loaded is not None else {})
    except vol.MultipleInvalid as err:
        assert loaded is not None  # the defaults are valid
        issues = [
            loaded.issue(e.path, (e.error_message or str(e.msg)).replace("extra keys not allowed", "unknown key"))
            for e in err.errors
        ]
        raise ConfigError(issues) from err
    root = Path(data_dir or checked["hub"]["data_dir"]).expanduser()
    section = checked["storage"]
    return Locations(root / section["path"], root, section["backups"], section)


def add_backup_commands(subparsers: Any) -> None:
    """Register ``backup`` and ``restore`` on the ``trackingbms`` sub-command parser."""
    backup = subparsers.add_parser("backup", help="copy the database into a verified backup file (hub may run)")
    _location_arguments(backup)
    backup.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="backup file; .gz compresses (default: DATA_DIR/backups/<name>-manual-<time>.db.gz)",
    )
    backup.set_defaults(func=cmd_backup)
    restore = subparsers.add_parser("restore", help="replace the database with a backup (hub stopped)")
    restore.add_argument("file", type=Path, metavar="FILE", help="a backup file (.db or .db.gz)")
    _location_arguments(restore)
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.set_defaults(func=cmd_restore)


def _location_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help=f"config file (default {DEFAULT_CONFIG} if it exists)"
    )
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="data directory (default: hub.data_dir of the config)"
    )


def cmd_backup(args: argparse.Namespace) -> int:
    """Back the database up; exit 0, 1 (backup failed) or 2 (bad config)."""
    from hub.config import ConfigError

    try:
        where = locate(args.config, args.data_dir)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if where.storage.get("backend") == "postgresql":
        from hub.storage.pg_backup_cli import cmd_backup_postgresql

        return cmd_backup_postgresql(args, where)
    compress = bool(where.backups["compress"])
    output = args.output or where.backup_dir / backup_name(where.database, utc_now(), compress, manual=True)
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    try:
        info = create_backup(where.database, output, compress=None if args.output else compress, progress=bar)
    except BackupError as err:
        print(f"backup failed: {err}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.finish()
    rows = sum(info.snapshot.tables.values())
    print(
        f"{info.path}: {rows} rows in {len(info.snapshot.tables)} tables, schema {info.snapshot.schema_version}, "
        f"{info.size} bytes"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore a backup; exit 0, 1 (refused, declined or failed) or 2 (bad config)."""
    from hub.config import ConfigError

    try:
        where = locate(args.config, args.data_dir)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    if where.storage.get("backend") == "postgresql":
        from hub.storage.pg_backup_cli import cmd_restore_postgresql

        return cmd_restore_postgresql(args, where)
    try:
        plan = restore_backup(args.file, where.database, (lambda _plan: True) if args.yes else _ask)
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
        print(f"the previous database is kept as {plan.set_aside}")
    return 0


def _ask(plan: RestorePlan) -> bool:
    """Describe the restore on stderr and read y/N from stdin (end of input means no)."""
    current = "no database" if plan.set_aside is None else f"schema {plan.current_version or 'unknown'}"
    readings = plan.snapshot.raw_tier()
    print(
        f"Replace {plan.target} ({current}) with {plan.backup} (schema {plan.snapshot.schema_version}, {readings})?",
        file=sys.stderr,
    )
    if plan.set_aside is not None:
        print(f"The current database will be kept as {plan.set_aside}.", file=sys.stderr)
    print("Restore? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():
        print(answer.strip(), file=sys.stderr)  # show the answer that came from a pipe
    return answer.strip().lower() in ("y", "yes")
