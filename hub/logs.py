"""Logging: text or JSON lines, a rotating file written off the event loop, and an in-memory ring."""

from __future__ import annotations

import copy
import json
import logging
import logging.handlers
import queue
import threading
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_STD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def _module_of(record: logging.LogRecord) -> str:
    # Plugins log under their package name; the first dotted part names the module.
    return getattr(record, "module_name", None) or record.name.split(".")[0]


def record_to_dict(record: logging.LogRecord) -> dict[str, Any]:
    """A log record as a flat JSON-ready dict (extra fields included)."""
    entry: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
        "level": record.levelname,
        "logger": record.name,
        "module": _module_of(record),
        "message": record.getMessage(),
    }
    if record.exc_info and record.exc_info[1] is not None:
        entry["exception"] = logging.Formatter().formatException(record.exc_info)
    for key, value in vars(record).items():
        if key not in _STD_ATTRS and not key.startswith("_"):
            entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
    return entry


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_to_dict(record), ensure_ascii=False)


class RingBufferHandler(logging.Handler):
    """Keeps the last N records for GET /api/v1/core/logs."""

    def __init__(self, size: int = 5000) -> None:
        super().__init__()
        self.records: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock_ring = threading.Lock()
        self._seq = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = record_to_dict(record)
        except Exception:
            self.handleError(record)
            return
        with self._lock_ring:
            self._seq += 1
            entry["seq"] = self._seq
            self.records.append(entry)

    def resize(self, size: int) -> None:
        """Change the ring's capacity, keeping the newest records."""
        with self._lock_ring:
            self.records = deque(self.records, maxlen=size)

    def query(
        self,
        *,
        level: str | None = None,
        module: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Records matching the filters, newest first."""
        minimum = logging.getLevelName(level.upper()) if level else 0
        with self._lock_ring:
            items = list(self.records)
        out = []
        for entry in reversed(items):
            if logging.getLevelName(entry["level"]) < minimum:
                continue
            if module and entry["module"] != module and not entry["logger"].startswith(module):
                continue
            stamp = datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
            if (since and stamp < since) or (until and stamp > until):
                continue
            out.append(entry)
        return out


class _InProcessQueueHandler(logging.handlers.QueueHandler):
    """Queues records for the listener thread of this process with their exception info intact."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The stock prepare() renders the traceback into the message and drops exc_info (it expects
        # pickling), so JSON lines would lose their "exception" field. This queue never leaves the process.
        record = copy.copy(record)
        record.message = record.getMessage()
        record.msg, record.args = record.message, None
        return record


class LogSetup:
    """Owns the hub's handlers so the logging section can be reapplied at runtime."""

    def __init__(self) -> None:
        self.ring = RingBufferHandler()
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener: logging.handlers.QueueListener | None = None
        self._installed: list[logging.Handler] = []

    def apply(self, config: Mapping[str, Any], data_dir: Path, console: bool = True) -> None:
        """(Re)configure the root logger from the ``logging`` section."""
        self.close()
        formatter: logging.Formatter = (
            JsonFormatter()
            if config.get("format") == "json"
            else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        )
        sinks: list[logging.Handler] = []
        if console:
            sinks.append(logging.StreamHandler())
        if config.get("file"):
            path = data_dir / str(config["file"])
            path.parent.mkdir(parents=True, exist_ok=True)
            sinks.append(
                logging.handlers.RotatingFileHandler(
                    path,
                    maxBytes=int(config.get("max_bytes", 5_000_000)),
                    backupCount=int(config.get("backup_count", 5)),
                    encoding="utf-8",
                )
            )
        for sink in sinks:
            sink.setFormatter(formatter)
        # Console and file writes happen on a listener thread so the event loop never waits on I/O.
        self._listener = logging.handlers.QueueListener(self._queue, *sinks, respect_handler_level=False)
        self._listener.start()
        self.ring.resize(int(config.get("ring_size", 5000)))
        root = logging.getLogger()
        root.setLevel(str(config.get("level", "INFO")))
        self._installed = [_InProcessQueueHandler(self._queue), self.ring]
        for handler in self._installed:
            root.addHandler(handler)
        for name, level in dict(config.get("levels") or {}).items():
            logging.getLogger(name).setLevel(level)

    def close(self) -> None:
        """Flush and remove the handlers this setup installed."""
        root = logging.getLogger()
        for handler in self._installed:
            root.removeHandler(handler)
        self._installed = []
        if self._listener is not None:
            self._listener.stop()
            for handler in self._listener.handlers:
                handler.close()
            self._listener = None
