"""Audit log queries shared by both backends: filters, the SQL they become, and rows to entries."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

# The columns every audit read selects, in the order audit_row() decodes them.
COLUMNS = (
    "id, tenant_id, ts, actor, user_id, source_ip, action, target, request, result, details, "
    "request_id, before_json, after_json"
)
INSERT_COLUMNS = (
    "tenant_id",
    "ts",
    "actor",
    "user_id",
    "source_ip",
    "action",
    "target",
    "request",
    "result",
    "details",
    "request_id",
    "before_json",
    "after_json",
)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit entries to read; every field set narrows the selection (all must match)."""

    tenant: str | None = None  # None: every tenant (only on Storage; a TenantStore forces its own)
    actor: str | None = None  # username or user id
    action: str | None = None  # exact, or a prefix when it ends with "*" ("bms.*")
    target: str | None = None
    result: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # inclusive
    before_id: int | None = None  # keyset paging: only entries older than this id

    def scoped(self, tenant: str) -> AuditQuery:
        """The same query restricted to one tenant."""
        return replace(self, tenant=tenant)


def dump(value: Any) -> str | None:
    """JSON text of a recorded value; None stays NULL (nothing recorded)."""
    return None if value is None else json.dumps(value, default=str)


def _load(text: str | None, empty: Any) -> Any:
    return empty if text is None else json.loads(text)


def _like_prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def where_clause(
    query: AuditQuery, mark: Callable[[int], str], time_value: Callable[[datetime], Any]
) -> tuple[str, list[Any]]:
    """SQL condition and arguments; ``mark(n)`` writes the n-th numbered placeholder (1-based) of the
    backend (SQLite ``?n``, PostgreSQL ``$n``), so one argument may appear twice."""
    parts: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        parts.append(sql.replace("?", mark(len(args))))

    if query.tenant is not None:
        add("tenant_id = ?", query.tenant)
    if query.actor is not None:
        add("(actor = ? OR user_id = ?)", query.actor)  # one numbered placeholder used twice
    if query.action is not None and query.action.endswith("*"):
        add("action LIKE ? ESCAPE '\\'", _like_prefix(query.action[:-1]))
    elif query.action is not None:
        add("action = ?", query.action)
    for column, value in (("target", query.target), ("result", query.result)):
        if value is not None:
            add(f"{column} = ?", value)
    if query.start is not None:
        add("ts >= ?", time_value(query.start))
    if query.end is not None:
        add("ts <= ?", time_value(query.end))
    if query.before_id is not None:
        add("id < ?", query.before_id)
    return (" AND ".join(parts) or "TRUE"), args


def utc(moment: datetime) -> datetime:
    """A timezone-aware UTC time (naive times are taken as UTC, as the API documents)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def decode(row: Sequence[Any], timestamp: datetime) -> dict[str, Any]:
    """Keyword arguments of an AuditEntry from a row selected with COLUMNS."""
    return {
        "id": int(row[0]),
        "tenant_id": row[1],
        "timestamp": timestamp,
        "actor": row[3],
        "user_id": row[4],
        "source_ip": row[5],
        "action": row[6],
        "target": row[7],
        "request": _load(row[8], {}),
        "result": row[9],
        "details": _load(row[10], {}),
        "request_id": row[11],
        "before": _load(row[12], None),
        "after": _load(row[13], None),
    }
