"""End to end: simulated Daly batteries -> hub -> alerts stored, published, acknowledged over HTTP, cleared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from trackingbms_alerts.lifecycle import DATA_ALERT_ACKNOWLEDGED, DATA_ALERT_CLEARED, DATA_ALERT_GENERATED

from hub.auth.principal import local_admin
from hub.bus import Event
from hub.core import Hub
from hub.registry import Health
from hub.storage.base import StorageError
from hub.storage.records import AlertRecord
from hub.storage.sqlite import SQLiteTenantStore
from tests.helpers import SIMULATED_CONFIG, HubFactory, wait_for

ALERTS = """
alerts:
  check_interval: 0.1
  reminder_interval: 0
"""
CELL_RULE = {
    "id": "cell-test",
    "name": {"en": "Cell test", "fr": "Test cellule"},
    "kind": "threshold",
    "metric": "cell_max",
    "above": 1.0,  # every simulated LiFePO4 cell is above 1 V: fires at once
    "clear": 0.5,
    "delay": "0.5s",
    "severity": "critical",
    "scope": {"batteries": ["one"]},
}


def record(hub: Hub) -> list[Event]:
    events: list[Event] = []
    hub.bus.subscribe("data.alert.*", events.append, name="test.alert-events")
    return events


def named(events: list[Event], name: str, rule_id: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.name == name and e.data["rule_id"] == rule_id]


async def open_alerts(hub: Hub, rule_id: str) -> list[AlertRecord]:
    found, _ = await hub.store.alerts(rule_id=rule_id, state="open")
    return found


async def api(session: aiohttp.ClientSession, hub: Hub, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with session.request(method, f"{hub.http_url}{path}", **kwargs) as response:
        return response.status, await response.json()


async def stored_readings(hub: Hub, battery_id: str) -> int:
    return len(await hub.store.history(battery_id, None, None, 10_000))


async def test_raise_store_publish_acknowledge_restart_and_clear(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(SIMULATED_CONFIG + ALERTS)
    events = record(hub)
    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules", json=CELL_RULE)
    assert status == 201 and body["data"]["source"] == "api" and body["data"]["delay"] == 0.5

    generated = await wait_for(lambda: named(events, DATA_ALERT_GENERATED, "cell-test"))
    payload = generated[0]
    assert (payload["battery_id"], payload["battery_name"], payload["severity"]) == ("one", "Pack one", "critical")
    assert payload["state"] == "raised" and payload["value"] > 1.0 and payload["threshold"] == 1.0
    assert payload["message"]["en"].startswith("Pack one: highest cell voltage")
    stored = await wait_for(lambda: open_alerts(hub, "cell-test"))
    assert [a.id for a in stored] == [payload["id"]] and stored[0].battery_id == "one"

    status, body = await api(http, hub, "GET", "/api/v1/alerts", params={"state": "open", "rule_id": "cell-test"})
    assert status == 200 and [a["id"] for a in body["data"]] == [payload["id"]]
    assert body["meta"]["pagination"] == {"page": 1, "per_page": 100, "total": 1, "pages": 1}

    status, body = await api(
        http, hub, "POST", f"/api/v1/alerts/{payload['id']}/acknowledge", json={"comment": "on it"}
    )
    assert status == 200 and body["message"] == "acknowledged" and body["meta"]["stored"] is True
    assert (body["data"]["state"], body["data"]["acknowledged_by"], body["data"]["comment"]) == (
        "acknowledged",
        local_admin().username,
        "on it",
    )
    acked = await wait_for(lambda: named(events, DATA_ALERT_ACKNOWLEDGED, "cell-test"))
    assert acked[0]["id"] == payload["id"] and acked[0]["sequence"] > payload["sequence"]
    status, body = await api(http, hub, "POST", f"/api/v1/alerts/{payload['id']}/acknowledge", json={})
    assert status == 409
    status, body = await api(http, hub, "GET", f"/api/v1/alerts/{payload['id']}")
    assert [h["kind"] for h in body["data"]["history"]] == ["raised", "acknowledged"]
    status, body = await api(http, hub, "GET", "/api/v1/core/audit", params={"target": payload["id"]})
    assert [(e["action"], e["result"]) for e in body["data"]] == [
        ("alerts.acknowledge", "rejected"),
        ("alerts.acknowledge", "ok"),
    ]

    await hub.stop()
    again = await start_hub(SIMULATED_CONFIG + ALERTS)  # same data directory
    events = record(again)
    before = await stored_readings(again, "one")
    await wait_for(lambda: _more(again, before + 5))  # the rule was evaluated on new readings
    still = await open_alerts(again, "cell-test")
    assert [(a.id, a.state) for a in still] == [(payload["id"], "acknowledged")]  # the single open alert
    assert named(events, DATA_ALERT_GENERATED, "cell-test") == []

    changed = {**CELL_RULE, "above": 100.0, "clear": 90.0}
    status, body = await api(http, again, "PUT", "/api/v1/alerts/rules/cell-test", json=changed)
    assert status == 200 and body["data"]["above"] == 100.0
    cleared = await wait_for(lambda: named(events, DATA_ALERT_CLEARED, "cell-test"))
    assert cleared[0]["id"] == payload["id"] and cleared[0]["state"] == "cleared" and cleared[0]["value"] < 90
    assert await wait_for(lambda: _state(again, payload["id"], "cleared"))
    assert await open_alerts(again, "cell-test") == []


async def _more(hub: Hub, count: int) -> bool:
    return await stored_readings(hub, "one") >= count


async def _state(hub: Hub, alert_id: str, state: str) -> bool:
    found = await hub.store.get_alert(alert_id)
    return found is not None and found.state == state


RULE_FILE = """
rules:
  - id: bms-alarms
    name: {en: BMS alarm, fr: Alarme du BMS}
    kind: bms_alarm
  - id: silent
    kind: stale
    after: 1s
    scope: {batteries: [one]}
  - id: broken
    kind: threshold
    metric: cell_maximum
    above: 3.6
"""


async def test_rule_files_bms_alarm_bits_and_stale_links(start_hub: HubFactory, tmp_path: Path) -> None:
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "main.yaml").write_text(RULE_FILE.lstrip(), encoding="utf-8")
    # Pack two starts nearly empty: the simulated BMS sets its "SOC low" warning bit below 15 %.
    config = SIMULATED_CONFIG.replace("    seed: 2\n", "    seed: 2\n    soc: 8\n") + ALERTS
    hub = await start_hub(config)
    service = await wait_for(lambda: _degraded(hub))
    assert "main.yaml:11: rules[2].metric: unknown metric 'cell_maximum'" in str(service.reason)

    alarm = (await wait_for(lambda: open_alerts(hub, "bms-alarms:soc_low:warning")))[0]
    assert (alarm.battery_id, alarm.severity, alarm.kind) == ("two", "warning", "bms_alarm")
    assert alarm.message["fr"] == "two : avertissement du BMS : SOC bas"

    hub.simulators[0].faults.inject("asleep")  # type: ignore[attr-defined]
    stale = (await wait_for(lambda: open_alerts(hub, "silent")))[0]
    assert stale.battery_id == "one" and stale.value is not None and stale.value >= 1.0
    hub.simulators[0].faults.clear()  # type: ignore[attr-defined]
    assert await wait_for(lambda: _state(hub, stale.id, "cleared"), timeout=60)  # back after the reconnect backoff


def _degraded(hub: Hub) -> Any:
    service = hub.registry.get("plugin.alerts")
    return service if service is not None and service.health == Health.DEGRADED else None


async def test_a_failing_alert_store_degrades_the_plugin_and_nothing_is_lost(
    start_hub: HubFactory, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = SQLiteTenantStore.save_alert
    down = {"on": True}

    async def flaky(self: SQLiteTenantStore, alert: AlertRecord) -> None:
        if down["on"]:
            raise StorageError("SQLite alert write failed: database is locked")
        await real_save(self, alert)

    monkeypatch.setattr(SQLiteTenantStore, "save_alert", flaky)
    hub = await start_hub(SIMULATED_CONFIG + ALERTS)
    events = record(hub)
    status, _ = await api(http, hub, "POST", "/api/v1/alerts/rules", json={**CELL_RULE, "delay": 0})
    assert status == 201
    published = await wait_for(lambda: named(events, DATA_ALERT_GENERATED, "cell-test"))  # published anyway
    service = await wait_for(lambda: _degraded(hub))
    assert "database is locked" in str(service.reason) and "kept in memory" in str(service.reason)
    status, body = await api(http, hub, "GET", f"/api/v1/alerts/{published[0]['id']}")
    assert status == 200 and body["data"]["state"] == "raised"  # served from memory meanwhile
    down["on"] = False
    assert await wait_for(lambda: _state(hub, published[0]["id"], "raised"), timeout=60)
    await wait_for(lambda: (s := hub.registry.get("plugin.alerts")) is not None and s.health == Health.OK)


async def test_analytics_metrics_and_a_section_reload_with_a_maintenance_window(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(SIMULATED_CONFIG + ALERTS)
    # The energy plugin publishes data.bms.analytics before each reading goes out: its values are metrics.
    kwh = {
        "id": "kwh",
        "kind": "threshold",
        "metric": "energy_charged_kwh",
        "below": 1e6,
        "scope": {"batteries": ["one"]},
    }
    status, _ = await api(http, hub, "POST", "/api/v1/alerts/rules", json=kwh)
    assert status == 201
    first = (await wait_for(lambda: open_alerts(hub, "kwh")))[0]
    assert first.metric == "energy_charged_kwh" and first.details["unit"] == "kWh"

    section = {
        "check_interval": 0.1,
        "reminder_interval": 0,
        "maintenance": [
            {"scope": {"batteries": ["one"]}, "from": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
        ],
    }
    status, body = await api(http, hub, "PUT", "/api/v1/core/config/alerts", json=section)
    assert status == 200 and body["meta"]["restart_required"] is False
    status, _ = await api(http, hub, "POST", "/api/v1/alerts/rules", json={**CELL_RULE, "scope": {}, "delay": 0})
    assert status == 201
    two = (await wait_for(lambda: open_alerts(hub, "cell-test")))[0]
    assert two.battery_id == "two"  # battery one is under maintenance: nothing is raised for it
    before = await stored_readings(hub, "one")
    await wait_for(lambda: _more(hub, before + 5))
    assert [a.battery_id for a in await open_alerts(hub, "cell-test")] == ["two"]
    assert [a.id for a in await open_alerts(hub, "kwh")] == [first.id]  # kept open across the reload
    assert hub.registry.get("plugin.alerts").health == Health.OK  # type: ignore[union-attr]
