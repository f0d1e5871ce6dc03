"""The alert, rule, outbox and scope stores of one tenant on both backends, one SQL text for both."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

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
from hub.storage.sql import NO_LIMIT, Sql, SqlSource

_ALERT_COLUMNS = (
    "id, rule_id, kind, battery_id, severity, state, raised_at, metric, value, threshold, message, details, "
    "acknowledged_at, acknowledged_by, comment, cleared_at"
)
_ALERT_UPSERT = (
    f"INSERT INTO alerts (tenant_id, {_ALERT_COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, 18))}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in _ALERT_COLUMNS.split(",")[1:])
    # Never another tenant's alert, even one inserted by a concurrent transaction after the check.
    + " WHERE alerts.tenant_id = excluded.tenant_id"
)
_OUTBOX_COLUMNS = "id, channel, key, payload, created_at, attempts, next_attempt_at, last_error"
# Deepest client nesting followed when building a scope; a cycle cannot make it loop forever.
_MAX_DEPTH = 64


def _alert_from_row(row: Sequence[Any], when: Any) -> AlertRecord:
    return AlertRecord(
        id=row[0],
        rule_id=row[1],
        kind=row[2],
        battery_id=row[3],
        severity=row[4],
        state=row[5],
        raised_at=when(row[6]),
        metric=row[7],
        value=row[8],
        threshold=row[9],
        message=json.loads(row[10]),
        details=json.loads(row[11]),
        acknowledged_at=when(row[12]),
        acknowledged_by=row[13],
        comment=row[14],
        cleared_at=when(row[15]),
    )


def _outbox_from_row(row: Sequence[Any], when: Any) -> OutboxItem:
    return OutboxItem(
        id=int(row[0]),
        channel=row[1],
        key=row[2],
        payload=json.loads(row[3]),
        created_at=when(row[4]),
        attempts=int(row[5]),
        next_attempt_at=when(row[6]),
        last_error=row[7],
    )


def alert_filter(db: Sql, tenant_id: str, **criteria: Any) -> tuple[str, list[Any]]:
    """The WHERE clause (``$n`` placeholders) and arguments of an alert listing."""
    where: list[str] = []
    args: list[Any] = []

    def add(condition: str, *values: Any) -> None:
        marks = [f"${len(args) + n}" for n in range(1, len(values) + 1)]
        args.extend(values)
        where.append(condition.format(*marks))

    add("tenant_id = {}", tenant_id)
    for key in ("battery_id", "severity", "rule_id"):
        if criteria.get(key) is not None:
            add(f"{key} = {{}}", criteria[key])
    if criteria.get("battery_ids") is not None:
        ids = sorted(criteria["battery_ids"])
        add(f"battery_id IN ({', '.join('{}' for _ in ids)})" if ids else "FALSE", *ids)
    state = criteria.get("state")
    if state == "open":
        where.append("state <> 'cleared'")
    elif state is not None:
        if state not in ALERT_STATES:
            raise ValueError(f"unknown alert state {state!r}")
        add("state = {}", state)
    if criteria.get("start") is not None:
        add("raised_at >= {}", db.time(criteria["start"]))
    if criteria.get("end") is not None:
        add("raised_at <= {}", db.time(criteria["end"]))
    return " AND ".join(where), args


class SqlRecords(AlertStore, OutboxStore, ScopeStore):
    """Mixed into a tenant store, which gives its storage (``sql_read``/``sql_write``) and tenant."""

    tenant_id: str

    def _source(self) -> SqlSource:
        raise NotImplementedError

    async def save_alert(self, alert: AlertRecord) -> None:
        async with self._source().sql_write("alert write") as db:
            t = db.time
            values = (
                alert.id, alert.rule_id, alert.kind, alert.battery_id, alert.severity, alert.state, t(alert.raised_at),
                alert.metric, alert.value, alert.threshold, json.dumps(alert.message),
                json.dumps(alert.details, default=str), t(alert.acknowledged_at), alert.acknowledged_by, alert.comment,
                t(alert.cleared_at),
            )  # fmt: skip
            # Row-locked where the backend has row locks: a concurrent save of the id waits here.
            owner = await db.fetch(f"SELECT tenant_id FROM alerts WHERE id = $1{db.lock_rows}", alert.id)
            if owner and owner[0][0] != self.tenant_id:
                raise StorageError(f"alert {alert.id} belongs to another tenant")
            if await db.execute(_ALERT_UPSERT, self.tenant_id, *values) == 0:
                raise StorageError(f"alert {alert.id} belongs to another tenant")

    async def get_alert(self, alert_id: str) -> AlertRecord | None:
        async with self._source().sql_read("alert read") as db:
            sql = f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE tenant_id = $1 AND id = $2"
            rows = await db.fetch(sql, self.tenant_id, alert_id)
            return _alert_from_row(rows[0], db.read_time) if rows else None

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
        async with self._source().sql_read("alert read") as db:
            where, args = alert_filter(
                db,
                self.tenant_id,
                battery_id=battery_id,
                battery_ids=battery_ids,
                state=state,
                severity=severity,
                rule_id=rule_id,
                start=start,
                end=end,
            )
            (total,) = await db.fetch(f"SELECT COUNT(*) FROM alerts WHERE {where}", *args)
            n = len(args)
            rows = await db.fetch(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE {where} "
                f"ORDER BY raised_at DESC, id{db.bytewise} LIMIT ${n + 1} OFFSET ${n + 2}",
                *args,
                limit,
                offset,
            )
            return [_alert_from_row(r, db.read_time) for r in rows], int(total[0])

    async def add_alert_event(self, alert_id: str, kind: str, details: dict[str, Any] | None = None) -> None:
        async with self._source().sql_write("alert event write") as db:
            # INSERT ... SELECT: an alert of another tenant (or none) adds nothing.
            added = await db.execute(
                "INSERT INTO alert_events (alert_id, ts, kind, details) "
                "SELECT id, $1, $2, $3 FROM alerts WHERE tenant_id = $4 AND id = $5",
                db.time(utc_now()),
                kind,
                json.dumps(details or {}, default=str),
                self.tenant_id,
                alert_id,
            )
            if added == 0:
                raise KeyError(f"no alert {alert_id!r}")

    async def alert_events(self, alert_id: str) -> list[AlertEvent]:
        async with self._source().sql_read("alert read") as db:
            rows = await db.fetch(
                "SELECT e.alert_id, e.kind, e.ts, e.details FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
                "WHERE a.tenant_id = $1 AND e.alert_id = $2 ORDER BY e.id",
                self.tenant_id,
                alert_id,
            )
            return [AlertEvent(r[0], r[1], _time(db, r[2]), json.loads(r[3])) for r in rows]

    async def save_rule(self, rule_id: str, definition: dict[str, Any]) -> None:
        async with self._source().sql_write("rule write") as db:
            now = db.time(utc_now())
            await db.execute(
                "INSERT INTO alert_rules (tenant_id, id, definition, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $4) ON CONFLICT (tenant_id, id) DO UPDATE SET "
                "definition = excluded.definition, updated_at = excluded.updated_at",
                self.tenant_id,
                rule_id,
                json.dumps(definition),
                now,
            )

    async def rules(self) -> dict[str, dict[str, Any]]:
        async with self._source().sql_read("rule read") as db:
            sql = f"SELECT id, definition FROM alert_rules WHERE tenant_id = $1 ORDER BY id{db.bytewise}"
            return {str(r[0]): json.loads(r[1]) for r in await db.fetch(sql, self.tenant_id)}

    async def delete_rule(self, rule_id: str) -> bool:
        async with self._source().sql_write("rule delete") as db:
            sql = "DELETE FROM alert_rules WHERE tenant_id = $1 AND id = $2"
            return await db.execute(sql, self.tenant_id, rule_id) > 0

    async def outbox_add(self, channel: str, key: str, payload: dict[str, Any]) -> int:
        async with self._source().sql_write("outbox write") as db:
            now = db.time(utc_now())
            await db.execute(
                "INSERT INTO outbox (tenant_id, channel, key, payload, created_at, next_attempt_at) "
                "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (tenant_id, channel, key) DO NOTHING",
                self.tenant_id,
                channel,
                key,
                json.dumps(payload, default=str),
                now,
            )
            # Inserted above, or queued already: the first one is kept.
            sql = "SELECT id FROM outbox WHERE tenant_id = $1 AND channel = $2 AND key = $3"
            ((found,),) = await db.fetch(sql, self.tenant_id, channel, key)
        return int(found)

    async def outbox_due(self, channel: str, now: datetime, limit: int = 100) -> list[OutboxItem]:
        return await self._outbox_select(channel, now, limit)

    async def outbox_pending(self, channel: str) -> list[OutboxItem]:
        return await self._outbox_select(channel, None, NO_LIMIT)

    async def _outbox_select(self, channel: str, due: datetime | None, limit: int) -> list[OutboxItem]:
        async with self._source().sql_read("outbox read") as db:
            args: list[Any] = [self.tenant_id, channel]
            when = ""
            if due is not None:
                args.append(db.time(due))
                when = f"AND next_attempt_at <= ${len(args)} "
            rows = await db.fetch(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE tenant_id = $1 AND channel = $2 AND delivered_at IS NULL "
                f"{when}ORDER BY id LIMIT ${len(args) + 1}",
                *args,
                limit,
            )
            return [_outbox_from_row(r, db.read_time) for r in rows]

    async def outbox_retry(self, item_id: int, next_attempt_at: datetime, error: str) -> None:
        async with self._source().sql_write("outbox write") as db:
            await db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 "
                "WHERE tenant_id = $3 AND id = $4",
                db.time(next_attempt_at),
                error,
                self.tenant_id,
                item_id,
            )

    async def outbox_done(self, item_id: int) -> None:
        async with self._source().sql_write("outbox write") as db:
            await db.execute(
                "UPDATE outbox SET attempts = attempts + 1, delivered_at = $1, last_error = NULL "
                "WHERE tenant_id = $2 AND id = $3",
                db.time(utc_now()),
                self.tenant_id,
                item_id,
            )

    async def battery_scope(self, battery_id: str) -> BatteryScope:
        async with self._source().sql_read("scope read") as db:
            found = await db.fetch(
                "SELECT b.site_id, s.client_id, s.timezone FROM batteries b LEFT JOIN sites s "
                "ON s.tenant_id = b.tenant_id AND s.id = b.site_id WHERE b.tenant_id = $1 AND b.id = $2",
                self.tenant_id,
                battery_id,
            )
            if not found or found[0][0] is None:
                return BatteryScope()
            site_id, client, timezone = found[0]
            path: list[str] = []
            while client is not None and client not in path and len(path) < _MAX_DEPTH:
                path.append(client)
                sql = "SELECT parent_id FROM clients WHERE tenant_id = $1 AND id = $2"
                parent = await db.fetch(sql, self.tenant_id, client)
                client = parent[0][0] if parent else None
        return BatteryScope(site_id=site_id, client_path=tuple(reversed(path)), timezone=timezone)


def _time(db: Sql, value: Any) -> datetime:
    moment = db.read_time(value)
    if moment is None:
        raise StorageError("a stored event has no time")
    return moment
