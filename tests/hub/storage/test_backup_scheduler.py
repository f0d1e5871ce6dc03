"""Scheduled backups: the schedule, pruning, reporting through the callback, and the config section."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol

from hub.storage import backup as module
from hub.storage.backup import (
    BACKUP_SCHEMA,
    BackupOutcome,
    BackupScheduler,
    backup_name,
    prune,
    scheduled_backups,
)
from hub.storage.sqlite_backup import BackupCancelledError, restore_backup
from tests.helpers import wait_for
from tests.hub.storage.test_backup import dump, populate, yes

T0 = datetime(2024, 7, 1, 6, 0, 0, tzinfo=UTC)


def ticking(step: timedelta) -> Callable[[], datetime]:
    """A clock that moves on by ``step`` at every look."""
    times: Iterator[datetime] = (T0 + n * step for n in range(1_000_000))
    return lambda: next(times)


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "trackingbms.db"
    await populate(path, readings=50)
    return path


def test_schema_defaults_and_limits() -> None:
    schema = vol.Schema(BACKUP_SCHEMA)
    assert schema({}) == {"enabled": False, "interval_hours": 24.0, "keep": 7, "directory": "backups", "compress": True}
    assert schema({"enabled": "on", "interval_hours": "6", "keep": "3"})["interval_hours"] == 6.0
    for bad in ({"keep": 0}, {"interval_hours": 0.01}, {"directory": ""}, {"every": 1}):
        with pytest.raises(vol.Invalid):
            schema(bad)


def test_from_config_puts_the_directory_under_the_data_dir(tmp_path: Path) -> None:
    section = vol.Schema(BACKUP_SCHEMA)({"interval_hours": 2, "keep": 3, "compress": False})
    scheduler = BackupScheduler.from_config(tmp_path / "db", tmp_path, section, None)
    assert (scheduler.directory, scheduler.interval, scheduler.keep, scheduler.compress) == (
        tmp_path / "backups",
        7200.0,
        3,
        False,
    )
    absolute = BackupScheduler.from_config(tmp_path / "db", tmp_path, {**section, "directory": "/srv/b"}, None)
    assert absolute.directory == Path("/srv/b")


async def test_backs_up_on_schedule_keeping_the_newest(database: Path, tmp_path: Path) -> None:
    directory = tmp_path / "data" / "backups"
    directory.mkdir()
    foreign = [directory / "notes.txt", directory / backup_name(database, T0 - timedelta(days=9), True, manual=True)]
    for path in foreign:
        path.write_text("keep me")
    outcomes: list[BackupOutcome] = []
    scheduler = BackupScheduler(
        database,
        directory,
        interval=3600,
        keep=2,
        on_result=outcomes.append,
        first_delay=0,
        clock=ticking(timedelta(hours=1)),
    )
    scheduler.start()
    try:
        await wait_for(lambda: len(outcomes) >= 4)
    finally:
        await scheduler.stop()
    assert not scheduler.running
    assert all(outcome.ok for outcome in outcomes)
    kept = [path for _, path in scheduled_backups(directory, database)]
    assert kept == [outcome.path for outcome in outcomes[::-1][:2]]
    assert all(path.name.endswith(".db.gz") for path in kept)
    assert all(path.read_text() == "keep me" for path in foreign)
    assert sorted(p.name for p in directory.iterdir()) == sorted([*(p.name for p in foreign), *(p.name for p in kept)])
    target = tmp_path / "restored" / "trackingbms.db"
    assert restore_backup(kept[0], target, yes) is not None
    assert dump(target) == dump(database)


async def test_failures_are_reported_and_the_schedule_goes_on(tmp_path: Path) -> None:
    outcomes: list[BackupOutcome] = []

    def report(outcome: BackupOutcome) -> None:
        outcomes.append(outcome)
        raise RuntimeError("a broken callback does not stop the schedule")

    scheduler = BackupScheduler(
        tmp_path / "missing.db",
        tmp_path / "backups",
        interval=60,
        keep=1,
        on_result=report,
        first_delay=0,
        clock=ticking(timedelta(minutes=1)),
    )
    scheduler.start()
    try:
        await wait_for(lambda: len(outcomes) >= 2)
    finally:
        await scheduler.stop()
    assert not any(outcome.ok for outcome in outcomes)
    assert outcomes[0].message == f"database not found: {tmp_path / 'missing.db'}"
    assert outcomes[0].path is None


def test_next_delay_follows_the_newest_backup(database: Path, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    scheduler = BackupScheduler(database, directory, interval=24 * 3600, keep=3, first_delay=60, clock=lambda: T0)
    assert scheduler.next_delay() == 60  # none yet: soon after start
    directory.mkdir()
    (directory / backup_name(database, T0 - timedelta(hours=1), True)).write_bytes(b"")
    assert scheduler.next_delay() == 23 * 3600
    (directory / backup_name(database, T0 - timedelta(days=3), False)).write_bytes(b"")
    assert scheduler.next_delay() == 23 * 3600
    overdue = BackupScheduler(
        database, directory, interval=3600, keep=3, first_delay=60, clock=lambda: T0 + timedelta(days=2)
    )
    assert overdue.next_delay() == 60


def test_prune_touches_only_scheduled_backups_of_this_database(tmp_path: Path) -> None:
    db = tmp_path / "trackingbms.db"
    names = [backup_name(db, T0 + timedelta(hours=h), h % 2 == 0) for h in range(5)]
    others = ["other-20240701T060000Z.db", backup_name(db, T0, True, manual=True), ".trackingbms.db.x.tmp", "readme"]
    for name in names + others:
        (tmp_path / name).write_bytes(b"")
    removed = prune(tmp_path, db, keep=2)
    assert sorted(p.name for p in removed) == sorted(names[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[3:] + others)
    assert prune(tmp_path / "absent", db, keep=2) == []


async def test_stop_abandons_a_backup_in_progress(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()

    def slow_backup(*_args: Any, abort: threading.Event, **_kwargs: Any) -> Any:
        started.set()
        assert abort.wait(timeout=60)
        raise BackupCancelledError("backup cancelled")

    monkeypatch.setattr(module, "create_backup", slow_backup)
    outcomes: list[BackupOutcome] = []
    scheduler = BackupScheduler(
        database, tmp_path / "b", interval=3600, keep=1, on_result=outcomes.append, first_delay=0
    )
    scheduler.start()
    await wait_for(started.is_set)
    await scheduler.stop()
    assert outcomes == []  # stopping is not a failure
    assert not scheduler.running


async def test_stop_while_waiting_and_restart(database: Path, tmp_path: Path) -> None:
    outcomes: list[BackupOutcome] = []
    scheduler = BackupScheduler(database, tmp_path / "b", interval=3600, keep=1, on_result=outcomes.append)
    scheduler.start()
    scheduler.start()  # already running: nothing happens
    assert scheduler.running
    await scheduler.stop()
    assert outcomes == []
    scheduler.first_delay = 0
    scheduler.start()
    await wait_for(lambda: outcomes)
    await scheduler.stop()
    assert outcomes[0].ok
    assert outcomes[0].path is not None
    assert outcomes[0].path.exists()


async def test_run_once_reports_a_failed_prune(database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any) -> list[Path]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(module, "prune", broken)
    outcomes: list[BackupOutcome] = []
    scheduler = BackupScheduler(database, tmp_path / "b", interval=3600, keep=1, on_result=outcomes.append)
    outcome = await scheduler.run_once()
    assert outcome is not None
    assert outcomes == [outcome]
    assert not outcome.ok
    assert outcome.message == f"cannot prune old backups in {tmp_path / 'b'}: Permission denied"
    assert outcome.path is not None
    assert outcome.path.exists()
