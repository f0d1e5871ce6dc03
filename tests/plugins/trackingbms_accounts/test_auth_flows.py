"""Login, refresh, logout and token validation on a real hub over real HTTP."""

from __future__ import annotations

import aiohttp

from hub.bus import AUTH_USER_LOGIN, AUTH_USER_LOGOUT, Event
from tests.helpers import HubFactory
from tests.plugins.trackingbms_accounts.accounts_helpers import ADMIN_PASSWORD, AUTH_CONFIG, call, login


async def test_login_gives_tokens_that_open_the_api(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    status, body = await call(http, hub, "GET", "/api/v1/bms")
    assert status == 401 and body["status"] == "error"
    async with http.get(f"{hub.http_url}/api/v1/stream") as response:  # the WebSocket too
        assert response.status == 401
    tokens = await login(http, hub)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 600
    assert tokens["access_token"].count(".") == 2 and tokens["refresh_token"]
    status, body = await call(http, hub, "GET", "/api/v1/bms", token=tokens["access_token"])
    assert status == 200, body
    status, body = await call(http, hub, "GET", "/api/v1/auth/profile", token=tokens["access_token"])
    assert status == 200 and body["data"]["username"] == "admin" and body["data"]["system_admin"] is True
    assert "password_hash" not in body["data"]


async def test_wrong_password_and_unknown_user(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    for username, password in (("admin", "wrong password"), ("nobody", ADMIN_PASSWORD)):
        status, body = await call(http, hub, "POST", "/api/v1/auth/login", {"username": username, "password": password})
        assert status in (401, 429) and "access_token" not in str(body["data"])
    status, body = await call(http, hub, "POST", "/api/v1/auth/login", {"username": "admin"})
    assert status == 422 and body["data"][0]["path"] == "body.password"


async def test_refresh_rotates_and_reuse_revokes_the_family(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    first = await login(http, hub)
    status, body = await call(http, hub, "POST", "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert status == 200, body
    second = body["data"]
    assert second["refresh_token"] != first["refresh_token"] and second["session_id"] == first["session_id"]
    status, _ = await call(http, hub, "GET", "/api/v1/auth/profile", token=second["access_token"])
    assert status == 200
    # The first refresh token again: a reuse. It is refused and the whole session dies with it.
    status, body = await call(http, hub, "POST", "/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert status == 401 and "revoked" in body["message"]
    for token in (first["access_token"], second["access_token"]):
        status, _ = await call(http, hub, "GET", "/api/v1/auth/profile", token=token)
        assert status == 401
    status, _ = await call(http, hub, "POST", "/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]})
    assert status == 401
    # Another login is a new family, untouched.
    third = await login(http, hub)
    assert third["session_id"] != first["session_id"]
    assert (await call(http, hub, "GET", "/api/v1/auth/profile", token=third["access_token"]))[0] == 200


async def test_logout_revokes_the_session(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    tokens = await login(http, hub)
    other = await login(http, hub)
    status, body = await call(http, hub, "POST", "/api/v1/auth/logout", token=tokens["access_token"])
    assert status == 200 and body["data"]["session_id"] == tokens["session_id"]
    assert (await call(http, hub, "GET", "/api/v1/auth/profile", token=tokens["access_token"]))[0] == 401
    status, _ = await call(http, hub, "POST", "/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert status == 401
    assert (await call(http, hub, "GET", "/api/v1/auth/profile", token=other["access_token"]))[0] == 200


async def test_validate_token_for_other_services(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    tokens = await login(http, hub)
    status, body = await call(http, hub, "POST", "/api/v1/auth/validate-token", {"token": tokens["access_token"]})
    assert status == 200 and body["data"]["username"] == "admin" and body["data"]["system_admin"] is True
    assert body["data"]["session_id"] == tokens["session_id"]
    status, _ = await call(http, hub, "POST", "/api/v1/auth/validate-token", {"token": tokens["refresh_token"]})
    assert status == 401


async def test_profile_change_and_password_change(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    token = (await login(http, hub))["access_token"]
    change = {"display_name": "Root", "email": "root@example.org", "locale": "de"}
    status, body = await call(http, hub, "PUT", "/api/v1/auth/profile", change, token=token)
    assert status == 200 and body["data"]["locale"] == "de" and body["data"]["display_name"] == "Root"
    wrong = {"password": "new password 1", "current_password": "not it"}
    status, body = await call(http, hub, "PUT", "/api/v1/auth/profile", wrong, token=token)
    assert status == 422 and body["data"][0]["path"] == "body.current_password"
    right = {"password": "new password 1", "current_password": ADMIN_PASSWORD}
    assert (await call(http, hub, "PUT", "/api/v1/auth/profile", right, token=token))[0] == 200
    await login(http, hub, password="new password 1")
    status, _ = await call(http, hub, "POST", "/api/v1/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})
    assert status in (401, 429)


async def test_permissions_and_sessions(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    first = await login(http, hub)
    second = await login(http, hub)
    status, body = await call(http, hub, "GET", "/api/v1/auth/permissions", token=first["access_token"])
    assert status == 200 and "system.manage" in body["data"]["actions"]
    status, body = await call(http, hub, "GET", "/api/v1/auth/sessions", token=first["access_token"])
    assert status == 200 and {s["id"] for s in body["data"]} == {first["session_id"], second["session_id"]}
    assert [s["current"] for s in body["data"] if s["id"] == first["session_id"]] == [True]
    path = f"/api/v1/auth/sessions/{second['session_id']}"
    assert (await call(http, hub, "DELETE", path, token=first["access_token"]))[0] == 200
    assert (await call(http, hub, "GET", "/api/v1/auth/profile", token=second["access_token"]))[0] == 401
    assert (await call(http, hub, "DELETE", "/api/v1/auth/sessions/nope", token=first["access_token"]))[0] == 404


async def test_failed_logins_are_slowed_down(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    # A long base delay: the wait cannot run out between two requests of a loaded machine.
    throttle = "http:\n  port: 0\n  rate_limit:\n    login:\n      free_failures: 2\n      base_delay: 600\n"
    hub = await start_hub(AUTH_CONFIG.replace("http:\n  port: 0\n", throttle))
    wrong = {"username": "admin", "password": "wrong password"}
    for _ in range(3):
        assert (await call(http, hub, "POST", "/api/v1/auth/login", wrong))[0] == 401
    right = {"username": "admin", "password": ADMIN_PASSWORD}
    async with http.post(f"{hub.http_url}/api/v1/auth/login", json=right) as response:
        assert response.status == 429 and int(response.headers["Retry-After"]) > 0
        assert "access_token" not in await response.text()


async def test_login_and_logout_are_published_on_the_bus(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    seen: list[Event] = []
    hub.bus.subscribe("auth.user.*", seen.append, name="test")
    status, _ = await call(http, hub, "POST", "/api/v1/auth/login", {"username": "admin", "password": "wrong"})
    assert status == 401
    tokens = await login(http, hub)
    assert (await call(http, hub, "POST", "/api/v1/auth/logout", token=tokens["access_token"]))[0] == 200
    await hub.bus.drain()
    assert [e.name for e in seen] == [AUTH_USER_LOGIN, AUTH_USER_LOGOUT]  # a failed login is not one
    login_data, logout_data = seen[0].data, seen[1].data
    assert login_data["username"] == "admin" and login_data["tenant_id"] == "default"
    assert login_data["session_id"] == tokens["session_id"] and login_data["ip"] == "127.0.0.1"
    assert logout_data["user_id"] == login_data["user_id"] and logout_data["session_id"] == tokens["session_id"]
    assert logout_data["revoked"] >= 1 and seen[0].origin == "plugin.accounts"
