"""The auth middleware on a real hub: auth off (local administrator), provider missing (refuse)."""

from __future__ import annotations

import aiohttp

from hub.registry import Health
from tests.helpers import HubFactory

BASE = """
hub:
  data_dir: {data_dir}
http:
  port: 0
logging:
  file: null
"""


async def test_auth_off_serves_everyone_as_local_admin(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(BASE)  # write_config adds auth.required: false
    async with http.get(f"{hub.http_url}/api/v1/core/services") as response:
        assert response.status == 200
    async with http.get(f"{hub.http_url}/api/v1/auth/permissions") as response:
        body = await response.json()
        assert body["data"]["principal"]["via"] == "local" and "system.manage" in body["data"]["actions"]
    async with http.post(f"{hub.http_url}/api/v1/auth/login", json={"username": "a", "password": "b"}) as response:
        assert response.status == 404  # no accounts when auth is off
    assert hub.registry.get("core.auth") is None


async def test_missing_provider_refuses_protected_routes(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(BASE + "auth:\n  required: true\nplugins:\n  disabled: [accounts]\n")
    service = hub.registry.get("core.auth")
    assert service is not None and service.health == Health.FAILED
    async with http.get(f"{hub.http_url}/api/v1/core/health") as response:
        assert response.status == 200  # public routes still answer
    async with http.get(f"{hub.http_url}/api/v1/bms") as response:
        assert response.status == 401
    async with http.get(f"{hub.http_url}/api/v1/bms", headers={"Authorization": "Bearer x"}) as response:
        assert response.status == 503
    async with http.get(f"{hub.http_url}/", allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == "/login"
    async with http.get(f"{hub.http_url}/login") as response:
        assert response.status == 200 and "login.js" in await response.text()
