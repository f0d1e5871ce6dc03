"""CSV export on both backends: header with units, ISO timestamps, the offline read-only ``trackingbms export``."""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub import export
from hub.export import add_export_command, csv_header, database_path, export_csv, export_source, render_csv
from hub.reading import Reading, Temperature
from hub.storage import DEFAULT_TENANT, StorageError
from hub.storage.base import Storage
from hub.storage.postgres import PostgreSQLStorage
from hub.storage.sqlite import SQLiteStorage
from tests.hub.storage.backends import Location

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


def readings(count: int = 100) -> list[Reading]:
    return [
        Reading(
            "pack",
            timestamp=T0 + timedelta(seconds=30 * i, milliseconds=i % 3),
            voltage=52.0 + i / 100,
            current=5.0,
            soc=None if i == 3 else 60.0,
            cells=(3.30, 3.31, 3.29, 3.30),
            temperatures=(Temperature(21.5), Temperature(25.0)),
        )
        for i in range(count)
    ]


async def populate(storage: Storage) -> None:
    await storage.open()
    store = storage.for_tenant(DEFAULT_TENANT)
    await store.ensure_battery("pack", "Pack", "daly")
    await store.write_readings(readings())
    await storage.close()


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "trackingbms.db"
    await populate(SQLiteStorage(path))
    return path


@pytest.fixture
async def source(location: Location) -> Path | Storage:
    """What an export reads, on either backend: a SQLite file, or a PostgreSQL storage opened read-only."""
    await populate(location.make())
    return location.path if location.backend == "sqlite" else location.make(read_only=True)


def parse(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_header_names_carry_units() -> None:
    assert csv_header(("voltage", "soc", "temperature_max"), False) == [
        "timestamp",
        "voltage_V",
        "soc_%",
        "temperature_max_degC",
    ]
    assert csv_header(("current", "charged_wh"), True) == [
        "timestamp",
        "samples",
        "current_mean_A",
        "current_min_A",
        "current_max_A",
        "current_last_A",
        "charged_Wh",
    ]


def test_rendered_csv_parses_with_the_csv_module() -> None:
    rows = [
        {"timestamp": "2025-03-01T06:00:00.001000Z", "voltage": 52.1, "soc": None},
        {"timestamp": "2025-03-01T06:00:30Z", "voltage": 52.2, "soc": 60.0},
    ]
    text = render_csv(rows, ("voltage", "soc"), False)
    assert text.endswith("\r\n")
    header, parsed = parse(text)
    assert header == ["timestamp", "voltage_V", "soc_%"]
    assert parsed[0] == {"timestamp": "2025-03-01T06:00:00.001Z", "voltage_V": "52.1", "soc_%": ""}
    assert datetime.fromisoformat(parsed[1]["timestamp"]) == datetime(2025, 3, 1, 6, 0, 30, tzinfo=UTC)


async def test_export_raw_and_rollups(source: Path | Storage, location: Location) -> None:
    out = io.StringIO(newline="")
    window = (T0, T0 + timedelta(hours=1))
    assert await export_csv(source, "pack", window, "raw", out) == 100
    header, rows = parse(out.getvalue())
    assert header[:3] == ["timestamp", "voltage_V", "current_A"] and "cell_delta_V" in header
    assert rows[0]["voltage_V"] == "52.0" and rows[3]["soc_%"] == "" and rows[1]["temperature_max_degC"] == "25.0"
    assert rows[1]["timestamp"] == "2025-03-01T06:00:30.001Z"
    hourly = io.StringIO(newline="")
    again = location.path if location.backend == "sqlite" else location.make(read_only=True)
    assert await export_csv(again, "pack", window, "1h", hourly, fields=("voltage", "charged_wh")) == 1
    header, rows = parse(hourly.getvalue())
    assert header == ["timestamp", "samples", *(f"voltage_{s}_V" for s in ("mean", "min", "max", "last")), "charged_Wh"]
    assert rows[0]["samples"] == "100" and rows[0]["voltage_max_V"] == "52.99"
    # 260 W + 0.05 W per reading, 30 s apart (give or take the 1-2 ms of jitter)
    assert float(rows[0]["charged_Wh"]) == pytest.approx(sum((260.025 + 0.05 * i) / 120 for i in range(99)), rel=1e-4)


async def test_export_refuses_what_it_cannot_do(source: Path | Storage, location: Location) -> None:
    window = (T0, T0 + timedelta(hours=1))
    with pytest.raises(export.ExportError, match="unknown battery"):
        await export_csv(source, "other", window, "raw", io.StringIO())
    with pytest.raises(export.ExportError, match="energy"):
        await export_csv(source, "pack", window, "raw", io.StringIO(), fields=("charged_wh",))


async def test_export_of_a_missing_database_fails(tmp_path: Path, pg_location: Location) -> None:
    window = (T0, T0 + timedelta(hours=1))
    with pytest.raises(StorageError, match="no database"):
        await export_csv(tmp_path / "missing.db", "pack", window, "raw", io.StringIO())
    with pytest.raises(StorageError, match="no TrackingBMS database"):
        await export_csv(pg_location.make(read_only=True), "pack", window, "raw", io.StringIO())


async def test_export_reads_while_the_hub_writes(source: Path | Storage, location: Location) -> None:
    hub = location.make()  # the running hub keeps its connections open
    await hub.open()
    try:
        store = hub.for_tenant(DEFAULT_TENANT)
        await store.write_readings([Reading("pack", timestamp=T0 + timedelta(minutes=59), voltage=50.0)])
        out = io.StringIO()
        assert await export_csv(source, "pack", (T0, T0 + timedelta(hours=1)), "raw", out) == 101
    finally:
        await hub.close()


async def test_a_postgresql_export_never_writes(pg_location: Location) -> None:
    await populate(pg_location.make())
    reader = pg_location.make(read_only=True)
    await reader.open()
    try:
        with pytest.raises(StorageError, match="read-only"):
            await reader.for_tenant(DEFAULT_TENANT).ensure_battery("x", "X", "daly")
    finally:
        await reader.close()


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trackingbms")
    add_export_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_writes_a_file_and_never_changes_the_database(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digest(database)
    target = tmp_path / "out.csv"
    argv = ["export", "pack", "--from", "2025-03-01T06:00:00Z", "--to", "2025-03-01T07:00:00", "--resolution", "5m"]
    assert run_cli([*argv, "--output", str(target), "--data-dir", str(database.parent)]) == 0
    header, rows = parse(target.read_text(encoding="utf-8"))
    assert header[:3] == ["timestamp", "samples", "voltage_mean_V"] and len(rows) == 10
    assert [r["timestamp"] for r in rows[:2]] == ["2025-03-01T06:00:00Z", "2025-03-01T06:05:00Z"]
    assert "10 rows of pack at 5m exported" in capsys.readouterr().err
    assert digest(database) == before
    assert not list(tmp_path.glob("*.partial"))


def test_cli_to_stdout_with_progress_for_big_ranges(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PROGRESS_FROM", 10)
    argv = ["export", "pack", "--from", "2025-03-01", "--to", "2025-03-02", "--fields", "voltage,soc"]
    assert run_cli([*argv, "--data-dir", str(database.parent)]) == 0
    captured = capsys.readouterr()
    header, rows = parse(captured.out)
    assert header == ["timestamp", "voltage_V", "soc_%"] and len(rows) == 100
    assert "exported 100/100 rows (100%)" in captured.err


def test_cli_errors(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--from", "2025-03-01", "--to", "2025-03-02", "--data-dir", str(database.parent)]
    assert run_cli(["export", "nope", *base]) == 1
    assert "unknown battery" in capsys.readouterr().err
    assert run_cli(["export", "pack", *base, "--fields", "volts"]) == 2
    assert run_cli(["export", "pack", "--from", "2025-03-02", "--to", "2025-03-01"]) == 2
    assert run_cli(["export", "pack", *base[:4], "--data-dir", str(tmp_path / "empty")]) == 1
    target = tmp_path / "never.csv"
    assert run_cli(["export", "nope", *base, "--output", str(target)]) == 1
    assert not target.exists() and not list(tmp_path.glob("*.partial"))
    with pytest.raises(SystemExit):
        run_cli(["export", "pack", "--from", "yesterday", "--to", "2025-03-01"])


def test_cli_exports_from_the_configured_postgresql(
    pg_location: Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(populate(pg_location.make()))
    config = tmp_path / "hub.yaml"
    section = pg_location.section
    config.write_text(
        f"storage:\n  backend: postgresql\n  dsn: {section['dsn']}\n  schema: {section['schema']}\n", encoding="utf-8"
    )
    assert isinstance(export_source(config, None), PostgreSQLStorage)
    argv = ["export", "pack", "--from", "2025-03-01", "--to", "2025-03-02", "--fields", "voltage"]
    assert run_cli([*argv, "--config", str(config)]) == 0
    header, rows = parse(capsys.readouterr().out)
    assert header == ["timestamp", "voltage_V"] and len(rows) == 100 and rows[-1]["voltage_V"] == "52.99"


def test_database_path_follows_the_config(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("hub:\n  data_dir: /srv/bms\nstorage:\n  path: packs.db\n", encoding="utf-8")
    assert database_path(config, None) == Path("/srv/bms/packs.db")
    assert database_path(config, tmp_path) == tmp_path / "packs.db"
    assert database_path(None, tmp_path) == tmp_path / "trackingbms.db"
