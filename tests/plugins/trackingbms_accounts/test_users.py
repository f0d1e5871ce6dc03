"""Users of a tenant: created, changed and deleted by admins within their reach; roles as the policy says."""

from __future__ import annotations

from typing import Any

import aiohttp

from hub.auth.policy import ACTIONS, ROLE_ACTIONS, ROLES
from hub.core import Hub
from hub.reading import utc_now
from tests.helpers import HubFactory
from tests.hub.storage.backends import sql
from tests.plugins.trackingbms_accounts.accounts_helpers import AUTH_CONFIG, call, login

PASSWORD = "long enough password"


async def tree(hub: Hub) -> None:
    """Default tenant: client top -> client sub -> site s1."""
    assert hub.storage is not None
    add = "INSERT INTO clients (tenant_id, id, parent_id, name, created_at) VALUES ('default', ?, ?, ?, ?)"
    await sql(hub.storage, add, "top", None, "Top", utc_now())
    await sql(hub.storage, add, "sub", "top", "Sub", utc_now())
    site = "INSERT INTO sites (tenant_id, id, client_id, name, created_at) VALUES ('default', 's1', 'sub', 'S1', ?)"
    await sql(hub.storage, site, utc_now())


def user(name: str, *grants: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "username": name,
        "password": PASSWORD,
        "grants": [{"node_type": t, "node_id": i, "role": r} for t, i, r in grants],
    }


async def test_admins_manage_users_within_their_reach(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    await tree(hub)
    root = (await login(http, hub))["access_token"]
    status, body = await call(
        http, hub, "POST", "/api/v1/users", user("boss", ("tenant", "default", "owner")), token=root
    )
    assert status == 201 and body["data"]["tenant_id"] == "default", body
    status, _ = await call(
        http, hub, "POST", "/api/v1/users", user("sub-admin", ("client", "sub", "admin")), token=root
    )
    assert status == 201
    assert (await call(http, hub, "POST", "/api/v1/users", user("boss"), token=root))[0] == 409
    status, body = await call(http, hub, "POST", "/api/v1/users", user("x", ("client", "nope", "viewer")), token=root)
    assert status == 422 and body["data"][0]["path"] == "body.grants.0.node_id"
    sub_admin = (await login(http, hub, "sub-admin", PASSWORD))["access_token"]
    # An admin grants technician and viewer below its node, never owner or admin, never above it.
    status, body = await call(
        http, hub, "POST", "/api/v1/users", user("tech", ("site", "s1", "technician")), token=sub_admin
    )
    assert status == 201, body
    tech_id = body["data"]["id"]
    assert (await call(http, hub, "POST", "/api/v1/users", user("o2", ("site", "s1", "owner")), token=sub_admin))[
        0
    ] == 403
    assert (await call(http, hub, "POST", "/api/v1/users", user("a2", ("client", "sub", "admin")), token=sub_admin))[
        0
    ] == 403
    assert (await call(http, hub, "POST", "/api/v1/users", user("v2", ("client", "top", "viewer")), token=sub_admin))[
        0
    ] == 403
    # It sees the users on its part of the tree, not the tenant owner.
    status, body = await call(http, hub, "GET", "/api/v1/users", token=sub_admin)
    assert status == 200 and {u["username"] for u in body["data"]} == {"sub-admin", "tech"}
    boss = await call(http, hub, "GET", "/api/v1/users", token=root)
    boss_id = next(u["id"] for u in boss[1]["data"] if u["username"] == "boss")
    assert (await call(http, hub, "GET", f"/api/v1/users/{boss_id}", token=sub_admin))[0] == 404
    assert (await call(http, hub, "DELETE", f"/api/v1/users/{boss_id}", token=sub_admin))[0] == 404
    # Disabling a user ends its sessions.
    tech = (await login(http, hub, "tech", PASSWORD))["access_token"]
    assert (await call(http, hub, "GET", "/api/v1/auth/profile", token=tech))[0] == 200
    status, body = await call(http, hub, "PUT", f"/api/v1/users/{tech_id}", {"disabled": True}, token=sub_admin)
    assert status == 200 and body["data"]["disabled"] is True
    assert (await call(http, hub, "GET", "/api/v1/auth/profile", token=tech))[0] == 401
    status, _ = await call(http, hub, "POST", "/api/v1/auth/login", {"username": "tech", "password": PASSWORD})
    assert status in (401, 429)
    # A technician holds user.read nowhere: the gateway refuses before the handler.
    assert (await call(http, hub, "DELETE", f"/api/v1/users/{tech_id}", token=sub_admin))[0] == 200
    assert (await call(http, hub, "GET", f"/api/v1/users/{tech_id}", token=sub_admin))[0] == 404


async def test_owner_grants_admin(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    await tree(hub)
    root = (await login(http, hub))["access_token"]
    await call(http, hub, "POST", "/api/v1/users", user("owner", ("client", "top", "owner")), token=root)
    owner = (await login(http, hub, "owner", PASSWORD))["access_token"]
    status, _ = await call(http, hub, "POST", "/api/v1/users", user("adm", ("client", "sub", "admin")), token=owner)
    assert status == 201
    assert (await call(http, hub, "POST", "/api/v1/users", user("t-adm", ("tenant", "default", "admin")), token=owner))[
        0
    ] == 403


async def test_each_role_holds_exactly_the_table(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    """Walk role x action through the running hub: /auth/permissions and the gateway's coarse check."""
    hub = await start_hub(AUTH_CONFIG)
    root = (await login(http, hub))["access_token"]
    probes = {"battery.read": "/api/v1/bms", "user.read": "/api/v1/users", "system.read": "/api/v1/core/services"}
    for role in ROLES:
        await call(http, hub, "POST", "/api/v1/users", user(f"r-{role}", ("tenant", "default", role)), token=root)
        token = (await login(http, hub, f"r-{role}", PASSWORD))["access_token"]
        status, body = await call(http, hub, "GET", "/api/v1/auth/permissions", token=token)
        assert status == 200
        held = set(body["data"]["actions"])
        assert held == set(ROLE_ACTIONS[role]), role
        for action in ACTIONS:
            assert (action in held) == (action in ROLE_ACTIONS[role]), (role, action)
        for action, path in probes.items():
            status, _ = await call(http, hub, "GET", path, token=token)
            assert (status == 200) == (action in held), (role, action, status)
            assert status in (200, 403), (role, path, status)


async def test_another_tenant_sees_none_of_these_users(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    assert hub.storage is not None
    await sql(hub.storage, "INSERT INTO tenants (id, name, created_at) VALUES ('t2', 'Other', ?)", utc_now())
    root = (await login(http, hub))["access_token"]
    status, body = await call(
        http, hub, "POST", "/api/v1/users", user("here", ("tenant", "default", "owner")), token=root
    )
    here_id = body["data"]["id"]
    other = user("there", ("tenant", "t2", "owner"))
    status, body = await call(http, hub, "POST", "/api/v1/users?tenant=t2", other, token=root)
    assert status == 201 and body["data"]["tenant_id"] == "t2", body
    # A grant naming another tenant's node is refused.
    status, _ = await call(http, hub, "POST", "/api/v1/users", user("x", ("tenant", "t2", "viewer")), token=root)
    assert status == 422
    there = (await login(http, hub, "there", PASSWORD))["access_token"]
    status, body = await call(http, hub, "GET", "/api/v1/users", token=there)
    assert status == 200 and [u["username"] for u in body["data"]] == ["there"]
    for method in ("GET", "PUT", "DELETE"):
        status, _ = await call(
            http, hub, method, f"/api/v1/users/{here_id}", {} if method == "PUT" else None, token=there
        )
        assert status == 404, method
    status, body = await call(http, hub, "GET", "/api/v1/users?tenant=default", token=there)  # not a system admin
    assert [u["username"] for u in body["data"]] == ["there"]


async def test_admins_list_and_revoke_a_users_sessions(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    root = (await login(http, hub))["access_token"]
    status, body = await call(
        http, hub, "POST", "/api/v1/users", user("tech", ("tenant", "default", "technician")), token=root
    )
    tech_id = body["data"]["id"]
    tech = await login(http, hub, "tech", PASSWORD)
    status, body = await call(http, hub, "GET", f"/api/v1/users/{tech_id}/sessions", token=root)
    assert status == 200 and [s["id"] for s in body["data"]] == [tech["session_id"]]
    # The technician itself may not look at sessions of users (user.manage held nowhere).
    assert (await call(http, hub, "GET", f"/api/v1/users/{tech_id}/sessions", token=tech["access_token"]))[0] == 403
    path = f"/api/v1/users/{tech_id}/sessions/{tech['session_id']}"
    assert (await call(http, hub, "DELETE", path, token=root))[0] == 200
    assert (await call(http, hub, "GET", "/api/v1/auth/profile", token=tech["access_token"]))[0] == 401
    assert (await call(http, hub, "DELETE", path.replace(tech["session_id"], "nope"), token=root))[0] == 404
