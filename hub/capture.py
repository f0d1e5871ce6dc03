"""Raw-frame capture to rotating JSON-lines files, written on a background thread."""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hub.reading import utc_now

TX = "tx"  # host -> device
RX = "rx"  # device -> host


class _LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return str(record.msg)


class Capture:
    """Appends {"t", "dir", "hex"} lines to ``path``; rotates at max_bytes, keeps ``backups`` files."""

    def __init__(self, path: Path, max_bytes: int = 5_000_000, backups: int = 5) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        handler.setFormatter(_LineFormatter())
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        # File writes happen on the listener's thread, never on the event loop.
        self._listener = logging.handlers.QueueListener(self._queue, handler)
        self._listener.start()
        self._handler = handler
        self.records = 0

    def record(self, direction: str, data: bytes) -> None:
        """Queue one chunk of bytes seen on the link."""
        line = json.dumps({"t": utc_now().isoformat().replace("+00:00", "Z"), "dir": direction, "hex": data.hex()})
        self._queue.put(logging.makeLogRecord({"msg": line}))
        self.records += 1

    def close(self) -> None:
        """Flush and close the file."""
        self._listener.stop()
        self._handler.close()


def read_capture(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a capture file; a malformed line raises ValueError naming its line number."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                record["data"] = bytes.fromhex(record["hex"])
                if record["dir"] not in (TX, RX):
                    raise ValueError(f"dir must be tx or rx, not {record['dir']!r}")
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{path}:{number}: not a capture record: {err}") from err
            yield record
