"""CSV export of a battery's history: the API's ``text/csv`` answers and ``trackingbms export``.

The CSV opens in a spreadsheet as it is: one header row whose column names carry their units
(``voltage_V``, ``voltage_min_V``, ``charged_Wh``), ISO-8601 UTC timestamps, empty cells for
absent values, CRLF line ends (RFC 4180).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import voluptuous as vol

from hub.config import ConfigError, load_config
from hub.storage.base import Storage, StorageError
from hub.storage.factory import POSTGRESQL, backend_of, build_storage, describe_storage
from hub.storage.history import FIELDS, RAW, UNITS, HistoryError, bucket_row, parse_fields, sample_row
from hub.storage.rollups import BY_NAME, ENERGY, METRICS
from hub.storage.sqlite import SQLiteStorage

DEFAULT_CONFIG = Path("config/trackingbms.yaml")
EXPORT_RESOLUTIONS = (RAW, *BY_NAME)
PROGRESS_FROM = 50_000  # rows; smaller exports print nothing on stderr


class ExportError(Exception):
    """The export cannot run (no database, unknown battery, unusable parameters)."""


def csv_header(fields: Sequence[str], aggregated: bool) -> list[str]:
    """Column names with units: per metric the value (raw) or mean/min/max/last (aggregated)."""
    header = ["timestamp", "samples"] if aggregated else ["timestamp"]
    for name in fields:
        unit = UNITS[name]
        if name in ENERGY:
            header.append(f"{name.removesuffix('_wh')}_{unit}")
        elif aggregated:
            header += [f"{name}_{stat}_{unit}" for stat in ("mean", "min", "max", "last")]
        else:
            header.append(f"{name}_{unit}")
    return header


def _time(text: str) -> str:
    """ISO timestamps to the millisecond at most (rows carry microsecond-style fractions)."""
    if "." not in text:
        return text
    head, fraction = text.removesuffix("Z").split(".", 1)
    return f"{head}.{fraction[:3]}Z"


def _cell(value: Any) -> Any:
    return "" if value is None else value


def csv_values(row: dict[str, Any], fields: Sequence[str], aggregated: bool) -> list[Any]:
    """One history row (as the API returns it) in :func:`csv_header` order."""
    values: list[Any] = [_time(row["timestamp"])]
    if aggregated:
        values.append(row.get("samples"))
    for name in fields:
        if aggregated and name not in ENERGY:
            values += [row.get(name), row.get(f"{name}_min"), row.get(f"{name}_max"), row.get(f"{name}_last")]
        else:
            values.append(row.get(name))
    return [_cell(v) for v in values]


def render_csv(rows: Iterable[dict[str, Any]], fields: Sequence[str], aggregated: bool) -> str:
    """A whole CSV document."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_header(fields, aggregated))
    writer.writerows(csv_values(row, fields, aggregated) for row in rows)
    return out.getvalue()


class Progress:
    """Prints how far an export is on stderr, every tenth, for exports of PROGRESS_FROM rows or more."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total, self.done, self._shown = total, 0, 0
        self.stream = stream if total >= PROGRESS_FROM else None

    def advance(self, rows: int) -> None:
        """Count exported rows."""
        self.done += rows
        tenth = self.done * 10 // max(self.total, 1)
        if self.stream is not None and tenth > self._shown:
            self._shown = tenth
            print(f"exported {self.done}/{self.total} rows ({min(tenth, 10) * 10}%)", file=self.stream, flush=True)


async def export_csv(
    database: Path | Storage,
    battery_id: str,
    window: tuple[datetime, datetime],
    resolution: str,
    out: TextIO,
    *,
    fields: Sequence[str] | None = None,
    tenant: str = "default",
    progress: TextIO | None = None,
) -> int:
    """Write every row of a battery's history at one resolution (no downsampling); rows written.

    ``database`` is a SQLite file, or a storage not opened yet (opened read-only here, then closed).
    """
    if resolution == RAW and fields and set(fields) & set(ENERGY):
        raise ExportError("energy fields exist only in rollups (5m, 1h, 1d, 1mo)")
    storage = SQLiteStorage(database, read_only=True) if isinstance(database, Path) else database
    await storage.open()
    try:
        store = storage.for_tenant(tenant)
        if battery_id not in {b.id for b in await store.batteries()}:
            raise ExportError(f"unknown battery {battery_id!r} in {describe_storage(storage)}")
        if resolution != RAW and await storage.schema_version() < 4:
            raise ExportError("this database has no rollups yet: start the hub once to migrate it")
        chosen = tuple(fields or (METRICS if resolution == RAW else FIELDS))
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(csv_header(chosen, resolution != RAW))
        meter = Progress(await store.count_rows(battery_id, resolution, *window), progress)
        if resolution == RAW:
            async for samples in store.iter_samples(battery_id, *window):
                writer.writerows(csv_values(sample_row(s, chosen), chosen, False) for s in samples)
                meter.advance(len(samples))
        else:
            async for buckets in store.iter_buckets(battery_id, resolution, *window):
                writer.writerows(csv_values(bucket_row(b, chosen), chosen, True) for b in buckets)
                meter.advance(len(buckets))
        return meter.done
    finally:
        await storage.close()


def _config_data(config: Path | None) -> dict[str, Any]:
    path = config or DEFAULT_CONFIG
    if config is not None or path.exists():
        return load_config(path).data  # ConfigError when given but unreadable
    return {}


def database_path(config: Path | None, data_dir: Path | None) -> Path:
    """The hub's SQLite file: ``storage.path`` under ``hub.data_dir`` (or ``data_dir``)."""
    data = _config_data(config)
    hub, storage = data.get("hub") or {}, data.get("storage") or {}
    base = Path(data_dir or hub.get("data_dir") or "data").expanduser()
    return base / str(storage.get("path") or "trackingbms.db")


def export_source(config: Path | None, data_dir: Path | None) -> Path | Storage:
    """What ``trackingbms export`` reads: the SQLite file, or the configured PostgreSQL database
    (read-only sessions, no retention: the export never writes)."""
    section = _config_data(config).get("storage") or {}
    if isinstance(section, dict) and backend_of(section) == POSTGRESQL:
        try:
            return build_storage(section, Path("."), with_retention=False, read_only=True)
        except vol.Invalid as err:
            raise ExportError(f"storage config: {err}") from err
    return database_path(config, data_dir)


def _iso_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r} (e.g. 2026-01-31T12:00:00Z)") from err
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cmd_export(args: argparse.Namespace) -> int:
    """``trackingbms export``: 0 when written, 1 when the export failed, 2 on bad arguments."""
    if args.start > args.end:
        print("--from must not be after --to", file=sys.stderr)
        return 2
    try:
        fields = parse_fields(args.fields)
        database = export_source(args.config, args.data_dir)
        rows = _write(args, database, fields)
    except HistoryError as err:
        print(f"{err.message}: {', '.join(err.details['unknown'])}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (``| head``) has had enough: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout once more at exit
        return 1
    except (ConfigError, ExportError, StorageError, OSError) as err:
        print(f"export failed: {err}", file=sys.stderr)
        return 1
    print(f"{rows} rows of {args.battery} at {args.resolution} exported", file=sys.stderr)
    return 0


def _write(args: argparse.Namespace, database: Path | Storage, fields: Sequence[str] | None) -> int:
    """Export to stdout, or to a file that appears only once complete."""

    def run(out: TextIO) -> int:
        window = (args.start, args.end)
        options: dict[str, Any] = {"fields": fields, "tenant": args.tenant, "progress": sys.stderr}
        return asyncio.run(export_csv(database, args.battery, window, args.resolution, out, **options))

    if args.output == "-":
        return run(sys.stdout)
    target = Path(args.output)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            rows = run(out)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return rows


def add_export_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``export`` on the ``trackingbms`` sub-command parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export", help="write a battery's stored history as CSV (reads the database, never writes it)"
    )
    parser.add_argument("battery", help="battery id")
    parser.add_argument("--from", dest="start", type=_iso_time, required=True, help="first time, ISO-8601 (UTC)")
    parser.add_argument("--to", dest="end", type=_iso_time, required=True, help="last time, inclusive")
    parser.add_argument("--resolution", choices=EXPORT_RESOLUTIONS, default=RAW, help="raw readings or a rollup")
    parser.add_argument("--fields", help=f"comma list of {', '.join(FIELDS)} (default: all)")
    parser.add_argument("--output", default="-", help="CSV file to write, or - for standard output")
    parser.add_argument("--config", type=Path, help=f"config file (default {DEFAULT_CONFIG})")
    parser.add_argument("--data-dir", type=Path, help="data directory (default: hub.data_dir of the config)")
    parser.add_argument("--tenant", default="default", help=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_export)
    return parser
