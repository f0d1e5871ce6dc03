"""Within one tenant, a user with a role on one client sees that client's live batteries only
(the battery list and the WebSocket stream), never another client's."""

from __future__ import annotations

import json

import aiohttp
import pytest

from hub.core import Hub
from tests.helpers import HubFactory, wait_for
from tests.hub.web.tenant_helpers import ADMIN_PASSWORD, CONFIG, PASSWORD, access_token, call, ok


@pytest.fixture(autouse=True)
def admin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", ADMIN_PASSWORD)


async def _place(http: aiohttp.ClientSession, hub: Hub, admin: str) -> str:
    """east holds alpha-pack-1, west holds alpha-pack-2; a viewer on east; its token."""
    await wait_for(lambda: hub.store.latest("alpha-pack-2"), timeout=30)
    for client, battery in (("east", "alpha-pack-1"), ("west", "alpha-pack-2")):
        await ok(http, hub, admin, "POST", "/api/v1/clients", {"id": client, "name": client})
        await ok(http, hub, admin, "POST", "/api/v1/sites", {"id": f"s-{client}", "name": client, "client_id": client})
        await ok(http, hub, admin, "PATCH", f"/api/v1/batteries/{battery}", {"site_id": f"s-{client}"})
    grants = [{"node_type": "client", "node_id": "east", "role": "viewer"}]
    await ok(http, hub, admin, "POST", "/api/v1/users", {"username": "eve", "password": PASSWORD, "grants": grants})
    return await access_token(http, hub, "eve")


async def test_battery_list_and_reads_follow_the_client_tree(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(CONFIG)
    admin = await access_token(http, hub, "admin", ADMIN_PASSWORD)
    eve = await _place(http, hub, admin)
    assert [b["id"] for b in await ok(http, hub, eve, "GET", "/api/v1/bms")] == ["alpha-pack-1"]
    assert {b["id"] for b in await ok(http, hub, admin, "GET", "/api/v1/bms")} == {"alpha-pack-1", "alpha-pack-2"}
    assert (await call(http, hub, "GET", "/api/v1/bms/data/alpha-pack-1", eve))[0] == 200
    assert (await call(http, hub, "GET", "/api/v1/bms/data/alpha-pack-2", eve))[0] == 403


async def test_the_stream_carries_only_the_users_batteries(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    admin = await access_token(http, hub, "admin", ADMIN_PASSWORD)
    eve = await _place(http, hub, admin)
    heard: list[str] = []
    headers = {"Authorization": f"Bearer {eve}"}
    async with http.ws_connect(f"{hub.http_url}/api/v1/stream", headers=headers) as ws:
        # Both packs poll at the same rate: by alpha-pack-1's fourth reading, readings of
        # alpha-pack-2 would have come too if the stream forwarded them.
        while heard.count("alpha-pack-1") < 4:
            message = json.loads((await ws.receive(timeout=30)).data)
            if message["type"] == "reading":
                heard.append(message["data"]["battery_id"])
    assert set(heard) == {"alpha-pack-1"}
