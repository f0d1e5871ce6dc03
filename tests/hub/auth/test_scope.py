"""require_battery and store_for over real HTTP on a real SQLite database placed in a client tree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.auth.policy import require_battery
from hub.auth.principal import PRINCIPAL, Grant, Principal, local_admin
from hub.auth.scope import store_for
from hub.core import Hub
from hub.storage.sqlite import SQLiteStorage
from hub.web.app import HUB
from hub.web.envelope import envelope_middleware
from tests.helpers import write_config

WHO = web.AppKey("who", dict)


async def place(storage: SQLiteStorage) -> None:
    """Tenant t1: client c1 -> client c2 -> site s1 holding battery b1; b2 unplaced; t2 holds b3."""
    async with storage.transaction("test tree") as db:
        for tenant in ("t1", "t2"):
            await db.execute("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, '2026-01-01')", (tenant, tenant))
        await db.execute(
            "INSERT INTO clients (tenant_id, id, parent_id, name, created_at) VALUES ('t1','c1',NULL,'C1','x')"
        )
        await db.execute(
            "INSERT INTO clients (tenant_id, id, parent_id, name, created_at) VALUES ('t1','c2','c1','C2','x')"
        )
        await db.execute(
            "INSERT INTO sites (tenant_id, id, client_id, name, created_at) VALUES ('t1','s1','c2','S1','x')"
        )
    await storage.for_tenant("t1").ensure_battery("b1", "B1", "daly")
    await storage.for_tenant("t1").ensure_battery("b2", "B2", "daly")
    await storage.for_tenant("t2").ensure_battery("b3", "B3", "daly")
    async with storage.transaction("test place") as db:
        await db.execute("UPDATE batteries SET site_id = 's1' WHERE tenant_id = 't1' AND id = 'b1'")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, Principal]]]:
    storage = SQLiteStorage(tmp_path / "hub.db")
    await storage.open()
    await place(storage)
    hub = Hub(write_config(tmp_path, "hub:\n  data_dir: {data_dir}\n"))
    hub.storage = storage
    who: dict[str, Principal] = {}

    @web.middleware
    async def as_principal(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        request[PRINCIPAL] = who["current"]
        return await handler(request)

    async def control(request: web.Request) -> web.Response:
        store = await require_battery(request, request.query["action"], request.match_info["battery"])
        return web.json_response({"tenant": store.tenant_id})

    async def tenant(request: web.Request) -> web.Response:
        return web.json_response({"tenant": store_for(request).tenant_id})

    app = web.Application(middlewares=[envelope_middleware, as_principal])
    app[HUB] = hub
    app.router.add_get("/api/b/{battery}", control)
    app.router.add_get("/api/tenant", tenant)
    test_server = TestServer(app)
    await test_server.start_server()
    yield str(test_server.make_url("")), who
    await test_server.close()
    await storage.close()


async def call(base: str, path: str) -> tuple[int, str | None]:
    async with aiohttp.ClientSession() as http, http.get(base + path) as response:
        body = await response.json()
        return response.status, body.get("tenant") or body.get("message")


def member(*grants: Grant, tenant: str = "t1") -> Principal:
    return Principal(user_id="u", username="u", tenant_id=tenant, grants=grants)


async def test_require_battery_answers_by_node(server: tuple[str, dict[str, Principal]]) -> None:
    base, who = server
    who["current"] = member(Grant("client", "c2", "technician"))
    assert await call(base, "/api/b/b1?action=battery.control") == (200, "t1")
    status, _ = await call(base, "/api/b/b1?action=battery.manage")
    assert status == 403
    # Unplaced battery: only tenant-level grants reach it.
    assert (await call(base, "/api/b/b2?action=battery.read"))[0] == 403
    # Another tenant's battery and a missing one look the same: 404.
    assert (await call(base, "/api/b/b3?action=battery.read"))[0] == 404
    assert (await call(base, "/api/b/zz?action=battery.read"))[0] == 404
    who["current"] = member(Grant("tenant", "t1", "viewer"))
    assert await call(base, "/api/b/b2?action=battery.read") == (200, "t1")
    who["current"] = member(Grant("tenant", "t2", "owner"), tenant="t2")
    assert (await call(base, "/api/b/b1?action=battery.read"))[0] == 404
    assert await call(base, "/api/b/b3?action=battery.read") == (200, "t2")


async def test_store_for_follows_the_principal(server: tuple[str, dict[str, Principal]]) -> None:
    base, who = server
    who["current"] = member(Grant("tenant", "t2", "viewer"), tenant="t2")
    assert await call(base, "/api/tenant?tenant=t1") == (200, "t2")  # only a system admin may choose
    who["current"] = local_admin()
    assert await call(base, "/api/tenant") == (200, "default")
    assert await call(base, "/api/tenant?tenant=t1") == (200, "t1")
    assert await call(base, "/api/b/b3?action=battery.read&tenant=t2") == (200, "t2")
