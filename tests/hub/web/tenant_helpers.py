"""Shared by the isolation tests: tenant A (the default, with data) built over real HTTP, and calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from hub.core import Hub
from hub.storage.records import AlertRecord
from tests.helpers import wait_for

ADMIN_PASSWORD = "isolation admin password"
PASSWORD = "a long enough password"
# Every id and name of tenant A contains "alpha" (the hex ids are listed in Alpha.secrets), so
# "no tenant-A data in a body" is a plain substring check.
CONFIG = """
hub:
  data_dir: {data_dir}
http:
  port: 0
  rate_limit:
    enabled: false
logging:
  level: INFO
  file: null
auth:
  required: true
  access_ttl: 3600
simulators:
  - kind: daly
    link: sim/alpha1
    cells: 4
    temps: 1
    seed: 1
  - kind: daly
    link: sim/alpha2
    cells: 4
    temps: 1
    seed: 2
batteries:
  - id: alpha-pack-1
    name: Alpha pack one
    driver: daly
    port: sim/alpha1
    poll_interval: 0.3
  - id: alpha-pack-2
    name: Alpha pack two
    driver: daly
    port: sim/alpha2
    poll_interval: 0.3
"""
RULE = {"id": "alpha-rule", "name": "Alpha cell high", "kind": "threshold", "metric": "cell_max", "above": 9.0}


@dataclass
class Alpha:
    """The ids of tenant A's resources."""

    user_id: str = ""
    admin_id: str = ""
    token_id: str = ""
    session_id: str = ""
    invitation_id: str = ""
    secrets: list[str] = field(default_factory=list)  # hex ids: must appear in no answer to B


async def call(
    http: aiohttp.ClientSession, hub: Hub, method: str, path: str, token: str | None, body: Any = None
) -> tuple[int, str]:
    """(status, raw body text) of one request with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, f"{hub.http_url}{path}", headers=headers, json=body) as response:
        return response.status, await response.text()


async def ok(http: aiohttp.ClientSession, hub: Hub, token: str, method: str, path: str, body: Any = None) -> Any:
    """The envelope's data of a call that must succeed."""
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, f"{hub.http_url}{path}", headers=headers, json=body) as response:
        answer = await response.json()
        assert response.status in (200, 201), (method, path, answer)
        return answer["data"]


async def login(http: aiohttp.ClientSession, hub: Hub, username: str, password: str = PASSWORD) -> dict[str, Any]:
    """The data of a successful login (access_token, session_id...)."""
    async with http.post(
        f"{hub.http_url}/api/v1/auth/login", json={"username": username, "password": password}
    ) as response:
        answer = await response.json()
        assert response.status == 200, answer
        data: dict[str, Any] = answer["data"]
        return data


async def access_token(http: aiohttp.ClientSession, hub: Hub, username: str, password: str = PASSWORD) -> str:
    """The access token of a successful login."""
    return str((await login(http, hub, username, password))["access_token"])


async def add_user(
    http: aiohttp.ClientSession, hub: Hub, admin: str, username: str, role: str, tenant: str = "default"
) -> str:
    """A user holding ``role`` on the tenant node; its id."""
    body = {
        "username": username,
        "password": PASSWORD,
        "grants": [{"node_type": "tenant", "node_id": tenant, "role": role}],
    }
    made = await ok(http, hub, admin, "POST", f"/api/v1/users?tenant={tenant}", body)
    return str(made["id"])


async def build_alpha(http: aiohttp.ClientSession, hub: Hub, admin: str) -> Alpha:
    """Tenant A: readings, a client, a site with a battery, a rule, an alert, a field, a user with a
    session, an API token and an invitation."""
    alpha = Alpha()

    async def has_readings() -> bool:
        status, _ = await call(http, hub, "GET", "/api/v1/bms/data/alpha-pack-1", admin)
        return status == 200

    await wait_for(has_readings, timeout=30)
    await ok(http, hub, admin, "POST", "/api/v1/clients", {"id": "alpha-client", "name": "Alpha client"})
    site = {"id": "alpha-site", "name": "Alpha site", "client_id": "alpha-client"}
    await ok(http, hub, admin, "POST", "/api/v1/sites", site)
    await ok(http, hub, admin, "PATCH", "/api/v1/batteries/alpha-pack-1", {"site_id": "alpha-site"})
    await ok(http, hub, admin, "PUT", "/api/v1/fields/client/alpharegion", {"label": "Alpha region", "type": "text"})
    await ok(http, hub, admin, "POST", "/api/v1/alerts/rules", RULE)
    raised = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    await hub.store.save_alert(
        AlertRecord("alpha-alert", "alpha-rule", "threshold", "alpha-pack-1", "critical", "raised", raised)
    )
    alpha.user_id = await add_user(http, hub, admin, "alphauser", "viewer")
    alpha.session_id = str((await login(http, hub, "alphauser"))["session_id"])
    made = await ok(
        http, hub, admin, "POST", "/api/v1/auth/tokens", {"name": "alpha-script", "scopes": ["battery.read"]}
    )
    alpha.token_id = str(made["id"])
    grants = [{"node_type": "client", "node_id": "alpha-client", "role": "viewer"}]
    invited = await ok(
        http, hub, admin, "POST", "/api/v1/users/invitations", {"email": "alpha@example.com", "grants": grants}
    )
    alpha.invitation_id = str(invited["id"])
    me = await ok(http, hub, admin, "GET", "/api/v1/auth/profile")
    alpha.admin_id = str(me["id"])
    alpha.secrets = [alpha.user_id, alpha.admin_id, alpha.token_id, alpha.session_id, alpha.invitation_id]
    return alpha
