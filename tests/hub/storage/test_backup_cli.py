"""The ``backup`` and ``restore`` commands: an in-process parser, subprocesses, and a real full disk."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hub.storage.backup import DEFAULT_CONFIG, ProgressBar, add_backup_commands, locate
from tests.helpers import SIMULATED_CONFIG, HubFactory, wait_for
from tests.hub.storage.test_backup import dump, fill, names

ROOT = Path(__file__).resolve().parents[3]
# What ``python -m hub backup ...`` will run once hub/cli.py registers the commands.
DRIVER = """
import argparse, sys
from hub.storage.backup import add_backup_commands
parser = argparse.ArgumentParser(prog="trackingbms")
add_backup_commands(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def cli(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="trackingbms")
    add_backup_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return int(args.func(args))


def run(*argv: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", DRIVER, *map(str, argv)]
    return subprocess.run(command, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120, check=False)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    fill(tmp_path / "data" / "trackingbms.db")
    return tmp_path / "data"


def test_backup_uses_the_configured_paths(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data_dir / "trackingbms.db").rename(data_dir / "bms.sqlite")
    config = write(
        tmp_path / "hub.yaml",
        f"""
        hub:
          data_dir: {data_dir}
        storage:
          path: bms.sqlite
          backups:
            directory: saved
            compress: false
        batteries: []
        """,
    )
    assert cli("backup", "--config", config) == 0
    out = capsys.readouterr().out
    made = list((data_dir / "saved").iterdir())
    assert len(made) == 1
    assert re.fullmatch(r"bms-manual-\d{8}T\d{6}Z\.db", made[0].name)
    assert out.startswith(f"{made[0]}: ") and "schema" in out
    assert dump(made[0]) == dump(data_dir / "bms.sqlite")


def test_backup_and_restore_with_data_dir_and_output(data_dir: Path, tmp_path: Path) -> None:
    before = dump(data_dir / "trackingbms.db")
    assert cli("backup", "--data-dir", data_dir, "--output", tmp_path / "b.db.gz") == 0
    (data_dir / "trackingbms.db").unlink()
    assert cli("restore", tmp_path / "b.db.gz", "--data-dir", data_dir, "--yes") == 0
    assert dump(data_dir / "trackingbms.db") == before


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("yes\n", 0), ("n\n", 1), ("", 1)])
def test_restore_asks_first(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answer: str,
    code: int,
) -> None:
    assert cli("backup", "--data-dir", data_dir, "--output", tmp_path / "b.db") == 0
    fill(data_dir / "trackingbms.db", readings=5, start=9000)
    changed = dump(data_dir / "trackingbms.db")
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer))

    assert cli("restore", tmp_path / "b.db", "--data-dir", data_dir) == code

    err = capsys.readouterr().err
    assert "(schema " in err and "Restore? [y/N]" in err
    assert "will be kept as" in err
    kept = [p for p in data_dir.iterdir() if "before-restore" in p.name]
    if code == 0:
        assert dump(data_dir / "trackingbms.db") == dump(tmp_path / "b.db")
        assert [dump(p) for p in kept] == [changed]
    else:
        assert "restore cancelled: nothing was changed" in err
        assert dump(data_dir / "trackingbms.db") == changed
        assert kept == []


async def test_restore_is_refused_while_the_hub_runs(start_hub: HubFactory, tmp_path: Path) -> None:
    hub = await start_hub(SIMULATED_CONFIG)
    config = tmp_path / "trackingbms.yaml"
    database = tmp_path / "data" / "trackingbms.db"
    await wait_for(lambda: len(dump(database)["readings"]) >= 2)
    # A backup works while the hub runs and writes.
    assert await asyncio.to_thread(cli, "backup", "--config", config, "--output", tmp_path / "live.db.gz") == 0

    result = await asyncio.to_thread(run, "restore", tmp_path / "live.db.gz", "--config", config, "--yes")

    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "is in use (is the hub running? stop it before restoring)" in result.stderr
    assert hub.storage is not None
    assert await hub.storage.schema_version() > 0  # the hub still works
    assert "trackingbms.db" in names(database.parent)
    assert not [name for name in names(database.parent) if "before-restore" in name]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backup", "--data-dir", "{tmp}/missing"], "backup failed: database not found: {tmp}/missing/trackingbms.db"),
        (["backup", "--data-dir", "{tmp}/data", "--output", "{tmp}/data/trackingbms.db/x.db"], "Not a directory"),
        (["restore", "{tmp}/nothing.db", "--data-dir", "{tmp}/data", "--yes"], "restore failed: backup not found"),
        (["restore", "{tmp}/data/trackingbms.db", "--data-dir", "{tmp}/data", "--yes"], "is not a valid backup"),
    ],
)
def test_failures_are_one_line_without_traceback(data_dir: Path, tmp_path: Path, argv: list[str], message: str) -> None:
    (data_dir / "trackingbms.db").write_bytes(b"broken" * 100)
    result = run(*(arg.format(tmp=tmp_path) for arg in argv))
    assert result.returncode == 1
    assert result.stdout == ""
    assert message.format(tmp=tmp_path) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not [p.name for p in tmp_path.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]


def test_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "bad.yaml", "storage:\n  backups:\n    keep: 0\n")
    assert cli("backup", "--config", config) == 2
    assert "bad.yaml:3: storage.backups.keep: value must be at least 1" in capsys.readouterr().err
    config = write(tmp_path / "bad.yaml", "hub:\n  data_dir: x\nstorage:\n  backups:\n    bogus: 1\n")
    assert cli("backup", "--config", config) == 2
    assert "bad.yaml:5: storage.backups.bogus: unknown key" in capsys.readouterr().err
    assert cli("restore", "x.db", "--config", tmp_path / "none.yaml") == 2
    assert "cannot read config" in capsys.readouterr().err


def test_locate_defaults_without_a_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert not DEFAULT_CONFIG.exists()
    where = locate(None, None)
    assert where.database == Path("data/trackingbms.db")
    assert where.backup_dir == Path("data/backups")
    assert where.backups == {
        "enabled": False,
        "interval_hours": 24.0,
        "keep": 7,
        "directory": "backups",
        "compress": True,
    }
    DEFAULT_CONFIG.parent.mkdir()
    DEFAULT_CONFIG.write_text("hub:\n  data_dir: elsewhere\n")
    assert locate(None, Path("/srv/bms")).database == Path("/srv/bms/trackingbms.db")
    assert locate(None, None).database == Path("elsewhere/trackingbms.db")


def test_progress_bar_draws_in_place() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, width=10)
    for done in (0, 1, 1, 5, 10):
        bar(done, 10)
    bar.finish()
    frames = stream.getvalue().split("\r")[1:]
    assert frames[0] == "[..........]   0% 0/10 pages"
    assert frames[-1] == "[##########] 100% 10/10 pages\n"
    assert len(frames) == 4  # an unchanged percentage is not redrawn


def test_subprocess_round_trip(tmp_path: Path) -> None:
    fill(tmp_path / "data" / "trackingbms.db")
    before = dump(tmp_path / "data" / "trackingbms.db")
    made = run("backup", "--data-dir", tmp_path / "data")
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.split(":")[0])
    assert backup.parent == tmp_path / "data" / "backups"
    assert backup.name.endswith(".db.gz")
    fill(tmp_path / "data" / "trackingbms.db", readings=3, start=5000)
    restored = run("restore", backup, "--data-dir", tmp_path / "data", stdin="y\n")
    assert restored.returncode == 0, restored.stderr
    assert "the previous database is kept as" in restored.stdout
    assert dump(tmp_path / "data" / "trackingbms.db") == before


TMPFS_SCRIPT = """
set -e
mount -t tmpfs -o size=64k tmpfs "$1"
shift
code=0
"$@" || code=$?
ls -A "$OUT"
exit $code
"""


def test_a_really_full_disk(tmp_path: Path) -> None:
    """--output on a 64 KiB tmpfs mounted in a user namespace: SQLite itself meets ENOSPC."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-Urm", "true"], check=False).returncode:
        pytest.skip("cannot mount a tmpfs here (no user namespaces)")
    fill(tmp_path / "data" / "trackingbms.db", readings=3000)
    assert (tmp_path / "data" / "trackingbms.db").stat().st_size > 4 * 65536
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    for output in ("b.db", "b.db.gz"):
        command = [sys.executable, "-c", DRIVER, "backup", "--data-dir", tmp_path / "data", "--output", tiny / output]
        result = subprocess.run(
            ["unshare", "-Urm", "sh", "-c", TMPFS_SCRIPT, "sh", tiny, *map(str, command)],
            cwd=ROOT,
            env={"OUT": str(tiny), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 1, result.stderr
        assert result.stdout == ""  # nothing left on the full filesystem
        assert result.stderr.strip() == (
            f"backup failed: cannot back up {tmp_path / 'data' / 'trackingbms.db'} to {tiny / output}: "
            "no space left on device"
        )


def test_commands_are_registered_with_their_options() -> None:
    parser = argparse.ArgumentParser()
    add_backup_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["restore", "f.db.gz", "--config", "c.yaml", "--data-dir", "d", "--yes"])
    assert (args.file, args.config, args.data_dir, args.yes) == (Path("f.db.gz"), Path("c.yaml"), Path("d"), True)
    args = parser.parse_args(["backup"])
    assert (args.config, args.data_dir, args.output) == (None, None, None)
    assert json.dumps(sorted(vars(args))) == json.dumps(["command", "config", "data_dir", "func", "output"])
