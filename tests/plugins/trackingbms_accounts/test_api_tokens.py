"""API tokens for scripts: shown once, stored hashed, scoped to actions, revocable; last use recorded."""

from __future__ import annotations

import hashlib

import aiohttp

from hub.storage.accounts import accounts_of
from tests.helpers import HubFactory
from tests.plugins.trackingbms_accounts.accounts_helpers import AUTH_CONFIG, call, login


async def test_scoped_token_lifecycle(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    session = (await login(http, hub))["access_token"]
    spec = {"name": "grafana", "scopes": ["battery.read"], "expires_in_days": 30}
    status, body = await call(http, hub, "POST", "/api/v1/auth/tokens", spec, token=session)
    assert status == 201, body
    secret, token_id = body["data"]["token"], body["data"]["id"]
    assert secret.startswith("tbms_") and body["data"]["scopes"] == ["battery.read"]
    # Stored as a hash only, never as the token itself.
    assert hub.storage is not None
    record = await accounts_of(hub.storage).token(token_id)
    assert record is not None and record.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    status, body = await call(http, hub, "GET", "/api/v1/auth/tokens", token=session)
    assert status == 200 and [t["name"] for t in body["data"]] == ["grafana"] and secret not in str(body)
    # In scope: served. Out of scope (even for a system administrator's token): 403.
    assert (await call(http, hub, "GET", "/api/v1/bms", token=secret))[0] == 200
    status, body = await call(http, hub, "GET", "/api/v1/core/services", token=secret)
    assert status == 403, body
    status, body = await call(http, hub, "GET", "/api/v1/auth/permissions", token=secret)
    assert (
        status == 200
        and set(body["data"]["actions"]) == {"battery.read"}
        and body["data"]["principal"]["via"] == "api_token"
    )
    # A token cannot mint more tokens or change the account.
    assert (await call(http, hub, "POST", "/api/v1/auth/tokens", spec, token=secret))[0] == 403
    used = await accounts_of(hub.storage).token(token_id)
    assert used is not None and used.last_used_at is not None
    status, _ = await call(http, hub, "DELETE", f"/api/v1/auth/tokens/{token_id}", token=session)
    assert status == 200
    assert (await call(http, hub, "GET", "/api/v1/bms", token=secret))[0] == 401
    assert (await call(http, hub, "GET", "/api/v1/bms", token="tbms_made-up"))[0] == 401


async def test_token_request_is_validated(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    session = (await login(http, hub))["access_token"]
    status, body = await call(http, hub, "POST", "/api/v1/auth/tokens", {"name": "x", "scopes": ["fly"]}, token=session)
    assert status == 422 and body["data"][0]["path"].startswith("body.scopes")
    status, body = await call(http, hub, "POST", "/api/v1/auth/tokens", {"name": "all", "scopes": ["*"]}, token=session)
    assert status == 201
    assert (await call(http, hub, "GET", "/api/v1/core/services", token=body["data"]["token"]))[0] == 200
