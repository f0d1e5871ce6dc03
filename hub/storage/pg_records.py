"""PostgreSQL implementation of the alert, rule, outbox and scope stores of one tenant."""

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
)

if TYPE_CHECKING:
    from hub.storage.postgres import PostgreSQLStorage

_ALERT_COLUMNS = (
    "id, rule_id, kind, battery_id, severity, state, raised_at, metric, value, threshold, message, details, "
    "acknowledged_at, acknowledged_by, comment, cleared_at"
)
_ALERT_UPSERT = (
    f"INSERT INTO alerts (tenant_id, {_ALERT_COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 18))}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c.strip()} = EXCLUDED.{c.strip()}" for c in _ALERT_COLUMNS.split(",")[1:])
    # Never another tenant's alert, even one inserted by a concurrent transaction after the check.
    + " WHERE alerts.tenant_id = EXCLUDED.tenant_id"
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
        raised_at=row[6],
        metric=row[7],
        value=row[8],
        threshold=row[9],
        message=json.loads(row[10]),
        details=json.loads(row[11]),
        acknowledged_at=row[12],
        acknowledged_by=row[13],
        comment=row[14],
        cleared_at=row[15],
    )


def _outbox_from_row(row: Sequence[Any]) -> OutboxItem:
    return OutboxItem(
        id=int(row[0]),
        channel=row[1],
        key=row[2],
        payload=json.loads(row[3]),
        created_at=row[4],
        attempts=int(row[5]),
        next_attempt_at=row[6],
        last_error=row[7],
    )


def alert_filter(tenant_id: str, **criteria: Any) -> tuple[str, list[Any]]:
    """The WHERE clause ($1, $2... placeholders) and arguments of an alert listing."""
    where: list[str] = ["tenant_id = $1"]
    args: list[Any] = [tenant_id]

    def add(condition: str, value: Any) -> None:
        args.append(value)
        where.append(condition.replace("?", f"${len(args)}"))

    for key in ("battery_id", "severity", "rule_id"):
        if criteria.get(key) is not None:
            add(f"{key} = ?", criteria[key])
    if criteria.get("battery_ids") is not None:
        add("battery_id = ANY(?)", sorted(criteria["battery_ids"]))
    state = criteria.get("state")
    if state == "open":
        where.append("state <> 'cleared'")
    elif state is not None:
        if state not in ALERT_STATES:
            raise ValueError(f"unknown alert state {state!r}")
        add("state = ?", state)
    if criteria.get("start") is not None:
        add("raised_at >= ?", criteria["start"])
    if criteria.get("end") is not None:
        add("raised_at <= ?", criteria["end"])
    return " AND ".join(where), args


class PostgresRecords(AlertStore, OutboxStore, ScopeStore):
    """Mixed into the PostgreSQL tenant store."""

    storage: PostgreSQLStorage
    tenant_id: str

    async def save_alert(self, alert: AlertRecord) -> None:
        values = (
            alert.id, alert.rule_id, alert.kind, alert.battery_id, alert.severity, alert.state, alert.raised_at,
            alert.metric, alert.value, alert.threshold, json.dumps(alert.message),
            json.dumps(alert.details, default=str), alert.acknowledged_at, alert.acknowledged_by, alert.comment,
            alert.cleared_at,
        )  # fmt: skip
        async with self.storage.transaction("alert write") as conn:
            # FOR UPDATE: a concurrent save of the same id waits here instead of racing the check.
            owner = await conn.fetchval("SELECT tenant_id FROM alerts WHERE id = $1 FOR UPDATE", alert.id)
            if owner is not None and owner != self.tenant_id:
                raise StorageError(f"alert {alert.id} belongs to another tenant")
            if await conn.execute(_ALERT_UPSERT, self.tenant_id, *values) == "INSERT 0 0":
                raise StorageError(f"alert {alert.id} belongs to another tenant")

    async def get_alert(self, alert_id: str) -> AlertRecord | None:
        row = await self.storage.fetchrow(
            "alert read",
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE tenant_id = $1 AND id = $2",
            self.tenant_id,
            alert_id,
        )
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
        total = await self.storage.fetchval("alert read", f"SELECT COUNT(*) FROM alerts WHERE {where}", *args)
        n = len(args)
        rows = await self.storage.fetch(
            "alert read",
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE {where} "
            f'ORDER BY raised_at DESC, id COLLATE "C" LIMIT ${n + 1} OFFSET ${n + 2}',
            *args,
            limit,
            offset,
        )
        return [_alert_from_row(r) for r in rows], int(total)

    async def add_alert_event(self, alert_id: str, kind: str, details: dict[str, Any] | None = None) -> None:
        async with self.storage.transaction("alert event write") as conn:
            # INSERT ... SELECT: an alert of another tenant (or none) adds nothing.
            status = await conn.execute(
                "INSERT INTO alert_events (alert_id, ts, kind, details) "
                "SELECT id, $1, $2, $3 FROM alerts WHERE tenant_id = $4 AND id = $5",
                utc_now(),
                kind,
                json.dumps(details or {}, default=str),
                self.tenant_id,
                alert_id,
            )
            if status.endswith(" 0"):
                raise KeyError(f"no alert {alert_id!r}")

    async def alert_events(self, alert_id: str) -> list[AlertEvent]:
        rows = await self.storage.fetch(
            "alert read",
            "SELECT e.alert_id, e.kind, e.ts, e.details FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
            "WHERE a.tenant_id = $1 AND e.alert_id = $2 ORDER BY e.id",
            self.tenant_id,
            alert_id,
        )
        return [AlertEvent(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    async def save_rule(self, rule_id: str, definition: dict[str, Any]) -> None:
        async with self.storage.transaction("rule write") as conn:
            await conn.execute(
                "INSERT INTO alert_rules (tenant_id, id, definition, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $4) "
                "ON CONFLICT (tenant_id, id) DO UPDATE SET definition = EXCLUDED.definition, "
                "updated_at = EXCLUDED.updated_at",
                self.tenant_id,
                rule_id,
                json.dumps(definition),
                utc_now(),
            )

    async def rules(self) -> dict[str, dict[str, Any]]:
        rows = await self.storage.fetch(
            "rule read",
            'SELECT id, definition FROM alert_rules WHERE tenant_id = $1 ORDER BY id COLLATE "C"',
            self.tenant_id,
        )
        return {str(r[0]): json.loads(r[1]) for r in rows}

    async def delete_rule(self, rule_id: str) -> bool:
        async with self.storage.transaction("rule delete") as conn:
            status = await conn.execute(
                "DELETE FROM alert_rules WHERE tenant_id = $1 AND id = $2", self.tenant_id, rule_id
            )
        return not status.endswith(" 0")

    async def outbox_add(self, channel: str, key: str, payload: dict[str, Any]) -> int:
        async with self.storage.transaction("outbox write") as conn:
            added = await conn.fetchval(
                "INSERT INTO outbox (tenant_id, channel, key, payload, created_at, next_attempt_at) "
                "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (tenant_id, channel, key) DO NOTHING RETURNING id",
                self.tenant_id,
                channel,
                key,
                json.dumps(payload, default=str),
                utc_now(),
            )
            if added is None:  # already queued: keep the first
                added = await conn.fetchval(
                    "SELECT id FROM outbox WHERE tenant_id = $1 AND channel = $2 AND key = $3",
                    self.tenant_id,
                    channel,
                    key,
                )
        return int(added)

    async def outbox_due(self, channel: str, now: datetime, limit: int = 100) -> list[OutboxItem]:
        return await self._outbox_select(channel, now, limit)

    async def outbox_pending(self, channel: str) -> list[OutboxItem]:
        return await self._outbox_select(channel, None, None)

    async def _outbox_select(self, channel: str, due: datetime | None, limit: int | None) -> list[OutboxItem]:
        rows = await self.storage.fetch(
            "outbox read",
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE tenant_id = $1 AND channel = $2 AND delivered_at IS NULL "
            "AND ($3::timestamptz IS NULL OR next_attempt_at <= $3) ORDER BY id LIMIT $4",
            self.tenant_id,
            channel,
            due,
            limit,
        )
        return [_outbox_from_row(r) for r in rows]

    async def outbox_retry(self, item_id: int, next_attempt_at: datetime, error: str) -> None:
        async with self.storage.transaction("outbox write") as conn:
            await conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 "
                "WHERE tenant_id = $3 AND id = $4",
                next_attempt_at,
                error,
                self.tenant_id,
                item_id,
            )

    async def outbox_done(self, item_id: int) -> None:
        async with self.storage.transaction("outbox write") as conn:
            await conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, delivered_at = $1, last_error = NULL "
                "WHERE tenant_id = $2 AND id = $3",
                utc_now(),
                self.tenant_id,
                item_id,
            )

    async def battery_scope(self, battery_id: str) -> BatteryScope:
        async with self.storage.connection("scope read") as conn:
            row = await conn.fetchrow(
                "SELECT b.site_id, s.client_id, s.timezone FROM batteries b LEFT JOIN sites s "
                "ON s.tenant_id = b.tenant_id AND s.id = b.site_id WHERE b.tenant_id = $1 AND b.id = $2",
                self.tenant_id,
                battery_id,
            )
            if row is None or row[0] is None:
                return BatteryScope()
            path: list[str] = []
            client = row[1]
            while client is not None and client not in path and len(path) < _MAX_DEPTH:
                path.append(client)
                client = await conn.fetchval(
                    "SELECT parent_id FROM clients WHERE tenant_id = $1 AND id = $2", self.tenant_id, client
                )
        return BatteryScope(site_id=row[0], client_path=tuple(reversed(path)), timezone=row[2])
