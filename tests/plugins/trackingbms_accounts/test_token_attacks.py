"""Forged, expired, foreign and revoked tokens, and cookies without their CSRF header, are refused."""

from __future__ import annotations

import stat
import time
from typing import Any

import aiohttp
import jwt

from hub.core import Hub
from tests.helpers import HubFactory
from tests.plugins.trackingbms_accounts.accounts_helpers import ADMIN_PASSWORD, AUTH_CONFIG, call, login


def secret_of(hub: Hub) -> bytes:
    return (hub.data_dir / "auth" / "jwt_secret").read_bytes()


async def profile_status(http: aiohttp.ClientSession, hub: Hub, token: str) -> int:
    return (await call(http, hub, "GET", "/api/v1/auth/profile", token=token))[0]


async def test_forged_tokens_are_rejected(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    tokens = await login(http, hub)
    good: dict[str, Any] = jwt.decode(
        tokens["access_token"], secret_of(hub), algorithms=["HS256"], audience="trackingbms"
    )
    assert {"iss", "aud", "sub", "exp", "iat", "jti", "sid", "tenant"} <= set(good)
    assert await profile_status(http, hub, jwt.encode(good, secret_of(hub), algorithm="HS256")) == 200
    now = int(time.time())
    forged = {
        "alg none": jwt.encode(good, None, algorithm="none"),
        "wrong signature": jwt.encode(good, b"x" * 64, algorithm="HS256"),
        "wrong audience": jwt.encode({**good, "aud": "someone-else"}, secret_of(hub), algorithm="HS256"),
        "wrong issuer": jwt.encode({**good, "iss": "elsewhere"}, secret_of(hub), algorithm="HS256"),
        "expired": jwt.encode({**good, "iat": now - 7200, "exp": now - 3600}, secret_of(hub), algorithm="HS256"),
        "no session": jwt.encode({k: v for k, v in good.items() if k != "sid"}, secret_of(hub), algorithm="HS256"),
        "other session": jwt.encode({**good, "sid": "made-up"}, secret_of(hub), algorithm="HS256"),
        "HS512": jwt.encode(good, secret_of(hub), algorithm="HS512"),
        "garbage": "not.a.token",
    }
    for name, token in forged.items():
        assert await profile_status(http, hub, token) == 401, name
        status, _ = await call(http, hub, "POST", "/api/v1/auth/validate-token", {"token": token})
        assert status == 401, name


async def test_secret_file_is_private_and_kept(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    path = hub.data_dir / "auth" / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) >= 64
    assert path.read_bytes().decode() not in hub.config.path.read_text()


async def test_cookie_session_needs_csrf_on_writes(start_hub: HubFactory) -> None:
    hub = await start_hub(AUTH_CONFIG)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1 (an IP address)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        body = {"username": "admin", "password": ADMIN_PASSWORD, "cookie": True}
        status, answer = await call(browser, hub, "POST", "/api/v1/auth/login", body)
        assert status == 200 and "access_token" not in answer["data"] and "refresh_token" not in answer["data"]
        csrf = answer["data"]["csrf_token"]
        names = {cookie.key: cookie for cookie in jar}
        assert names["trackingbms_access"]["httponly"] and names["trackingbms_refresh"]["httponly"]
        assert not names["trackingbms_csrf"]["httponly"] and names["trackingbms_csrf"].value == csrf
        assert (await call(browser, hub, "GET", "/api/v1/bms"))[0] == 200
        change = {"display_name": "Browser"}
        status, _ = await call(browser, hub, "PUT", "/api/v1/auth/profile", change)
        assert status == 403
        status, _ = await call(browser, hub, "PUT", "/api/v1/auth/profile", change, headers={"X-CSRF-Token": "wrong"})
        assert status == 403
        status, answer = await call(browser, hub, "PUT", "/api/v1/auth/profile", change, headers={"X-CSRF-Token": csrf})
        assert status == 200 and answer["data"]["display_name"] == "Browser"
        # Refresh from the cookie needs the CSRF header as well, and sets new cookies.
        assert (await call(browser, hub, "POST", "/api/v1/auth/refresh"))[0] == 403
        status, answer = await call(browser, hub, "POST", "/api/v1/auth/refresh", headers={"X-CSRF-Token": csrf})
        assert status == 200 and "refresh_token" not in answer["data"]
        csrf = answer["data"]["csrf_token"]
        assert (await call(browser, hub, "GET", "/api/v1/auth/profile"))[0] == 200
        status, _ = await call(browser, hub, "POST", "/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert status == 200
        assert (await call(browser, hub, "GET", "/api/v1/bms"))[0] == 401


async def test_odd_text_is_refused_not_crashed_on(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(AUTH_CONFIG)
    status, body = await call(http, hub, "POST", "/api/v1/auth/login", {"username": "admin", "password": "\ud800x"})
    assert status == 422 and body["data"][0]["path"] == "body.password"
    status, _ = await call(http, hub, "POST", "/api/v1/auth/login", {"username": "ad\x00min", "password": "x"})
    assert status == 422
    status, _ = await call(http, hub, "POST", "/api/v1/auth/validate-token", {"token": "tbms_é"})
    assert status == 401
    session = (await login(http, hub))["access_token"]
    for path in ("/api/v1/auth/sessions/%00", "/api/v1/auth/tokens/%00", "/api/v1/users/%00"):
        status, _ = await call(http, hub, "DELETE", path, token=session)
        assert status == 404, path
