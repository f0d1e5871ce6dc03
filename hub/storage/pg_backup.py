"""Logical backup and restore of a PostgreSQL database, in the format of ``pg_dumpfile``.

A backup reads every table with binary COPY inside one REPEATABLE READ transaction, so it is one
consistent snapshot while hubs keep writing; it is written under a temporary name beside the
output, read back and checked in full, then renamed. A restore checks the whole file first, refuses
while a hub is connected, keeps a backup of what the database held, then in ONE transaction drops
the hub's tables, recreates them at the backup's schema version, loads every table, migrates to
this hub's schema and compares row counts: a failure anywhere leaves the database as it was.

Both run their own event loop in a worker thread: callable from the CLI and from the hub's thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import asyncpg

from hub import __version__
from hub.reading import utc_now
from hub.storage.pg_copy import qualified, row_counts, table_columns
from hub.storage.pg_dumpfile import CHUNK, SUFFIX, Manifest, TableDump, verify_archive, write_archive
from hub.storage.pg_partitions import Partitions
from hub.storage.pg_schema import current_schema, schema_version
from hub.storage.pg_settings import PostgresSettings
from hub.storage.postgres import ERRORS, reason
from hub.storage.sqlite_backup import BackupCancelledError, BackupError, BackupInfo, describe

Progress = Callable[[int, int], None]  # (rows copied, rows in total)
_T = TypeVar("_T")


def run_blocking(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine on an event loop of its own in a worker thread, and wait for it."""
    with ThreadPoolExecutor(1, thread_name_prefix="pg-backup") as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def connect(settings: PostgresSettings, *, read_only: bool = False) -> Any:
    """A single connection for a tool (backup, restore, migrate-data); BackupError when unreachable.

    Its application name differs from the hub's, so a restore does not take it for a running hub.
    """
    server = settings.server_settings(read_only=read_only) | {
        "application_name": f"trackingbms-tool:{settings.schema or ''}"
    }
    try:
        return await asyncpg.connect(**settings.connect_arguments(), server_settings=server)
    except ERRORS as err:
        raise BackupError(f"cannot connect to PostgreSQL at {settings.describe()}: {reason(err)}") from err


@dataclass
class _Dump:
    directory: Path
    abort: threading.Event | None
    progress: Progress | None
    done: int = 0
    total: int = 0

    @property
    def cancelled(self) -> bool:
        return self.abort is not None and self.abort.is_set()

    def check(self) -> None:
        if self.cancelled:
            raise BackupCancelledError("backup cancelled")

    async def watch(self, conn: Any) -> None:
        """End the session as soon as the backup is to stop: a COPY in progress then fails at once
        (raising from inside asyncpg's COPY callback would leave the connection hanging)."""
        # A threading.Event set from the hub's thread: polled, as waiting on it would hold a thread.
        while not self.cancelled:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        conn.terminate()


def create_pg_backup(
    settings: PostgresSettings,
    output: Path,
    *,
    compress: bool | None = None,
    progress: Progress | None = None,
    abort: threading.Event | None = None,
) -> BackupInfo:
    """Back the database up into ``output`` (gzip when ``compress`` or a ``.gz`` name); raises BackupError.

    Blocking. A failure leaves no file behind.
    """
    output = Path(output)
    packed = output.name.endswith(".gz") if compress is None else compress
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
        try:
            dump = _Dump(scratch, abort, progress)
            manifest = run_blocking(_dump_tables(settings, dump))
            archive = scratch / "archive"
            write_archive(archive, manifest, {t.name: scratch / f"{t.name}.copy" for t in manifest.tables}, packed)
            dump.check()
            if verify_archive(archive, f"the backup written to {output}") != manifest:
                raise BackupError(f"the backup written to {output} does not read back as written")
            _fsync(archive)
            os.replace(archive, output)
            _fsync(output.parent)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except OSError as err:
        if abort is not None and abort.is_set():
            raise BackupCancelledError("backup cancelled") from err
        raise BackupError(f"cannot back up {settings.describe()} to {output}: {describe(err)}") from err
    return BackupInfo(output, manifest.snapshot, output.stat().st_size)


async def _dump_tables(settings: PostgresSettings, dump: _Dump) -> Manifest:
    conn = await connect(settings, read_only=True)
    watcher = asyncio.create_task(dump.watch(conn))
    try:
        # One snapshot for every table: the counts taken here are what the copies must hold.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            version = await schema_version(conn)
            schema = await current_schema(conn)
            if version == 0 or schema is None:
                raise BackupError(f"no TrackingBMS database at {settings.describe()}")
            counts = await row_counts(conn, schema)
            dump.total = sum(counts.values())
            partitions = Partitions()
            partitions.schema = schema
            bounds = [(lo, hi) for _, lo, hi in await partitions.listing(conn)]
            tables = [await _dump_table(conn, schema, name, rows, dump) for name, rows in counts.items()]
    except ERRORS as err:
        dump.check()
        raise BackupError(f"reading {settings.describe()} failed: {reason(err)}") from err
    finally:
        watcher.cancel()
        await conn.close()
    dump.check()
    return Manifest(version, utc_now().isoformat(), settings.describe(), __version__, bounds, tables)


async def _dump_table(conn: Any, schema: str, name: str, rows: int, dump: _Dump) -> TableDump:
    columns = await table_columns(conn, schema, name)
    digest, size = hashlib.sha256(), 0
    # The backup thread's own loop: a blocking write holds no one else up.
    with open(dump.directory / f"{name}.copy", "wb") as out:  # noqa: ASYNC230

        async def sink(chunk: bytes) -> None:
            nonlocal size
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)

        names = ", ".join(f'"{c}"' for c, _ in columns)
        status = await conn.copy_from_query(
            f"SELECT {names} FROM {qualified(schema, name)}", output=sink, format="binary"
        )
    copied = int(str(status).rsplit(" ", 1)[-1])
    if copied != rows:
        raise BackupError(f"the copy of {name} has {copied} rows, the database {rows}")
    dump.done += rows
    if dump.progress is not None:
        dump.progress(dump.done, dump.total)
    return TableDump(name, columns, rows, size, digest.hexdigest())


async def read_chunks(data: IO[bytes], digest: Any) -> AsyncIterator[bytes]:
    """A table's data from the archive, hashed on the way (read in a thread: it is file I/O)."""
    while chunk := await asyncio.to_thread(data.read, CHUNK):
        digest.update(chunk)
        yield chunk


def _fsync(path: Path) -> None:
    """Flush a file or directory to disk (directories: best effort)."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        os.close(handle)


class ScheduledPostgresBackup:
    """The BackupScheduler's maker for PostgreSQL (see ``hub.storage.backup.Maker``)."""

    suffix = SUFFIX

    def __init__(self, settings: PostgresSettings) -> None:
        self.settings = settings

    @property
    def database(self) -> Path:
        """What names the backup files: the schema, or ``trackingbms``."""
        return Path(self.settings.schema or "trackingbms")

    def __call__(self, output: Path, compress: bool, abort: threading.Event) -> BackupInfo:
        return create_pg_backup(self.settings, output, compress=compress, abort=abort)
