"""GET/PUT /api/v1/core/config/{module} and services/reload on a running hub."""

from __future__ import annotations

from typing import Any

import aiohttp

from hub.core import Hub
from tests.helpers import HubFactory, wait_for

CONFIG = """
# comment that must survive a PUT
hub:
  data_dir: {data_dir}
http:
  port: 0
logging:
  file: null
simulators:
  - kind: daly
    link: sim/one
    cells: 8
    temps: 1
batteries:
  - id: one
    driver: daly
    port: sim/one   # the simulator's link
    poll_interval: 0.3
derive:
  max_abs_current: 900
"""


async def put(http: aiohttp.ClientSession, hub: Hub, module: str, value: Any) -> tuple[int, dict[str, Any]]:
    async with http.put(f"{hub.http_url}/api/v1/core/config/{module}", json=value) as response:
        return response.status, await response.json()


async def test_get_returns_section_as_written(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    async with http.get(f"{hub.http_url}/api/v1/core/config/batteries") as response:
        body = await response.json()
    assert response.status == 200
    assert body["data"] == [{"id": "one", "driver": "daly", "port": "sim/one", "poll_interval": 0.3}]
    async with http.get(f"{hub.http_url}/api/v1/core/config/unknown") as response:
        assert response.status == 404


async def test_invalid_put_is_422_and_changes_nothing(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    before = hub.config.path.read_bytes()
    bad_entries = [{"id": "one", "driver": "daly", "port": "sim/one"}, {"id": "two", "driver": "daly", "port": 42}]
    status, body = await put(http, hub, "batteries", bad_entries)
    assert status == 422
    assert body["data"][0]["path"] == "batteries[1].port"
    assert body["data"][0]["message"] == "expected a serial device path"
    status, body = await put(http, hub, "derive", {"max_abs_current": "lots"})
    assert status == 422 and body["data"][0]["path"] == "derive.max_abs_current"
    async with http.put(f"{hub.http_url}/api/v1/core/config/batteries", data=b"{not json") as response:
        assert response.status == 400
    assert hub.config.path.read_bytes() == before
    assert list(hub.batteries.coordinators) == ["one"] if hub.batteries else False


async def test_valid_put_is_written_and_applied(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    entries = [
        {"id": "one", "driver": "daly", "port": "sim/one", "poll_interval": 0.3, "name": "Renamed"},
        {"id": "spare", "driver": "daly", "port": "sim/one", "poll_interval": 0.5},
    ]
    status, body = await put(http, hub, "batteries", entries)
    assert status == 200, body
    assert body["meta"]["applied"] is True
    text = hub.config.path.read_text()
    assert "# comment that must survive a PUT" in text and "Renamed" in text and "spare" in text
    assert hub.batteries is not None
    assert hub.batteries.coordinators["one"].config.name == "Renamed"
    assert "spare" in hub.batteries.coordinators
    status, body = await put(http, hub, "http", {"port": 0, "host": "127.0.0.1"})
    assert status == 200 and body["meta"]["restart_required"] is True


async def test_reload_applies_file_changes(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    path = hub.config.path
    path.write_text(path.read_text().replace("poll_interval: 0.3", "poll_interval: 0.4"))
    async with http.post(f"{hub.http_url}/api/v1/core/services/reload") as response:
        body = await response.json()
    assert response.status == 200 and body["data"]["reloaded"] == ["batteries"]
    assert hub.batteries is not None
    await wait_for(lambda: hub.batteries is not None and hub.batteries.coordinators["one"].config.poll_interval == 0.4)
    path.write_text(path.read_text().replace("cells: 8", "cells: many"))
    async with http.post(f"{hub.http_url}/api/v1/core/services/reload") as response:
        body = await response.json()
    assert response.status == 422
    assert "simulators[0].cells" in body["data"][0]["text"]
