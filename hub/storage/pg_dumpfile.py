"""The PostgreSQL backup file: a tar (gzip'd when compressed) of a manifest and one binary COPY per table.

``manifest.json`` comes first: format, hub and schema versions, the readings partitions, and per
table its columns with their types, row count, size and SHA-256. Then ``tables/<name>.copy`` in
manifest order, each in PostgreSQL's binary COPY format: exact (no float or timestamp goes through
text), fast to load, and independent of the server version. A file is checked by reading it whole:
every member's SHA-256, and its tuples counted from the COPY framing, must match the manifest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hub.storage.sqlite_backup import BackupError, Snapshot

FORMAT = "trackingbms-postgresql-backup"
FORMAT_VERSION = 1
SUFFIX = ".pgdump"
MANIFEST = "manifest.json"
CHUNK = 1 << 20
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# What reading a damaged or cut archive raises (tar framing, gzip stream).
ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True, slots=True)
class TableDump:
    """One table in a backup."""

    name: str
    columns: list[tuple[str, str]]  # (name, type)
    rows: int
    size: int
    sha256: str

    @property
    def member(self) -> str:
        """Its name inside the archive."""
        return f"tables/{self.name}.copy"


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup holds."""

    schema_version: int
    created_at: str
    source: str
    hub_version: str
    partitions: list[tuple[int, int]] = field(default_factory=list)  # [lo, hi) of readings partitions
    tables: list[TableDump] = field(default_factory=list)

    @property
    def snapshot(self) -> Snapshot:
        """Schema version and rows per table, as SQLite backups describe themselves."""
        return Snapshot(self.schema_version, {t.name: t.rows for t in self.tables})

    def to_json(self) -> bytes:
        """The manifest file's content."""
        data: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}
        data |= {"schema_version": self.schema_version, "created_at": self.created_at, "source": self.source}
        data |= {"hub_version": self.hub_version, "partitions": [list(p) for p in self.partitions]}
        data["tables"] = [
            {
                "name": t.name,
                "columns": [list(c) for c in t.columns],
                "rows": t.rows,
                "size": t.size,
                "sha256": t.sha256,
            }
            for t in self.tables
        ]
        return json.dumps(data, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes, label: str) -> Manifest:
        """Parse a manifest; BackupError when it is not one of this format."""
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
                raise BackupError(f"{label} is not a TrackingBMS PostgreSQL backup (format {data.get('format')!r})")
            tables = [
                TableDump(
                    t["name"], [(str(n), str(k)) for n, k in t["columns"]], int(t["rows"]), int(t["size"]), t["sha256"]
                )
                for t in data["tables"]
            ]
            partitions = [(int(lo), int(hi)) for lo, hi in data["partitions"]]
            return cls(
                int(data["schema_version"]), data["created_at"], data["source"], data["hub_version"], partitions, tables
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise BackupError(f"{label} has an unreadable manifest: {err}") from err


class CopyCounter:
    """Counts the tuples of a binary COPY stream fed in chunks, checking its framing on the way."""

    def __init__(self) -> None:
        self.rows = 0
        self.ended = False
        self._buf = bytearray()
        self._header = False
        self._fields = -1  # fields left in the current tuple; -1: a tuple header comes next

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the stream."""
        self._buf += chunk
        pos = self._parse()
        del self._buf[:pos]

    def _parse(self) -> int:
        buf, pos, end = self._buf, 0, len(self._buf)
        if not self._header:
            if end < 19:
                return 0
            if bytes(buf[:11]) != _SIGNATURE:
                raise BackupError("a table is not in binary COPY format")
            pos = 19 + int.from_bytes(buf[15:19], "big")
            if end < pos:
                return 0
            self._header = True
        while pos < end:
            if self.ended:
                raise BackupError("a table has data after its end marker")
            if self._fields < 0:
                if end - pos < 2:
                    break
                count = int.from_bytes(buf[pos : pos + 2], "big", signed=True)
                pos += 2
                self.ended, self._fields = count == -1, max(count, 0)
                self.rows += count != -1
                continue
            if self._fields == 0:
                self._fields = -1
                continue
            if end - pos < 4:
                break
            size = max(int.from_bytes(buf[pos : pos + 4], "big", signed=True), 0)
            if end - pos < 4 + size:
                break
            pos += 4 + size
            self._fields -= 1
        if self._fields == 0:
            self._fields = -1
        return pos

    def finish(self) -> int:
        """The tuple count; BackupError when the stream stopped before its end marker."""
        if not self.ended:
            raise BackupError("a table's data is cut short")
        return self.rows


def write_archive(output: Path, manifest: Manifest, files: dict[str, Path], compress: bool) -> None:
    """Write the manifest, then each table's COPY file, into ``output``."""
    options = {"compresslevel": 6} if compress else {}
    with tarfile.open(output, "w:gz" if compress else "w", **options) as tar:  # type: ignore[call-overload]
        _add(tar, MANIFEST, manifest.to_json())
        for table in manifest.tables:
            info = tarfile.TarInfo(table.member)
            info.size = files[table.name].stat().st_size
            with open(files[table.name], "rb") as src:
                tar.addfile(info, src)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def open_members(path: Path, label: str) -> Iterator[tuple[Manifest, TableDump | None, IO[bytes] | None]]:
    """Read an archive in one pass: first (manifest, None, None), then each table with its data."""
    try:
        with tarfile.open(path, "r|*") as tar:
            first = tar.next()
            reader = tar.extractfile(first) if first is not None and first.name == MANIFEST else None
            if reader is None:
                raise BackupError(f"{label} is not a TrackingBMS PostgreSQL backup (no manifest first)")
            manifest = Manifest.from_json(reader.read(), label)
            yield manifest, None, None
            expected = iter(manifest.tables)
            while (member := tar.next()) is not None:  # a stream: forward only, one member at a time
                table = next(expected, None)
                data = tar.extractfile(member)
                if table is None or member.name != table.member or data is None:
                    raise BackupError(f"{label} holds an unexpected member {member.name}")
                yield manifest, table, data
            if next(expected, None) is not None:
                raise BackupError(f"{label} is cut short: tables are missing")
    except ARCHIVE_ERRORS as err:
        raise BackupError(f"{label} is not a valid backup: {err}") from err


def verify_archive(path: Path, label: str) -> Manifest:
    """Read the whole archive; every table must match its manifest entry (SHA-256, size, rows)."""
    manifest: Manifest | None = None
    for found, table, data in open_members(path, label):
        manifest = found
        if table is not None and data is not None:
            _check_member(table, data, label)
    assert manifest is not None  # open_members yields the manifest first or raises
    return manifest


def _check_member(table: TableDump, data: IO[bytes], label: str) -> None:
    digest, counter, size = hashlib.sha256(), CopyCounter(), 0
    try:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
            counter.feed(chunk)
            size += len(chunk)
    except ARCHIVE_ERRORS as err:
        raise BackupError(f"{label} is not a valid backup: {err}") from err
    if digest.hexdigest() != table.sha256 or size != table.size:
        raise BackupError(f"{label} is damaged: table {table.name} does not match its checksum")
    try:
        rows = counter.finish()
    except BackupError as err:
        raise BackupError(f"{label} is damaged: {err}") from err
    if rows != table.rows:
        raise BackupError(f"{label} is damaged: table {table.name} holds {rows} rows, not {table.rows}")
