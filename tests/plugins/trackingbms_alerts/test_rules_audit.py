"""Alert rule writes in the audit log: who, and the rule definition before and after."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from hub.core import Hub
from tests.helpers import SIMULATED_CONFIG, HubFactory
from tests.plugins.trackingbms_alerts.test_alerts_hub import ALERTS

ADMIN_PASSWORD = "correct horse battery staple"
AUTH = """
auth:
  required: true
  access_ttl: 600
"""
RULE = {
    "id": "hot-cells",
    "kind": "threshold",
    "metric": "cell_max",
    "above": 100.0,  # never reached by the simulators: nothing fires while the rule is edited
    "clear": 50.0,
    "severity": "warning",
    "scope": {"batteries": ["one"]},
}


@pytest.fixture(autouse=True)
def admin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", ADMIN_PASSWORD)


async def call(
    http: aiohttp.ClientSession, hub: Hub, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, f"{hub.http_url}{path}", json=body, headers=headers) as response:
        if "format=jsonl" in path:
            return response.status, await response.text()
        return response.status, await response.json()


async def newest(http: aiohttp.ClientSession, hub: Hub, token: str, action: str) -> dict[str, Any]:
    status, body = await call(http, hub, "GET", f"/api/v1/audit?action={action}", token)
    assert status == 200 and body["data"], body
    entry: dict[str, Any] = body["data"][0]
    return entry


def definition(entry: Any) -> dict[str, Any]:
    """The fields of the rule as sent (the log also keeps where the rule comes from)."""
    return {key: entry[key] for key in RULE}


async def test_rule_writes_record_the_definition(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(SIMULATED_CONFIG + ALERTS + AUTH)
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    async with http.post(f"{hub.http_url}/api/v1/auth/login", json=login) as response:
        root = (await response.json())["data"]["access_token"]
    status, body = await call(http, hub, "POST", "/api/v1/alerts/rules", root, RULE)
    assert status == 201, body
    created = await newest(http, hub, root, "alerts.rule.create")
    assert (created["actor"], created["target"], created["result"]) == ("admin", "hot-cells", "ok")
    assert created["before"] is None and definition(created["after"]) == RULE

    changed = {**RULE, "severity": "critical", "above": 90.0}
    status, body = await call(http, hub, "PUT", "/api/v1/alerts/rules/hot-cells", root, changed)
    assert status == 200, body
    updated = await newest(http, hub, root, "alerts.rule.update")
    assert definition(updated["before"]) == RULE and definition(updated["after"]) == changed

    status, body = await call(http, hub, "DELETE", "/api/v1/alerts/rules/hot-cells", root)
    assert status == 200, body
    deleted = await newest(http, hub, root, "alerts.rule.delete")
    assert definition(deleted["before"]) == changed and deleted["after"] is None
    assert deleted["source_ip"] == "127.0.0.1" and deleted["tenant_id"] == "default"

    status, text = await call(http, hub, "GET", "/api/v1/audit/export?format=jsonl", root)
    assert status == 200 and "alerts.rule.delete" in text
    assert ADMIN_PASSWORD not in text and root not in text
