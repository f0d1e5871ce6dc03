"""SQLite implementation of the alert, rule, outbox and scope stores of one tenant."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.reading import utc_now
from hub.storage.base import StorageError
from hub.storage.records import (
    ALERT_STATES,
    AlertEvent,
    AlertRecord,
    AlertStore,
    BatteryScope,
    OutboxItem,
    OutboxStore,
    ScopeStore,
    iso,
    parse_iso,
)

if TYPE_CHECKING:
    from hub.storage.sqlite import SQLiteStorage

_ALERT_COLUMNS = (
    "id, rule_id, kind, battery_id, severity, state, raised_at, metric, value, threshold, message, details, "
    "acknowledged_at, acknowledged_by, comment, cleared_at"
)
_OUTBOX_COLUMNS = "id, channel, key, payload, created_at, attempts, next_attempt_at, last_error"
# Deepest client nesting followed when building a scope; a cycle cannot make it loop forever.
_MAX_DEPTH = 64


def _alert_from_row(row: Sequence[Any]) -> AlertRecord:
    return AlertRecord(
        id=row[0],
        rule_id=row[1],
        kind=row[2],
        battery_id=row[3],
        severity=row[4],
        state=row[5],
        raised_at=datetime.fromisoformat(row[6]),
        metric=row[7],
        value=row[8],
        threshold=row[9],
        message=json.loads(row[10]),
        details=json.loads(row[11]),
        acknowledged_at=parse_iso(row[12]),
        acknowledged_by=row[13],
        comment=row[14],
        cleared_at=parse_iso(row[15]),
    )


def _outbox_from_row(row: Sequence[Any]) -> OutboxItem:
    return OutboxItem(
        id=int(row[0]),
        channel=row[1],
        key=row[2],
        payload=json.loads(row[3]),
        created_at=datetime.fromisoformat(row[4]),
        attempts=int(row[5]),
        next_attempt_at=datetime.fromisoformat(row[6]),
        last_error=row[7],
    )


def alert_filter(tenant_id: str, **criteria: Any) -> tuple[str, list[Any]]:
    """The WHERE clause and arguments of an alert listing (shared with other SQL backends)."""
    where: list[str] = ["tenant_id = ?"]
    args: list[Any] = [tenant_id]
    for key in ("battery_id", "severity", "rule_id"):
        if criteria.get(key) is not None:
            where.append(f"{key} = ?")
            args.append(criteria[key])
    if criteria.get("battery_ids") is not None:
        ids = sorted(criteria["battery_ids"])
        where.append(f"battery_id IN ({', '.join('?' * len(ids))})" if ids else "0")
        args.extend(ids)
    state = criteria.get("state")
    if state == "open":
        where.append("state != 'cleared'")
    elif state is not None:
        if state not in ALERT_STATES:
            raise ValueError(f"unknown alert state {state!r}")
        where.append("state = ?")
        args.append(state)
    if criteria.get("start") is not None:
        where.append("raised_at >= ?")
        args.append(iso(criteria["start"]))
    if criteria.get("end") is not None:
        where.append("raised_at <= ?")
        args.append(iso(criteria["end"]))
    return " AND ".join(where), args


class SQLiteRecords(AlertStore, OutboxStore, ScopeStore):
    """Mixed into the SQLite tenant store."""

    storage: SQLiteStorage
    tenant_id: str

    async def save_alert(self, alert: AlertRecord) -> None:
        values = (
            alert.id,
            alert.rule_id,
            alert.kind,
            alert.battery_id,
            alert.severity,
            alert.state,
            iso(alert.raised_at),
            alert.metric,
            alert.value,
            alert.threshold,
            json.dumps(alert.message),
            json.dumps(alert.details, default=str),
            iso(alert.acknowledged_at),
            alert.acknowledged_by,
            alert.comment,
            iso(alert.cleared_at),
        )
        async with self.storage.transaction("alert write") as db:
            async with db.execute("SELECT tenant_id FROM alerts WHERE id = ?", (alert.id,)) as cur:
                owner = await cur.fetchone()
            if owner is not None and owner[0] != self.tenant_id:
                raise StorageError(f"alert {alert.id} belongs to another tenant")
            updates = ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in _ALERT_COLUMNS.split(",")[1:])
            await db.execute(
                f"INSERT INTO alerts (tenant_id, {_ALERT_COLUMNS}) VALUES (?, {', '.join('?' * len(values))}) "
                f"ON CONFLICT (id) DO UPDATE SET {updates}",
                (self.tenant_id, *values),
            )

    async def get_alert(self, alert_id: str) -> AlertRecord | None:
        async with self.storage.db.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE tenant_id = ? AND id = ?", (self.tenant_id, alert_id)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else _alert_from_row(row)

    async def alerts(
        self,
        *,
        battery_id: str | None = None,
        battery_ids: Collection[str] | None = None,
        state: str | None = None,
        severity: str | None = None,
        rule_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[AlertRecord], int]:
        where, args = alert_filter(
            self.tenant_id,
            battery_id=battery_id,
            battery_ids=battery_ids,
            state=state,
            severity=severity,
            rule_id=rule_id,
            start=start,
            end=end,
        )
        db = self.storage.db
        async with db.execute(f"SELECT COUNT(*) FROM alerts WHERE {where}", args) as cur:
            total = int((await cur.fetchone() or (0,))[0])
        async with db.execute(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE {where} ORDER BY raised_at DESC, id LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ) as cur:
            rows = await cur.fetchall()
        return [_alert_from_row(r) for r in rows], total

    async def add_alert_event(self, alert_id: str, kind: str, details: dict[str, Any] | None = None) -> None:
        async with self.storage.transaction("alert event write") as db:
            # INSERT ... SELECT: an alert of another tenant (or none) adds nothing.
            cur = await db.execute(
                "INSERT INTO alert_events (alert_id, ts, kind, details) "
                "SELECT id, ?, ?, ? FROM alerts WHERE tenant_id = ? AND id = ?",
                (iso(utc_now()), kind, json.dumps(details or {}, default=str), self.tenant_id, alert_id),
            )
            if cur.rowcount == 0:
                raise KeyError(f"no alert {alert_id!r}")

    async def alert_events(self, alert_id: str) -> list[AlertEvent]:
        async with self.storage.db.execute(
            "SELECT e.alert_id, e.kind, e.ts, e.details FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
            "WHERE a.tenant_id = ? AND e.alert_id = ? ORDER BY e.id",
            (self.tenant_id, alert_id),
        ) as cur:
            rows = await cur.fetchall()
        return [AlertEvent(r[0], r[1], datetime.fromisoformat(r[2]), json.loads(r[3])) for r in rows]

    async def save_rule(self, rule_id: str, definition: dict[str, Any]) -> None:
        now = iso(utc_now())
        async with self.storage.transaction("rule write") as db:
            await db.execute(
                "INSERT INTO alert_rules (tenant_id, id, definition, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, id) DO UPDATE SET definition = excluded.definition, "
                "updated_at = excluded.updated_at",
                (self.tenant_id, rule_id, json.dumps(definition), now, now),
            )

    async def rules(self) -> dict[str, dict[str, Any]]:
        async with self.storage.db.execute(
            "SELECT id, definition FROM alert_rules WHERE tenant_id = ? ORDER BY id", (self.tenant_id,)
        ) as cur:
            return {str(r[0]): json.loads(r[1]) for r in await cur.fetchall()}

    async def delete_rule(self, rule_id: str) -> bool:
        async with self.storage.transaction("rule delete") as db:
            cur = await db.execute("DELETE FROM alert_rules WHERE tenant_id = ? AND id = ?", (self.tenant_id, rule_id))
            return cur.rowcount > 0

    async def outbox_add(self, channel: str, key: str, payload: dict[str, Any]) -> int:
        now = iso(utc_now())
        async with self.storage.transaction("outbox write") as db:
            await db.execute(
                "INSERT INTO outbox (tenant_id, channel, key, payload, created_at, next_attempt_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, channel, key) DO NOTHING",
                (self.tenant_id, channel, key, json.dumps(payload, default=str), now, now),
            )
            async with db.execute(
                "SELECT id FROM outbox WHERE tenant_id = ? AND channel = ? AND key = ?", (self.tenant_id, channel, key)
            ) as cur:
                row = await cur.fetchone()
        assert row is not None  # inserted above or already there
        return int(row[0])

    async def outbox_due(self, channel: str, now: datetime, limit: int = 100) -> list[OutboxItem]:
        return await self._outbox_select(channel, "AND next_attempt_at <= ?", [iso(now)], limit)

    async def outbox_pending(self, channel: str) -> list[OutboxItem]:
        return await self._outbox_select(channel, "", [], -1)

    async def _outbox_select(self, channel: str, extra: str, args: list[Any], limit: int) -> list[OutboxItem]:
        async with self.storage.db.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE tenant_id = ? AND channel = ? AND delivered_at IS NULL "
            f"{extra} ORDER BY id LIMIT ?",
            [self.tenant_id, channel, *args, limit],
        ) as cur:
            return [_outbox_from_row(r) for r in await cur.fetchall()]

    async def outbox_retry(self, item_id: int, next_attempt_at: datetime, error: str) -> None:
        async with self.storage.transaction("outbox write") as db:
            await db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                "WHERE tenant_id = ? AND id = ?",
                (iso(next_attempt_at), error, self.tenant_id, item_id),
            )

    async def outbox_done(self, item_id: int) -> None:
        async with self.storage.transaction("outbox write") as db:
            await db.execute(
                "UPDATE outbox SET attempts = attempts + 1, delivered_at = ?, last_error = NULL "
                "WHERE tenant_id = ? AND id = ?",
                (iso(utc_now()), self.tenant_id, item_id),
            )

    async def battery_scope(self, battery_id: str) -> BatteryScope:
        db = self.storage.db
        async with db.execute(
            "SELECT b.site_id, s.client_id, s.timezone FROM batteries b LEFT JOIN sites s "
            "ON s.tenant_id = b.tenant_id AND s.id = b.site_id WHERE b.tenant_id = ? AND b.id = ?",
            (self.tenant_id, battery_id),
        ) as cur:
            row = await cur.fetchone()
        if row is None or row[0] is None:
            return BatteryScope()
        path: list[str] = []
        client = row[1]
        while client is not None and client not in path and len(path) < _MAX_DEPTH:
            path.append(client)
            async with db.execute(
                "SELECT parent_id FROM clients WHERE tenant_id = ? AND id = ?", (self.tenant_id, client)
            ) as cur:
                parent = await cur.fetchone()
            client = None if parent is None else parent[0]
        return BatteryScope(site_id=row[0], client_path=tuple(reversed(path)), timezone=row[2])
