"""Dry runs: what a rule would do on each battery's recent readings, without raising anything."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from hub.reading import Reading, utc_now
from hub.storage.records import iso
from trackingbms_alerts.engine import Engine, Observation, Policy
from trackingbms_alerts.lifecycle import Battery
from trackingbms_alerts.metrics import reading_values
from trackingbms_alerts.payload import alert_payload
from trackingbms_alerts.rules import Rule
from trackingbms_alerts.windows import in_scope

if TYPE_CHECKING:
    from trackingbms_alerts.service import AlertService

MAX_READINGS = 5000
MARGIN = 60.0  # seconds of history before what the rule itself needs


def lookback(rule: Rule, limit: float) -> float:
    """Seconds of history a rule needs to show what it would do now (at most ``limit``)."""
    needed = max(rule.delay, rule.clear_delay) + (rule.window if rule.kind == "rate" else 0.0) + MARGIN
    return min(limit, needed)


async def _batteries(service: AlertService) -> list[str]:
    ids = list(service.hub.batteries.coordinators) if service.hub.batteries is not None else []
    with_history = [b.id for b in await service.hub.store.batteries()]
    return list(dict.fromkeys([*ids, *with_history]))


async def _readings(service: AlertService, battery_id: str, start: datetime, end: datetime) -> list[Reading]:
    readings = await service.hub.store.history(battery_id, start, end, MAX_READINGS)
    latest = service.hub.batteries.latest.get(battery_id) if service.hub.batteries is not None else None
    if latest is not None and (not readings or latest.timestamp > readings[-1].timestamp):
        readings.append(latest)  # the newest reading may still wait in the recorder's batch
    if not readings and (stored := await service.hub.store.latest(battery_id)) is not None:
        readings = [stored]
    return readings


def replay(
    rule: Rule, battery_id: str, battery_name: str, readings: list[Reading], analytics: Any, now: datetime
) -> dict[str, Any]:
    """Run a rule alone over readings (quiet hours and maintenance do not apply) and summarize."""
    counter = itertools.count(1)
    engine = Engine([rule], Policy(), new_id=lambda: f"test-{next(counter)}")
    engine.add_battery(Battery(battery_id, battery_name), readings[0].timestamp if readings else now)
    raised = 0
    for reading in readings:
        obs = Observation(
            battery_id,
            reading.timestamp,
            reading_values(reading, analytics),
            reading.alarms,
            reading.state.value if reading.state else None,
            received=reading.timestamp,
        )
        raised += sum(1 for d in engine.observe(obs) if d.action == "raised")
    if rule.kind == "stale" and readings:
        raised += sum(1 for d in engine.tick(now) if d.action == "raised")
    firing = [alert_payload(a, "test") for a in engine.open.values()]
    for item in firing:
        item.pop("tenant_id", None)
        item["id"] = None  # nothing was raised: no alert id
    values = reading_values(readings[-1], analytics) if readings else {}
    return {
        "readings": len(readings),
        "from": iso(readings[0].timestamp) if readings else None,
        "to": iso(readings[-1].timestamp) if readings else None,
        "latest_value": values.get(rule.metric) if rule.metric else None,
        "raised_in_window": raised,
        "would_fire": bool(firing),
        "alerts": firing,
    }


async def dry_run(
    service: AlertService, rule: Rule, battery_id: str | None, seconds: float | None
) -> list[dict[str, Any]]:
    """One result per battery (or for ``battery_id`` only), oldest history first."""
    now = utc_now()
    span = seconds if seconds is not None else lookback(rule, service.settings.test_lookback)
    results = []
    for candidate in await _batteries(service):
        if battery_id is not None and candidate != battery_id:
            continue
        battery = await service.battery(candidate)
        entry: dict[str, Any] = {"battery_id": candidate, "battery_name": battery.name}
        if not in_scope(rule.scope, candidate, battery.place):
            results.append({**entry, "in_scope": False, "would_fire": False, "alerts": []})
            continue
        readings = await _readings(service, candidate, now - timedelta(seconds=span), now)
        analytics = service.analytics.get(candidate)
        results.append({**entry, "in_scope": True, **replay(rule, candidate, battery.name, readings, analytics, now)})
    return results
