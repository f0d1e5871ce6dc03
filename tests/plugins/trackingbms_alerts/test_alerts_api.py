"""The alert and rule endpoints over real HTTP: envelopes, validation, read-only file rules, dry runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from hub.core import Hub
from tests.helpers import SIMULATED_CONFIG, HubFactory, wait_for
from tests.plugins.trackingbms_alerts.test_alerts_hub import ALERTS, CELL_RULE, api

FILE_RULES = """
rules:
  - id: from-file
    kind: threshold
    metric: cell_max
    above: 1.0
    clear: 0.5
    scope: {batteries: [nobody]}
"""


async def started(start_hub: HubFactory, tmp_path: Path) -> Hub:
    (tmp_path / "alerts").mkdir(exist_ok=True)
    (tmp_path / "alerts" / "file.yaml").write_text(FILE_RULES.lstrip(), encoding="utf-8")
    return await start_hub(SIMULATED_CONFIG + ALERTS)


async def test_rule_crud_and_validation(start_hub: HubFactory, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    hub = await started(start_hub, tmp_path)
    status, body = await api(http, hub, "GET", "/api/v1/alerts/rules")
    assert status == 200 and body["status"] == "success" and body["meta"] == {**body["meta"], "count": 1, "issues": []}
    assert body["data"][0]["id"] == "from-file" and body["data"][0]["writable"] is False
    assert body["data"][0]["file"].endswith("file.yaml") and body["data"][0]["line"] == 2

    bad = {"id": "x", "kind": "threshold", "metric": "volts", "above": 1, "clear": 2}
    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules", json=bad)
    assert status == 422 and body["status"] == "error"
    assert {e["path"] for e in body["data"]} == {"body.metric"}
    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules", json={**bad, "metric": "voltage"})
    assert status == 422 and body["data"] == [
        {"path": "body.clear", "message": "the clear level must be at or below the trigger level (1.0)"}
    ]
    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules", data="{not json")
    assert status == 400

    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules", json={**CELL_RULE, "id": "from-file"})
    assert status == 409
    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules", json=CELL_RULE)
    assert status == 201 and body["message"] == "created"
    status, _ = await api(http, hub, "POST", "/api/v1/alerts/rules", json=CELL_RULE)
    assert status == 409
    assert "cell-test" in await hub.store.rules()

    status, body = await api(http, hub, "PUT", "/api/v1/alerts/rules/from-file", json=CELL_RULE)
    assert status == 409 and "file.yaml:2" in body["message"]
    status, body = await api(http, hub, "DELETE", "/api/v1/alerts/rules/from-file")
    assert status == 409
    status, body = await api(http, hub, "PUT", "/api/v1/alerts/rules/nope", json=CELL_RULE)
    assert status == 404
    status, body = await api(http, hub, "PUT", "/api/v1/alerts/rules/cell-test", json={**CELL_RULE, "id": "other"})
    assert status == 422 and body["data"][0]["path"] == "body.id"
    status, body = await api(http, hub, "PUT", "/api/v1/alerts/rules/cell-test", json={**CELL_RULE, "severity": "info"})
    assert status == 200 and body["data"]["severity"] == "info"
    status, body = await api(http, hub, "GET", "/api/v1/alerts/rules/cell-test")
    assert status == 200 and body["data"]["severity"] == "info" and body["data"]["writable"] is True

    alert = (await wait_for(lambda: _open(hub, "cell-test")))[0]
    status, body = await api(http, hub, "DELETE", "/api/v1/alerts/rules/cell-test")
    assert status == 200 and body["data"] == {"id": "cell-test"}
    assert await wait_for(lambda: _cleared(hub, alert.id))  # a deleted rule closes its alerts
    cleared = await hub.store.get_alert(alert.id)
    assert cleared is not None and cleared.details["cleared_reason"] == "rule_removed"
    status, _ = await api(http, hub, "GET", "/api/v1/alerts/rules/cell-test")
    assert status == 404
    status, body = await api(http, hub, "GET", "/api/v1/core/audit", params={"target": "cell-test"})
    actions = [(e["action"], e["result"]) for e in reversed(body["data"])]
    assert actions == [
        ("alerts.rule.create", "ok"),
        ("alerts.rule.create", "rejected"),
        ("alerts.rule.update", "rejected"),
        ("alerts.rule.update", "ok"),
        ("alerts.rule.delete", "ok"),
    ]


async def _open(hub: Hub, rule_id: str) -> list[Any]:
    found, _ = await hub.store.alerts(rule_id=rule_id, state="open")
    return found


async def _cleared(hub: Hub, alert_id: str) -> bool:
    found = await hub.store.get_alert(alert_id)
    return found is not None and found.state == "cleared"


async def test_alert_endpoints_validate_their_input(
    start_hub: HubFactory, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    hub = await started(start_hub, tmp_path)
    for params, name in (
        ({"state": "sleepy"}, "state"),
        ({"severity": "loud"}, "severity"),
        ({"per_page": "0"}, "per_page"),
        ({"from": "yesterday"}, "from"),
    ):
        status, body = await api(http, hub, "GET", "/api/v1/alerts", params=params)
        assert status == 422 and [e["path"] for e in body["data"]] == [f"query.{name}"], params
    status, body = await api(http, hub, "GET", "/api/v1/alerts/nope")
    assert status == 404 and body["message"] == "unknown alert 'nope'"
    status, body = await api(http, hub, "POST", "/api/v1/alerts/nope/acknowledge", json={"comment": "x"})
    assert status == 404
    status, body = await api(http, hub, "POST", "/api/v1/alerts/nope/acknowledge", json={"comment": 5})
    assert status == 422 and body["data"][0]["path"] == "body.comment"
    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules", json={**CELL_RULE, "delay": 0})
    alert = (await wait_for(lambda: _open(hub, "cell-test")))[0]
    status, body = await api(http, hub, "POST", f"/api/v1/alerts/{alert.id}/acknowledge")  # no body at all
    assert status == 200 and body["data"]["comment"] is None
    status, body = await api(http, hub, "GET", "/api/v1/alerts", params={"severity": "critical", "battery_id": "one"})
    assert status == 200 and [a["id"] for a in body["data"]] == [alert.id]
    assert body["data"][0]["state"] == "acknowledged" and set(body["data"][0]["message"]) == {"en", "fr"}
    status, body = await api(http, hub, "GET", "/api/v1/alerts", params={"battery_id": "two"})
    assert body["data"] == [] and body["meta"]["pagination"]["total"] == 0
    status, body = await api(http, hub, "GET", "/api/v1/alerts", params={"to": "2020-01-01T00:00:00Z"})
    assert body["data"] == []


async def test_dry_runs_answer_what_would_fire_without_raising(
    start_hub: HubFactory, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    hub = await started(start_hub, tmp_path)
    await wait_for(lambda: _stored(hub, "one"))
    await wait_for(lambda: _stored(hub, "two"))
    probe = {"id": "probe", "kind": "threshold", "metric": "cell_max", "above": 1.0, "clear": 0.5}
    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules/test", json=probe)
    assert status == 200 and body["message"] == "nothing was raised" and body["meta"]["would_fire"] == 2
    by_battery = {r["battery_id"]: r for r in body["data"]}
    assert set(by_battery) == {"one", "two"}
    one = by_battery["one"]
    assert one["in_scope"] and one["would_fire"] and one["readings"] >= 1 and one["raised_in_window"] == 1
    assert one["alerts"][0]["id"] is None and one["alerts"][0]["rule_id"] == "probe" and one["latest_value"] > 1

    scoped = {**probe, "scope": {"batteries": ["two"]}, "above": 100, "clear": 90}
    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules/test", json=scoped, params={"lookback": "600"})
    by_battery = {r["battery_id"]: r for r in body["data"]}
    assert by_battery["one"] == {
        "battery_id": "one",
        "battery_name": "Pack one",
        "in_scope": False,
        "would_fire": False,
        "alerts": [],
    }
    assert by_battery["two"]["in_scope"] and not by_battery["two"]["would_fire"] and body["meta"]["lookback_s"] == 600

    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules/from-file/test", params={"battery_id": "one"})
    assert status == 200 and [r["in_scope"] for r in body["data"]] == [False]
    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules/test", json={"id": "p", "kind": "rate"})
    assert status == 422 and {e["path"] for e in body["data"]} == {"body.metric"}
    status, body = await api(http, hub, "POST", "/api/v1/alerts/rules/from-file/test", params={"battery_id": "zzz"})
    assert status == 404
    assert (await hub.store.alerts())[1] == 0  # nothing was raised or stored


async def _stored(hub: Hub, battery_id: str) -> bool:
    return bool(await hub.store.history(battery_id, None, None, 1))
