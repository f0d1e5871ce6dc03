"""Every accounts write lands in the audit log (who, what, before/after, address), never a secret."""

from __future__ import annotations

from typing import Any

import aiohttp
from trackingbms_accounts.secrets_store import token_hash

from hub.core import Hub
from hub.storage.accounts import accounts_of
from tests.helpers import HubFactory
from tests.hub.storage.backends import add_tenant
from tests.plugins.trackingbms_accounts.accounts_helpers import ADMIN_PASSWORD, AUTH_CONFIG, call, login

FIRST, SECOND, THIRD = "first secret password", "second secret password", "third secret password"
WRONG = "a wrong guess of a password"
VIEWER = [{"node_type": "tenant", "node_id": "default", "role": "viewer"}]
TECHNICIAN = [{"node_type": "tenant", "node_id": "default", "role": "technician"}]


async def entries(http: aiohttp.ClientSession, hub: Hub, token: str, **params: str) -> list[dict[str, Any]]:
    """Audit entries as a system administrator, newest first."""
    query = "&".join(f"{k}={v}" for k, v in {"per_page": "100", **params}.items())
    status, body = await call(http, hub, "GET", f"/api/v1/audit?{query}", token=token)
    assert status == 200, body
    found: list[dict[str, Any]] = body["data"]
    return found


async def one(http: aiohttp.ClientSession, hub: Hub, token: str, action: str, **params: str) -> dict[str, Any]:
    """The newest entry of an action."""
    found = await entries(http, hub, token, action=action, **params)
    assert found, f"no {action} entry"
    return found[0]


async def export(http: aiohttp.ClientSession, hub: Hub, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{hub.http_url}/api/v1/audit/export?format=jsonl", headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.text()


def assert_no_secret(text: str, secrets: list[str]) -> None:
    """Neither a secret nor its SHA-256 nor any argon2 hash appears in the export."""
    assert '"action"' in text  # the export holds entries: the checks below are not vacuous
    assert "$argon2" not in text
    for secret in secrets:
        assert secret not in text
        assert token_hash(secret) not in text


async def test_user_and_login_writes(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    root = (await login(http, hub))["access_token"]
    new = {"username": "alice", "password": FIRST, "grants": VIEWER, "display_name": "Alice"}
    status, body = await call(http, hub, "POST", "/api/v1/users", new, token=root)
    assert status == 201, body
    alice_id = body["data"]["id"]
    created = await one(http, hub, root, "user.create")
    assert (created["actor"], created["target"], created["result"]) == ("admin", "alice", "ok")
    assert created["after"]["grants"] == VIEWER and created["before"] is None
    assert created["source_ip"] == "127.0.0.1" and created["tenant_id"] == "default"

    change = {"password": SECOND, "grants": TECHNICIAN, "display_name": "Alice B"}
    status, body = await call(http, hub, "PUT", f"/api/v1/users/{alice_id}", change, token=root)
    assert status == 200, body
    updated = await one(http, hub, root, "user.update")
    assert updated["before"]["grants"] == VIEWER and updated["after"]["grants"] == TECHNICIAN
    assert (updated["before"]["display_name"], updated["after"]["display_name"]) == ("Alice", "Alice B")
    assert updated["details"]["password_changed"] is True and updated["details"]["grants_changed"] is True

    alice = await login(http, hub, "alice", SECOND)
    logged = await one(http, hub, root, "auth.login", result="ok", actor="alice")
    assert (logged["target"], logged["user_id"], logged["tenant_id"]) == ("alice", alice_id, "default")
    assert logged["details"]["session_id"] == alice["session_id"]
    bad = {"username": "alice", "password": WRONG}
    assert (await call(http, hub, "POST", "/api/v1/auth/login", bad))[0] == 401
    failed = await one(http, hub, root, "auth.login", result="rejected")
    assert (failed["actor"], failed["target"], failed["details"]["username"]) == ("anonymous", "alice", "alice")
    assert failed["source_ip"] == "127.0.0.1" and failed["tenant_id"] == "default"

    status, body = await call(http, hub, "DELETE", f"/api/v1/users/{alice_id}", token=root)
    assert status == 200, body
    deleted = await one(http, hub, root, "user.delete")
    assert deleted["before"]["username"] == "alice" and deleted["before"]["grants"] == TECHNICIAN
    assert deleted["after"] is None
    text = await export(http, hub, root)
    assert_no_secret(text, [FIRST, SECOND, WRONG, ADMIN_PASSWORD, root, alice["access_token"], alice["refresh_token"]])


async def test_tokens_and_profile(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    root = (await login(http, hub))["access_token"]
    new = {"username": "bob", "password": FIRST, "grants": VIEWER}
    assert (await call(http, hub, "POST", "/api/v1/users", new, token=root))[0] == 201
    bob = (await login(http, hub, "bob", FIRST))["access_token"]
    status, body = await call(
        http, hub, "POST", "/api/v1/auth/tokens", {"name": "script", "scopes": ["battery.read"]}, token=bob
    )
    assert status == 201, body
    api_token, token_id = body["data"]["token"], body["data"]["id"]
    made = await one(http, hub, root, "token.create")
    assert (made["actor"], made["target"], made["after"]["name"]) == ("bob", token_id, "script")
    assert (await call(http, hub, "DELETE", f"/api/v1/auth/tokens/{token_id}", token=bob))[0] == 200
    revoked = await one(http, hub, root, "token.revoke")
    assert revoked["before"]["revoked_at"] is None and revoked["after"]["revoked_at"] is not None

    change = {"password": SECOND, "current_password": FIRST, "display_name": "Bobby"}
    assert (await call(http, hub, "PUT", "/api/v1/auth/profile", change, token=bob))[0] == 200
    password = await one(http, hub, root, "auth.password_change")
    assert (password["actor"], password["target"], password["result"]) == ("bob", "bob", "ok")
    profile = await one(http, hub, root, "auth.profile_update")
    assert (profile["before"]["display_name"], profile["after"]["display_name"]) == (None, "Bobby")
    wrong = {"password": THIRD, "current_password": WRONG}
    assert (await call(http, hub, "PUT", "/api/v1/auth/profile", wrong, token=bob))[0] == 422
    assert (await one(http, hub, root, "auth.password_change"))["result"] == "rejected"
    text = await export(http, hub, root)
    assert_no_secret(text, [FIRST, SECOND, THIRD, WRONG, ADMIN_PASSWORD, api_token, bob, root])


async def test_sessions_logout_and_refresh_reuse(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    root = (await login(http, hub))["access_token"]
    new = {"username": "bob", "password": SECOND, "grants": VIEWER}
    assert (await call(http, hub, "POST", "/api/v1/users", new, token=root))[0] == 201
    own = await login(http, hub, "bob", SECOND)
    path = f"/api/v1/auth/sessions/{own['session_id']}"
    assert (await call(http, hub, "DELETE", path, token=own["access_token"]))[0] == 200
    mine = await one(http, hub, root, "session.revoke")
    assert (mine["actor"], mine["target"]) == ("bob", own["session_id"])
    session = await login(http, hub, "bob", SECOND)
    status, body = await call(http, hub, "GET", "/api/v1/users", token=root)
    bob_id = next(u["id"] for u in body["data"] if u["username"] == "bob")
    path = f"/api/v1/users/{bob_id}/sessions/{session['session_id']}"
    assert (await call(http, hub, "DELETE", path, token=root))[0] == 200
    by_admin = await one(http, hub, root, "session.revoke")
    assert (by_admin["actor"], by_admin["target"], by_admin["details"]["username"]) == (
        "admin",
        session["session_id"],
        "bob",
    )

    stolen = await login(http, hub, "bob", SECOND)
    status, body = await call(http, hub, "POST", "/api/v1/auth/refresh", {"refresh_token": stolen["refresh_token"]})
    assert status == 200, body
    fresh = body["data"]
    assert (await call(http, hub, "POST", "/api/v1/auth/refresh", {"refresh_token": stolen["refresh_token"]}))[0] == 401
    reuse = await one(http, hub, root, "auth.refresh_reuse")
    assert (reuse["target"], reuse["result"], reuse["details"]["username"]) == (stolen["session_id"], "rejected", "bob")
    assert await entries(http, hub, root, action="auth.refresh") == []  # a plain rotation is not a write

    last = await login(http, hub, "bob", SECOND)
    assert (await call(http, hub, "POST", "/api/v1/auth/logout", token=last["access_token"]))[0] == 200
    out = await one(http, hub, root, "auth.logout")
    assert (out["actor"], out["target"], out["details"]["revoked"]) == ("bob", last["session_id"], 1)

    text = await export(http, hub, root)
    tokens = [stolen["refresh_token"], fresh["refresh_token"], fresh["access_token"], own["access_token"], root]
    assert_no_secret(text, [SECOND, ADMIN_PASSWORD, *tokens])


async def test_invitations_are_audited_without_their_token(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    root = (await login(http, hub))["access_token"]
    status, body = await call(http, hub, "POST", "/api/v1/users/invitations", {"grants": VIEWER}, token=root)
    assert status == 201, body
    token, invitation_id = body["data"]["token"], body["data"]["id"]
    made = await one(http, hub, root, "invitation.create")
    assert (made["actor"], made["target"], made["after"]["grants"]) == ("admin", invitation_id, VIEWER)
    accept = {"token": token, "username": "carol", "password": FIRST}
    assert (await call(http, hub, "POST", "/api/v1/auth/invitations/accept", accept))[0] == 201
    accepted = await one(http, hub, root, "invitation.accept")
    assert (accepted["actor"], accepted["target"], accepted["tenant_id"]) == ("carol", invitation_id, "default")
    assert accepted["after"]["username"] == "carol" and accepted["after"]["grants"] == VIEWER

    status, body = await call(http, hub, "POST", "/api/v1/users/invitations", {"grants": VIEWER}, token=root)
    withdrawn_token, withdrawn_id = body["data"]["token"], body["data"]["id"]
    assert (await call(http, hub, "DELETE", f"/api/v1/users/invitations/{withdrawn_id}", token=root))[0] == 200
    revoked = await one(http, hub, root, "invitation.revoke")
    assert (revoked["target"], revoked["before"]["revoked_at"]) == (withdrawn_id, None)
    assert_no_secret(await export(http, hub, root), [token, withdrawn_token, FIRST, ADMIN_PASSWORD, root])


async def test_failed_logins_land_in_the_right_tenant(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    assert hub.storage is not None
    await add_tenant(hub.storage, "t2")
    root = (await login(http, hub))["access_token"]
    owner = {
        "username": "tina",
        "password": FIRST,
        "grants": [{"node_type": "tenant", "node_id": "t2", "role": "owner"}],
    }
    assert (await call(http, hub, "POST", "/api/v1/users?tenant=t2", owner, token=root))[0] == 201
    made = await one(http, hub, root, "user.create", target="tina")
    # The system administrator is named in t2's log, but its user id (of another tenant) is not shown there.
    assert (made["tenant_id"], made["actor"], made["user_id"]) == ("t2", "admin", None)
    for name in ("tina", "ghost-user"):
        assert (await call(http, hub, "POST", "/api/v1/auth/login", {"username": name, "password": WRONG}))[0] == 401
    assert (await one(http, hub, root, "auth.login", target="tina"))["tenant_id"] == "t2"
    ghost = await one(http, hub, root, "auth.login", target="ghost-user")
    assert (ghost["tenant_id"], ghost["result"], ghost["details"]["username"]) == ("default", "rejected", "ghost-user")
    # The t2 owner sees its own user's failure, never the names tried that exist nowhere.
    tina = (await login(http, hub, "tina", FIRST))["access_token"]
    seen = await entries(http, hub, tina, action="auth.login")
    assert {e["target"] for e in seen} == {"tina"} and {e["tenant_id"] for e in seen} == {"t2"}
    assert "ghost-user" not in await export(http, hub, tina)
    users = await accounts_of(hub.storage).users("t2")
    assert_no_secret(await export(http, hub, root), [FIRST, WRONG, ADMIN_PASSWORD, users[0].password_hash])
