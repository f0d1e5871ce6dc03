"""Shared by the client-manager tests: a hub without batteries and a JSON HTTP call."""

from __future__ import annotations

from typing import Any

import aiohttp

from hub.core import Hub

BARE_CONFIG = """
hub:
  data_dir: {data_dir}
http:
  port: 0
logging:
  level: INFO
  file: null
"""


async def call(
    http: aiohttp.ClientSession, hub: Hub, method: str, path: str, token: str | None = None, **kwargs: Any
) -> tuple[int, Any]:
    """(status, parsed envelope) of one request, with a bearer token if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, f"{hub.http_url}{path}", headers=headers, **kwargs) as response:
        return response.status, await response.json()
