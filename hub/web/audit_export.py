"""Audit entries as CSV or JSON-lines text, one chunk at a time (exports stream, never load everything)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from hub.storage.base import AuditEntry

FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
CSV_COLUMNS = (
    "id",
    "timestamp",
    "tenant_id",
    "actor",
    "user_id",
    "source_ip",
    "request_id",
    "action",
    "target",
    "result",
    "request",
    "details",
    "before",
    "after",
)
_JSON_COLUMNS = frozenset({"request", "details", "before", "after"})
# A spreadsheet runs a cell starting with these as a formula (CSV injection): such text cells get a
# leading apostrophe, which spreadsheets hide and which shows the text as it was.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(name: str, value: Any) -> Any:
    if name in _JSON_COLUMNS:
        return "" if value is None else json.dumps(value, default=str, sort_keys=True)
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_header() -> str:
    """The header line of a CSV export."""
    return _rows([list(CSV_COLUMNS)])


def _rows(rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


def csv_chunk(entries: Sequence[AuditEntry]) -> str:
    """CSV lines of entries, columns as in CSV_COLUMNS; JSON columns hold JSON text."""
    rows = []
    for entry in entries:
        data = entry.to_dict()
        rows.append([_cell(name, data[name]) for name in CSV_COLUMNS])
    return _rows(rows)


def jsonl_chunk(entries: Sequence[AuditEntry]) -> str:
    """One JSON object per line, as GET /api/v1/audit answers each entry."""
    return "".join(json.dumps(entry.to_dict(), default=str) + "\n" for entry in entries)
