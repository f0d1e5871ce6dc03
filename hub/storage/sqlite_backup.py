"""Online backup and restore of the SQLite database: consistent copies of a live file, verified before use.

A backup copies pages with SQLite's backup API inside one read transaction of its own connection:
every step copies the same WAL snapshot, so the hub keeps writing, the copy never restarts, and the
row counts taken in that transaction are what the copy must hold. Files are written under a
temporary name beside the destination, checked, then renamed; a failure removes them.

A restore takes the database with ``locking_mode=EXCLUSIVE`` + ``BEGIN EXCLUSIVE``. A WAL connection
holds a shared lock for as long as it is open, so this fails while any process (a running hub, a
sqlite3 shell) has the file open, even idle, and while held it keeps a hub from opening it. Unlike a
pid file it needs no cooperation from the hub and cannot go stale after a crash.
"""

from __future__ import annotations

import asyncio
import errno
import gzip
import os
import shutil
import sqlite3
import stat
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.storage.base import StorageError
from hub.storage.sqlite import SQLiteStorage, migrations

Progress = Callable[[int, int], None]  # (pages copied, pages in total), after each copy step

PAGES_PER_STEP = 1024
_GZIP_MAGIC = b"\x1f\x8b"
_SIDECARS = ("-wal", "-shm", "-journal")
_CHUNK = 1 << 20
_LOCK_TIMEOUT = 0.5
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class BackupError(Exception):
    """A backup or restore failed; the message is one line for the user."""


class BackupCancelledError(BackupError):
    """The backup was aborted on request (the hub is stopping)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a database holds: the newest applied migration and the row count of every table."""

    schema_version: int
    tables: dict[str, int]

    @property
    def has_migrations(self) -> bool:
        """Whether the file has the hub's migration table."""
        return "schema_migrations" in self.tables

    def raw_tier(self) -> str:
        """The raw readings held, for a confirmation prompt: rows and compacted hours."""
        return f"{self.tables.get('readings', 0)} reading rows, {self.tables.get('reading_chunks', 0)} compacted hours"


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """A backup that was written and verified."""

    path: Path
    snapshot: Snapshot
    size: int


@dataclass(frozen=True, slots=True)
class RestorePlan:
    """What a restore is about to do, shown to the user before anything changes."""

    backup: Path
    target: Path
    snapshot: Snapshot
    current_version: int | None  # None when there is no database (or it is not one)
    latest_version: int
    set_aside: Path | None  # where the current database is kept

    @property
    def migrates(self) -> bool:
        """Whether the backup is older than this hub and is migrated forward."""
        return self.snapshot.schema_version < self.latest_version


def latest_version() -> int:
    """The newest migration this hub knows."""
    return max((version for version, _, _ in migrations()), default=0)


def describe(err: BaseException) -> str:
    """A short reason for an OS or SQLite error, naming a full disk plainly."""
    if isinstance(err, OSError) and err.errno in _DISK_FULL:
        return "no space left on device"
    if isinstance(err, sqlite3.Error) and getattr(err, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL:
        return "no space left on device"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def create_backup(
    source: Path,
    output: Path,
    *,
    compress: bool | None = None,
    progress: Progress | None = None,
    pages_per_step: int = PAGES_PER_STEP,
    abort: threading.Event | None = None,
) -> BackupInfo:
    """Copy ``source`` into ``output`` (gzip when ``compress`` or a ``.gz`` name); raises BackupError.

    Blocking: the hub runs it in a worker thread (``asyncio.to_thread``). A failure leaves no file behind.
    """
    source, output = Path(source), Path(output)
    if not source.is_file():
        raise BackupError(f"database not found: {source}")
    if output.exists() and output.resolve() == source.resolve():
        raise BackupError(f"the output {output} is the database itself")
    packed = output.name.endswith(".gz") if compress is None else compress
    guard = _Guard(abort)
    try:
        _make_dir(output.parent)
        with _scratch(output) as scratch:
            plain = scratch(".db")
            snapshot = _copy(source, plain, progress, pages_per_step, guard)
            final = plain
            if packed:
                final = scratch(".gz")
                _compress(plain, final, output.name.removesuffix(".gz"), guard)
            _fsync(final)
            os.replace(final, output)
            _fsync(output.parent)
    except (OSError, sqlite3.Error) as err:
        if guard.cancelled:
            raise BackupCancelledError("backup cancelled") from err
        raise BackupError(f"cannot back up {source} to {output}: {describe(err)}") from err
    return BackupInfo(output, snapshot, output.stat().st_size)


def restore_backup(backup: Path, target: Path, confirm: Callable[[RestorePlan], bool]) -> RestorePlan | None:
    """Replace ``target`` with a verified backup; None when ``confirm`` declines. Raises BackupError.

    The current database is renamed to ``<name>.before-restore-<UTC time>``; an older backup is
    migrated forward before it replaces the database, so a failed migration changes nothing.
    """
    backup, target = Path(backup), Path(target)
    if not backup.is_file():
        raise BackupError(f"backup not found: {backup}")
    aside = _aside_name(target) if target.exists() else None
    try:
        current = _current_version(target) if aside is not None else None
        _make_dir(target.parent)
        with _scratch(target) as scratch:
            staged = scratch(".db")
            snapshot = _stage(backup, staged)
            plan = RestorePlan(backup, target, snapshot, current, latest_version(), aside)
            if not confirm(plan):
                return None
            if plan.migrates:
                _migrate(staged)
            _swap(staged, target, aside)
    except (OSError, sqlite3.Error) as err:
        raise BackupError(f"cannot restore {backup} to {target}: {describe(err)}") from err
    return plan


def verify_database(path: Path, label: str) -> Snapshot:
    """Integrity check, migration table and schema version of a TrackingBMS database file."""
    try:
        with closing(sqlite3.connect(_uri(path), uri=True, isolation_level=None)) as db:
            _check_integrity(db, label)
            snapshot = _snapshot(db)
    except sqlite3.DatabaseError as err:
        raise BackupError(f"{label} is not a valid backup: {describe(err)}") from err
    if not snapshot.has_migrations:
        raise BackupError(f"{label} is not a TrackingBMS database (no schema_migrations table)")
    newest = latest_version()
    if snapshot.schema_version > newest:
        raise BackupError(
            f"{label} has schema version {snapshot.schema_version}, newer than this hub's {newest}: "
            "upgrade TrackingBMS first"
        )
    return snapshot


class _Guard:
    """Turns a set abort event into a cancelled copy, at the next step or SQLite progress tick."""

    def __init__(self, event: threading.Event | None) -> None:
        self.event = event

    @property
    def cancelled(self) -> bool:
        return self.event is not None and self.event.is_set()

    def check(self) -> None:
        if self.cancelled:
            raise BackupCancelledError("backup cancelled")

    def watch(self, db: sqlite3.Connection) -> None:
        if self.event is not None:
            db.set_progress_handler(lambda: int(self.cancelled), 10_000)  # non-zero interrupts the query


def _open_output(path: Path) -> sqlite3.Connection:
    """The connection the copy is written through (a seam for tests that fill the disk)."""
    return sqlite3.connect(path, isolation_level=None)


def _copy(source: Path, dest: Path, progress: Progress | None, step: int, guard: _Guard) -> Snapshot:
    source_db = sqlite3.connect(_uri(source), uri=True, isolation_level=None)
    with closing(source_db) as src, closing(_open_output(dest)) as dst:
        guard.watch(src)
        guard.watch(dst)
        src.execute("BEGIN")  # one read transaction: every step below sees the same snapshot
        expected = _snapshot(src)

        def report(_status: int, remaining: int, total: int) -> None:
            guard.check()
            if progress is not None:
                progress(total - remaining, total)

        src.backup(dst, pages=max(1, step), progress=report)
        src.execute("COMMIT")
        dst.execute("PRAGMA journal_mode=DELETE")  # the copy stands alone: no -wal beside it
        _check_integrity(dst, f"the copy of {source}")
        actual = _snapshot(dst)
    for table, rows in expected.tables.items():
        if actual.tables.get(table) != rows:
            raise BackupError(f"the copy has {actual.tables.get(table)} rows in {table}, the database {rows}")
    return expected


def _compress(plain: Path, packed: Path, inner_name: str, guard: _Guard) -> None:
    with open(plain, "rb") as src, open(packed, "wb") as raw:
        with gzip.GzipFile(inner_name, "wb", compresslevel=6, fileobj=raw) as out:
            while chunk := src.read(_CHUNK):
                guard.check()
                out.write(chunk)
        raw.flush()


def _stage(backup: Path, staged: Path) -> Snapshot:
    """Copy (or unpack) the backup beside the target and verify the copy."""
    try:
        with open(backup, "rb") as probe:
            packed = probe.read(2) == _GZIP_MAGIC
        with gzip.open(backup, "rb") if packed else open(backup, "rb") as src, open(staged, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise BackupError(f"backup {backup} is not a valid backup: {describe(err)}") from err
    return verify_database(staged, f"backup {backup}")


def _migrate(path: Path) -> None:
    """Apply this hub's newer migrations the way the hub does at start (own thread: a loop may be running)."""

    async def run() -> None:
        storage = SQLiteStorage(path)
        try:
            await storage.open()
        finally:
            await storage.close()

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="restore-migrate") as pool:
            pool.submit(asyncio.run, run()).result()
    except (sqlite3.Error, StorageError) as err:
        raise BackupError(f"migrating the backup to this hub's schema failed: {describe(err)}") from err


def _swap(staged: Path, target: Path, aside: Path | None) -> None:
    if aside is not None:
        folded = False
        with _exclusive(target) as db:
            # A rollback journal writes the WAL into the file: the kept file stands alone.
            with suppress(sqlite3.DatabaseError):
                folded = db is not None and db.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
            os.replace(target, aside)
        if not folded:  # keep a WAL or journal with its file, or SQLite would apply it to the new one
            for suffix in _SIDECARS:
                if Path(f"{target}{suffix}").exists():
                    os.replace(f"{target}{suffix}", f"{aside}{suffix}")
        os.chmod(staged, stat.S_IMODE(aside.stat().st_mode))
    _fsync(staged)
    os.replace(staged, target)
    _fsync(target.parent)


def _aside_name(target: Path) -> Path:
    """``<name>.before-restore-<UTC time>``, numbered when that name is taken."""
    base = target.with_name(f"{target.name}.before-restore-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
    return next(path for n in range(1000) if not (path := Path(f"{base}-{n}" if n else base)).exists())


def _current_version(target: Path) -> int | None:
    """The target's schema version (None if unreadable); raises BackupError while it is open elsewhere."""
    with _exclusive(target) as db:
        try:
            snapshot = _snapshot(db) if db is not None else None
        except sqlite3.DatabaseError:  # a damaged database is a reason to restore, not to refuse
            snapshot = None
    return snapshot.schema_version if snapshot is not None and snapshot.has_migrations else None


@contextmanager
def _exclusive(path: Path) -> Iterator[sqlite3.Connection | None]:
    """Hold the database exclusively; yields None when the file is not a SQLite database at all."""
    db = sqlite3.connect(_uri(path), uri=True, timeout=_LOCK_TIMEOUT, isolation_level=None)
    try:
        yield db if _lock(db, path) else None
    finally:
        db.close()


def _lock(db: sqlite3.Connection, path: Path) -> bool:
    try:
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("BEGIN EXCLUSIVE")
        db.execute("COMMIT")  # exclusive locking mode keeps the lock after the transaction
    except sqlite3.DatabaseError as err:
        code = getattr(err, "sqlite_errorcode", 0) & 0xFF
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise BackupError(f"{path} is in use (is the hub running? stop it before restoring)") from err
        if code == sqlite3.SQLITE_NOTADB:
            return False
        raise
    return True


def _snapshot(db: sqlite3.Connection) -> Snapshot:
    names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    quoted = {name: '"' + name.replace('"', '""') + '"' for name in names}
    tables = {name: int(db.execute(f"SELECT COUNT(*) FROM {quoted[name]}").fetchone()[0]) for name in names}
    version = 0
    if "schema_migrations" in tables:
        version = int(db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])
    return Snapshot(version, tables)


def _check_integrity(db: sqlite3.Connection, label: str) -> None:
    rows = db.execute("PRAGMA integrity_check").fetchall()
    if rows != [("ok",)]:
        first = str(rows[0][0]).splitlines()[0] if rows else "no answer"
        raise BackupError(f"{label} failed the integrity check: {first}")


def _uri(path: Path) -> str:
    """An URI that opens an existing file read-write and never creates one."""
    return f"{path.resolve().as_uri()}?mode=rw"


@contextmanager
def _scratch(beside: Path) -> Iterator[Callable[[str], Path]]:
    """Makes temporary files next to ``beside``; removes them (and SQLite's sidecars) on the way out."""
    made: list[Path] = []

    def make(suffix: str) -> Path:
        handle, name = tempfile.mkstemp(prefix=f".{beside.name}.", suffix=f"{suffix}.tmp", dir=beside.parent)
        os.close(handle)
        made.append(Path(name))
        return made[-1]

    try:
        yield make
    finally:
        for path in made:
            for suffix in ("", *_SIDECARS):
                with suppress(FileNotFoundError):
                    os.unlink(f"{path}{suffix}")


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:  # a file is in the way
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)) from err


def _fsync(path: Path) -> None:
    """Flush a file or directory to disk (directories: best effort, not every filesystem allows it)."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        os.close(handle)
