"""Helpers of the accounts tests: a hub with auth required, and JSON calls over real HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp

from hub.core import Hub

ADMIN_PASSWORD = "correct horse battery staple"
AUTH_CONFIG = """
hub:
  data_dir: {data_dir}
http:
  port: 0
logging:
  level: DEBUG
  file: null
auth:
  required: true
  access_ttl: 600
"""


async def call(
    http: aiohttp.ClientSession,
    hub: Hub,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One API call; (status, envelope)."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with http.request(method, f"{hub.http_url}{path}", json=body, headers=sent) as response:
        return response.status, await response.json()


async def login(
    http: aiohttp.ClientSession, hub: Hub, username: str = "admin", password: str = ADMIN_PASSWORD
) -> dict[str, Any]:
    """Log in; the envelope's data (tokens)."""
    status, body = await call(http, hub, "POST", "/api/v1/auth/login", {"username": username, "password": password})
    assert status == 200, body
    data: dict[str, Any] = body["data"]
    return data
