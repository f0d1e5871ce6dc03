"""The accounts flows on a hub whose storage is PostgreSQL (login, rotation, reuse, API token)."""

from __future__ import annotations

import aiohttp

from tests.helpers import HubFactory
from tests.hub.storage.backends import Location
from tests.plugins.trackingbms_accounts.accounts_helpers import AUTH_CONFIG, call, login


async def test_login_refresh_and_tokens_on_postgresql(
    start_hub: HubFactory, http: aiohttp.ClientSession, pg_location: Location
) -> None:
    section = pg_location.section
    storage = f"storage:\n  backend: postgresql\n  dsn: {section['dsn']}\n  schema: {section['schema']}\n"
    hub = await start_hub(AUTH_CONFIG + storage)
    first = await login(http, hub)
    status, body = await call(http, hub, "POST", "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert status == 200
    second = body["data"]
    assert (await call(http, hub, "POST", "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}))[0] == 401
    assert (await call(http, hub, "GET", "/api/v1/auth/profile", token=second["access_token"]))[0] == 401
    session = (await login(http, hub))["access_token"]
    spec = {"name": "script", "scopes": ["battery.read"]}
    status, body = await call(http, hub, "POST", "/api/v1/auth/tokens", spec, token=session)
    assert status == 201
    assert (await call(http, hub, "GET", "/api/v1/bms", token=body["data"]["token"]))[0] == 200
    assert (await call(http, hub, "GET", "/api/v1/core/services", token=body["data"]["token"]))[0] == 403
