"""The REST API of a real hub reading simulated Daly boards through the real serial stack."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from hub.core import Hub
from tests.helpers import HubFactory, wait_for

ENVELOPE_KEYS = {"status", "code", "message", "timestamp", "request_id", "data", "meta"}


async def get(http: aiohttp.ClientSession, hub: Hub, path: str) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{hub.http_url}{path}") as response:
        return response.status, await response.json()


async def first_reading(http: aiohttp.ClientSession, hub: Hub, battery: str = "one") -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        status, body = await get(http, hub, f"/api/v1/bms/data/{battery}")
        return body if status == 200 else None

    result: dict[str, Any] = await wait_for(ready)
    return result


async def test_reading_served_in_envelope(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    body = await first_reading(http, hub)
    assert set(body) == ENVELOPE_KEYS
    assert body["status"] == "success" and body["code"] == 200
    reading = body["data"]
    assert reading["battery_id"] == "one"
    assert len(reading["cells"]) == 16
    assert abs(sum(reading["cells"]) - reading["voltage"]) < 0.2
    assert reading["cell_min"]["index"] in range(1, 17)
    assert reading["cell_max"]["voltage"] == max(reading["cells"])
    assert [t["sensor"] for t in reading["temperatures"]] == [1, 2]
    assert body["meta"]["link_state"] == "online" and body["meta"]["stale"] is False
    two = (await first_reading(http, hub, "two"))["data"]
    assert len(two["cells"]) == 4 and len(two["temperatures"]) == 1


async def test_unknown_battery_and_bad_parameters(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    for path in (
        "/api/v1/bms/data/nope",
        "/api/v1/bms/status/nope",
        "/api/v1/bms/cells/nope",
        "/api/v1/bms/data/nope/history",
    ):
        status, body = await get(http, hub, path)
        assert status == 404 and body["code"] == 404 and body["status"] == "error", path
        assert "nope" in body["message"]
    for query in (
        "limit=abc",
        "limit=0",
        "limit=999999",
        "from=yesterday",
        "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
    ):
        status, body = await get(http, hub, f"/api/v1/bms/data/one/history?{query}")
        assert status == 422, query
        assert set(body) == ENVELOPE_KEYS
    status, body = await get(http, hub, "/api/v1/core/logs?level=LOUD")
    assert status == 422
    status, body = await get(http, hub, "/api/v1/no/such/route")
    assert status == 404 and body["status"] == "error"


async def test_history_cells_temperatures_alarms(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    await first_reading(http, hub)

    async def stored_three() -> list[Any] | None:
        _, body = await get(http, hub, "/api/v1/bms/data/one/history?limit=100")
        return body["data"] if len(body["data"]) >= 3 else None

    history = await wait_for(stored_three)
    stamps = [r["timestamp"] for r in history]
    assert stamps == sorted(stamps)
    _, limited = await get(http, hub, "/api/v1/bms/data/one/history?limit=2")
    assert [r["timestamp"] for r in limited["data"]] == stamps[-2:] or len(limited["data"]) == 2
    _, cells = await get(http, hub, "/api/v1/bms/cells/one")
    assert [c["index"] for c in cells["data"]["cells"]] == list(range(1, 17))
    _, temps = await get(http, hub, "/api/v1/bms/temperatures/one")
    assert len(temps["data"]["temperatures"]) == 2
    _, alarms = await get(http, hub, "/api/v1/bms/alarms/one")
    assert isinstance(alarms["data"]["alarms"], list)


async def test_listing_types_status_health(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    await first_reading(http, hub)
    _, listing = await get(http, hub, "/api/v1/bms")
    assert {b["id"]: b["driver"] for b in listing["data"]} == {"one": "daly", "two": "daly"}
    assert {b["name"] for b in listing["data"]} == {"Pack one", "two"}
    _, types = await get(http, hub, "/api/v1/bms/types")
    assert "daly" in {t["name"] for t in types["data"]}
    _, status = await get(http, hub, "/api/v1/bms/status/one")
    assert status["data"]["link_state"] == "online" and status["data"]["health"] == "ok"
    _, health = await get(http, hub, "/api/v1/core/health")
    assert health["data"]["status"] == "ok"
    assert health["data"]["name"] == hub.config.data["hub"]["name"] == "TrackingBMS"
    _, services = await get(http, hub, "/api/v1/core/services")
    names = {s["name"]: s["health"] for s in services["data"]["services"]}
    assert names["battery.one"] == "ok" and names["plugin.daly"] == "ok" and names["core.recorder"] == "ok"


async def test_logs_are_paginated_and_filtered(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    await first_reading(http, hub)
    _, page = await get(http, hub, "/api/v1/core/logs?per_page=2&page=1")
    assert len(page["data"]) == 2
    assert page["meta"]["pagination"]["total"] >= 2
    _, info = await get(http, hub, "/api/v1/core/logs?level=INFO&module=hub&per_page=1000")
    assert info["data"] and all(r["level"] in ("INFO", "WARNING", "ERROR", "CRITICAL") for r in info["data"])
    assert all(r["logger"].startswith("hub") for r in info["data"])
    _, future = await get(http, hub, "/api/v1/core/logs?since=2999-01-01T00:00:00Z")
    assert future["data"] == []


async def test_websocket_pushes_new_readings(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    async with http.ws_connect(f"{hub.http_url}/api/v1/stream?battery=two") as ws:
        seen: list[dict[str, Any]] = []
        while len(seen) < 2:
            message = json.loads((await ws.receive(timeout=15)).data)
            if message["type"] == "reading":
                seen.append(message["data"])
        assert {r["battery_id"] for r in seen} == {"two"}
        assert seen[0]["timestamp"] < seen[1]["timestamp"]


async def test_shutdown_closes_open_streams(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    async with http.ws_connect(f"{hub.http_url}/api/v1/stream") as ws:
        await hub.stop()  # must not wait for the browser to go away
        message = await ws.receive(timeout=5)
        while message.type == aiohttp.WSMsgType.TEXT:  # readings and link changes queued before the close
            message = await ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
