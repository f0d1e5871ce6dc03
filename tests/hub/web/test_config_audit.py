"""Config writes in the audit log: the section before and after as written, secrets only as references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.core import Hub
from tests.helpers import HubFactory, wait_for

ADMIN_PASSWORD = "correct horse battery staple"
FIRST, SECOND = "Resolved first name 7f3a", "Resolved second name 9c1b"
CONFIG = """
hub:
  data_dir: {data_dir}
http:
  port: 0
logging:
  file: null
auth:
  required: true
  access_ttl: 600
simulators:
  - kind: daly
    link: sim/one
    cells: 8
    temps: 1
batteries:
  - id: one
    driver: daly
    port: sim/one
    poll_interval: 0.3
    name: !secret first_name
"""


@pytest.fixture(autouse=True)
def admin_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The first admin's password, and the secrets file beside the config the hub will read."""
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", ADMIN_PASSWORD)
    (tmp_path / "secrets.yaml").write_text(f"first_name: {FIRST}\nsecond_name: {SECOND}\n", encoding="utf-8")


async def call(
    http: aiohttp.ClientSession, hub: Hub, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, f"{hub.http_url}{path}", json=body, headers=headers) as response:
        if path.endswith("format=jsonl"):
            return response.status, await response.text()
        return response.status, await response.json()


async def newest(http: aiohttp.ClientSession, hub: Hub, token: str, action: str) -> dict[str, Any]:
    status, body = await call(http, hub, "GET", f"/api/v1/audit?action={action}", token)
    assert status == 200 and body["data"], body
    entry: dict[str, Any] = body["data"][0]
    return entry


async def test_config_update_and_reload_record_the_section_as_written(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(CONFIG)
    assert hub.batteries is not None and hub.batteries.coordinators["one"].config.name == FIRST
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    async with http.post(f"{hub.http_url}/api/v1/auth/login", json=login) as response:
        root = (await response.json())["data"]["access_token"]
    written = {"id": "one", "driver": "daly", "port": "sim/one", "poll_interval": 0.3}
    status, body = await call(
        http, hub, "PUT", "/api/v1/core/config/batteries", root, [{**written, "name": "!secret second_name"}]
    )
    assert status == 200, body
    await wait_for(lambda: hub.batteries is not None and hub.batteries.coordinators["one"].config.name == SECOND)
    entry = await newest(http, hub, root, "config.update")
    assert (entry["actor"], entry["target"], entry["result"]) == ("admin", "batteries", "ok")
    assert entry["before"] == [{**written, "name": "!secret first_name"}]
    assert entry["after"] == [{**written, "name": "!secret second_name"}]

    bad = [{**written, "port": 42}]
    assert (await call(http, hub, "PUT", "/api/v1/core/config/batteries", root, bad))[0] == 422
    rejected = await newest(http, hub, root, "config.update")
    assert rejected["result"] == "rejected" and rejected["before"] == entry["after"] and rejected["after"] is None

    path = hub.config.path
    path.write_text(path.read_text().replace("poll_interval: 0.3", "poll_interval: 0.4"))
    status, body = await call(http, hub, "POST", "/api/v1/core/services/reload", root)
    assert status == 200, body
    reload = await newest(http, hub, root, "config.reload")
    assert reload["details"]["changed"] == ["batteries"] and set(reload["before"]) == {"batteries"}
    assert reload["before"]["batteries"][0]["poll_interval"] == 0.3
    assert reload["after"]["batteries"] == [{**written, "poll_interval": 0.4, "name": "!secret second_name"}]

    status, text = await call(http, hub, "GET", "/api/v1/audit/export?format=jsonl", root)
    assert status == 200 and "config.reload" in text
    for secret in (FIRST, SECOND, ADMIN_PASSWORD, root):
        assert secret not in text
