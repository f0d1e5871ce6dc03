"""Tests for logging: the in-memory ring and its filters, JSON lines, and the rotating log file."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.logs import JsonFormatter, LogSetup, RingBufferHandler

T0 = datetime(2024, 3, 1, 8, 0, 0, tzinfo=UTC)


def record(logger: str, level: int, message: str, at: datetime, **extra: Any) -> logging.LogRecord:
    """A log record created at a chosen time."""
    return logging.makeLogRecord(
        {
            "name": logger,
            "levelno": level,
            "levelname": logging.getLevelName(level),
            "msg": message,
            "created": at.timestamp(),
            **extra,
        }
    )


@pytest.fixture
def ring() -> RingBufferHandler:
    handler = RingBufferHandler(size=100)
    entries = [
        ("hub.bus", logging.DEBUG, "debug from the bus", 0),
        ("hub.storage.recorder", logging.INFO, "stored 5", 10),
        ("trackingbms_daly.driver", logging.WARNING, "no answer", 20),
        ("hub.batteries", logging.ERROR, "pack offline", 30),
        ("trackingbms_daly.driver", logging.INFO, "answers to 0x40", 40),
    ]
    for logger, level, message, seconds in entries:
        handler.handle(record(logger, level, message, T0 + timedelta(seconds=seconds)))
    return handler


def messages(entries: list[dict[str, Any]]) -> list[str]:
    return [e["message"] for e in entries]


def test_query_returns_newest_first(ring: RingBufferHandler) -> None:
    result = ring.query()
    assert messages(result) == [
        "answers to 0x40",
        "pack offline",
        "no answer",
        "stored 5",
        "debug from the bus",
    ]
    assert [e["seq"] for e in result] == [5, 4, 3, 2, 1]


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("warning", ["pack offline", "no answer"]),
        ("ERROR", ["pack offline"]),
        ("info", ["answers to 0x40", "pack offline", "no answer", "stored 5"]),
        ("critical", []),
    ],
)
def test_query_by_minimum_level(ring: RingBufferHandler, level: str, expected: list[str]) -> None:
    assert messages(ring.query(level=level)) == expected


def test_query_by_module(ring: RingBufferHandler) -> None:
    assert messages(ring.query(module="trackingbms_daly")) == ["answers to 0x40", "no answer"]
    assert messages(ring.query(module="hub.storage")) == ["stored 5"]
    assert messages(ring.query(module="hub", level="error")) == ["pack offline"]
    assert ring.query(module="trackingbms_webui") == []


def test_query_by_time_range_is_inclusive(ring: RingBufferHandler) -> None:
    since, until = T0 + timedelta(seconds=10), T0 + timedelta(seconds=30)
    assert messages(ring.query(since=since, until=until)) == ["pack offline", "no answer", "stored 5"]
    assert messages(ring.query(since=T0 + timedelta(seconds=35))) == ["answers to 0x40"]
    assert messages(ring.query(until=T0)) == ["debug from the bus"]


def test_ring_keeps_only_the_newest_records() -> None:
    handler = RingBufferHandler(size=3)
    for i in range(10):
        handler.handle(record("hub", logging.INFO, f"m{i}", T0))
    assert messages(handler.query()) == ["m9", "m8", "m7"]
    handler.resize(2)
    assert messages(handler.query()) == ["m9", "m8"]


def test_module_name_extra_overrides_the_logger_prefix() -> None:
    handler = RingBufferHandler()
    handler.handle(record("hub.plugins", logging.INFO, "x", T0, module_name="webui"))
    assert handler.query()[0]["module"] == "webui"
    assert messages(handler.query(module="webui")) == ["x"]


def test_json_formatter_writes_one_parseable_object_with_extras() -> None:
    rec = record(
        "hub.batteries",
        logging.WARNING,
        "battery %s: %d bad frames",
        T0,
        args=("garage", 3),
        battery_id="garage",
        polls=12,
        link={"port": "/dev/ttyUSB0"},
    )
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    data = json.loads(line)
    assert data["time"] == "2024-03-01T08:00:00Z"
    assert data["level"] == "WARNING"
    assert data["logger"] == "hub.batteries"
    assert data["module"] == "hub"
    assert data["message"] == "battery garage: 3 bad frames"
    assert data["battery_id"] == "garage"
    assert data["polls"] == 12
    assert data["link"] == repr({"port": "/dev/ttyUSB0"})  # non-JSON values are written as repr


def test_json_formatter_puts_the_traceback_in_its_own_field() -> None:
    try:
        raise ValueError("bad frame")
    except ValueError:
        rec = logging.getLogger("hub.test").makeRecord(
            "hub.test", logging.ERROR, __file__, 1, "decode failed", (), exc_info=sys.exc_info()
        )
    data = json.loads(JsonFormatter().format(rec))
    assert data["message"] == "decode failed"
    assert "ValueError: bad frame" in data["exception"]


@pytest.fixture
def log_setup() -> Iterator[LogSetup]:
    """A LogSetup whose changes to the root and named loggers are undone afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    noisy = logging.getLogger("tbms.test.noisy")
    setup = LogSetup()
    yield setup
    setup.close()
    root.setLevel(level)
    root.handlers[:] = handlers
    noisy.setLevel(logging.NOTSET)


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_apply_writes_json_lines_to_a_file_under_the_data_dir(log_setup: LogSetup, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log_setup.apply(
        {"format": "json", "file": "logs/hub.log", "level": "INFO", "levels": {"tbms.test.noisy": "ERROR"}},
        data_dir,
        console=False,
    )
    logger = logging.getLogger("tbms.test.file")
    logger.info("pack %s online", "garage", extra={"battery_id": "garage"})
    logger.debug("below the configured level")
    logging.getLogger("tbms.test.noisy").warning("silenced by its own level")
    try:
        raise OSError("port vanished")
    except OSError:
        logger.exception("poll failed")
    log_setup.close()

    lines = read_json_lines(data_dir / "logs" / "hub.log")
    assert [line["message"] for line in lines] == ["pack garage online", "poll failed"]
    assert lines[0]["battery_id"] == "garage"
    assert lines[0]["level"] == "INFO"
    assert "OSError: port vanished" in lines[1]["exception"]
    # The ring sees the same records for the API.
    assert messages(log_setup.ring.query(module="tbms")) == ["poll failed", "pack garage online"]


def test_apply_writes_text_lines(log_setup: LogSetup, tmp_path: Path) -> None:
    log_setup.apply({"format": "text", "file": "hub.log", "level": "DEBUG"}, tmp_path, console=False)
    logging.getLogger("tbms.test.text").debug("hello %d", 42)
    log_setup.close()
    (line,) = (tmp_path / "hub.log").read_text(encoding="utf-8").splitlines()
    assert line.endswith("DEBUG   tbms.test.text: hello 42")


def test_log_file_rotates(log_setup: LogSetup, tmp_path: Path) -> None:
    log_setup.apply(
        {"format": "text", "file": "logs/hub.log", "level": "INFO", "max_bytes": 10_000, "backup_count": 2},
        tmp_path,
        console=False,
    )
    logger = logging.getLogger("tbms.test.rotate")
    for i in range(600):
        logger.info("line %04d %s", i, "x" * 80)
    log_setup.close()
    logs = tmp_path / "logs"
    assert sorted(p.name for p in logs.iterdir()) == ["hub.log", "hub.log.1", "hub.log.2"]
    assert all(p.stat().st_size <= 10_000 for p in logs.iterdir())
    assert "line 0599" in (logs / "hub.log").read_text(encoding="utf-8")


def test_reapplying_does_not_duplicate_output(log_setup: LogSetup, tmp_path: Path) -> None:
    log_setup.apply({"format": "json", "file": "first.log", "level": "INFO"}, tmp_path, console=False)
    log_setup.apply({"format": "json", "file": "second.log", "level": "INFO"}, tmp_path, console=False)
    logging.getLogger("tbms.test.reapply").info("once")
    log_setup.close()
    assert [line["message"] for line in read_json_lines(tmp_path / "second.log")] == ["once"]
    assert read_json_lines(tmp_path / "first.log") == []
    assert messages(log_setup.ring.query(module="tbms")) == ["once"]


def test_close_detaches_from_the_root_logger(log_setup: LogSetup, tmp_path: Path) -> None:
    log_setup.apply({"format": "json", "file": "hub.log", "level": "INFO"}, tmp_path, console=False)
    logging.getLogger("tbms.test.close").info("before")
    log_setup.close()
    logging.getLogger("tbms.test.close").info("after")
    assert [line["message"] for line in read_json_lines(tmp_path / "hub.log")] == ["before"]
    assert messages(log_setup.ring.query(module="tbms")) == ["before"]
