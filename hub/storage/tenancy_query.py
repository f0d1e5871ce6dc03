"""The SQL pieces the tenancy store shares between backends: tables, rows, listing clauses."""

from __future__ import annotations

import abc
import json
import re
from datetime import datetime
from typing import Any, Protocol

from hub.storage.tenancy import ClientRecord, FieldDef, FieldError, ListQuery, PlacedBattery, SiteRecord

# entity -> (table, column of its parent in the tree, extra columns read)
TABLES = {
    "client": ("clients", "parent_id", ""),
    "site": ("sites", "client_id", ", timezone"),
    "battery": ("batteries", "site_id", ", driver"),
}
_SORTS = ("name", "id", "created_at")


class Tx(Protocol):
    """SQL with ``?`` placeholders on one connection (in a transaction for writes)."""

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows as tuples."""
        ...

    async def execute(self, sql: str, *args: Any) -> int:
        """The number of rows changed."""
        ...


class Dialect(abc.ABC):
    """What differs between the backends' SQL."""

    collate = ""

    @abc.abstractmethod
    def custom(self, name: str, kind: str) -> str:
        """The value of a custom field (a checked name) as a sortable SQL expression; NULL when absent."""

    @abc.abstractmethod
    def remove_key(self, name: str) -> str:
        """An expression: ``custom`` without the key ``name``."""

    @abc.abstractmethod
    def in_list(self, column: str, values: list[str]) -> tuple[str, list[Any]]:
        """``column`` among ``values``: the condition and its arguments."""


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _client(row: tuple[Any, ...]) -> ClientRecord:
    return ClientRecord(row[0], row[1], row[2], json.loads(row[3]), _time(row[4]))


def _site(row: tuple[Any, ...]) -> SiteRecord:
    return SiteRecord(row[0], row[1], row[2], row[5], json.loads(row[3]), _time(row[4]))


def _battery(row: tuple[Any, ...]) -> PlacedBattery:
    return PlacedBattery(row[0], row[1], row[5], row[2], json.loads(row[3]), _time(row[4]))


BUILD = {"client": _client, "site": _site, "battery": _battery}


def list_where(
    tenant_id: str, dialect: Dialect, entity: str, query: ListQuery, defs: dict[str, FieldDef]
) -> tuple[str, list[Any]]:
    """The WHERE clause (``?`` placeholders) and arguments of a listing."""
    parent = TABLES[entity][1]
    where, args = ["tenant_id = ?"], [tenant_id]
    if query.top:
        where.append(f"{parent} IS NULL")
    elif query.parent is not None:
        where.append(f"{parent} = ?")
        args.append(query.parent)
    if query.search:
        where.append("LOWER(name) LIKE ? ESCAPE '\\'")
        args.append("%" + re.sub(r"([\\%_])", r"\\\1", query.search.lower()) + "%")
    if query.within is not None:
        cond, values = dialect.in_list("id", sorted(query.within)) if query.within else ("1 = 0", [])
        where.append(cond)
        args.extend(values)
    errors = []
    for name, value in query.custom.items():
        spec = defs.get(name)
        if spec is None:
            errors.append({"path": f"custom.{name}", "message": "no such custom field"})
            continue
        where.append(f"{dialect.custom(name, spec.type)} = ?")
        args.append(value)
    if errors:
        raise FieldError(errors)
    return " AND ".join(where), args


def list_order(dialect: Dialect, query: ListQuery, defs: dict[str, FieldDef]) -> str:
    """The ORDER BY clause of a listing (ties broken by id)."""
    way = " DESC" if query.descending else ""
    if query.sort in _SORTS:
        expr = query.sort + (dialect.collate if query.sort != "created_at" else "")
        return f"{expr}{way}, id{dialect.collate}"
    name = query.sort.removeprefix("custom.")
    spec = defs.get(name)
    if not query.sort.startswith("custom.") or spec is None:
        raise FieldError([{"path": "sort", "message": f"cannot sort by {query.sort!r}"}])
    expr = dialect.custom(name, spec.type) + (dialect.collate if spec.type != "number" else "")
    # Rows without a value come last whichever way the sort goes.
    return f"CASE WHEN {expr} IS NULL THEN 1 ELSE 0 END, {expr}{way}, id{dialect.collate}"
