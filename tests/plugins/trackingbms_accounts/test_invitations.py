"""Invitations by link: created by an admin with roles it may grant, accepted once with a password."""

from __future__ import annotations

import aiohttp

from tests.helpers import HubFactory
from tests.plugins.trackingbms_accounts.accounts_helpers import AUTH_CONFIG, call, login

VIEWER = [{"node_type": "tenant", "node_id": "default", "role": "viewer"}]


async def test_invitation_link_is_accepted_once(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    root = (await login(http, hub))["access_token"]
    status, body = await call(
        http, hub, "POST", "/api/v1/users/invitations", {"email": "v@example.org", "grants": VIEWER}, token=root
    )
    assert status == 201, body
    token = body["data"]["token"]
    assert body["data"]["url"] == f"/invite#token={token}"
    async with http.get(f"{hub.http_url}/invite") as page:
        assert page.status == 200 and "invite.js" in await page.text()
    status, body = await call(http, hub, "GET", "/api/v1/users/invitations", token=root)
    assert status == 200 and body["data"][0]["pending"] is True and token not in str(body)
    accept = {"token": token, "username": "viewer1", "password": "viewer password"}
    status, body = await call(http, hub, "POST", "/api/v1/auth/invitations/accept", accept)
    assert status == 201 and body["data"]["tenant_id"] == "default" and body["data"]["email"] == "v@example.org"
    assert (await call(http, hub, "POST", "/api/v1/auth/invitations/accept", {**accept, "username": "again"}))[0] == 404
    viewer = (await login(http, hub, "viewer1", "viewer password"))["access_token"]
    status, body = await call(http, hub, "GET", "/api/v1/auth/permissions", token=viewer)
    assert set(body["data"]["actions"]) == {"battery.read", "client.read", "alert.read"}
    # A viewer cannot invite.
    assert (await call(http, hub, "POST", "/api/v1/users/invitations", {"grants": VIEWER}, token=viewer))[0] == 403


async def test_withdrawn_and_unknown_invitations(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    root = (await login(http, hub))["access_token"]
    status, body = await call(http, hub, "POST", "/api/v1/users/invitations", {"grants": VIEWER}, token=root)
    invitation_id, token = body["data"]["id"], body["data"]["token"]
    assert (await call(http, hub, "DELETE", f"/api/v1/users/invitations/{invitation_id}", token=root))[0] == 200
    accept = {"token": token, "username": "late", "password": "late password"}
    assert (await call(http, hub, "POST", "/api/v1/auth/invitations/accept", accept))[0] == 404
    assert (await call(http, hub, "POST", "/api/v1/auth/invitations/accept", {**accept, "token": "made-up"}))[0] == 404
    status, body = await call(http, hub, "POST", "/api/v1/users/invitations", {"grants": []}, token=root)
    assert status == 422
