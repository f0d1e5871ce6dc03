"""Control writes, connect/disconnect and the audit log, against a hub reading a simulated Daly board."""

from __future__ import annotations

import textwrap
from typing import Any

import aiohttp
import pytest
from trackingbms_daly.simulator import DalySimulator

from hub.core import Hub
from tests.helpers import HubFactory, wait_for

CONFIG = textwrap.dedent("""
    hub: {{data_dir: {data_dir}}}
    http: {{port: 0}}
    logging: {{file: null}}
    simulators:
      - {{kind: daly, link: sim/a, cells: 8, temps: 1, seed: 5}}
    batteries:
      - {{id: writable, driver: daly, port: sim/a, poll_interval: 0.3, control: true}}
      - {{id: readonly, driver: daly, port: sim/a, poll_interval: 0.3}}
""")


async def post(http: aiohttp.ClientSession, hub: Hub, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{hub.http_url}{path}", json=body) as response:
        return response.status, await response.json()


async def audit(http: aiohttp.ClientSession, hub: Hub, target: str) -> list[dict[str, Any]]:
    async with http.get(f"{hub.http_url}/api/v1/core/audit?target={target}") as response:
        return list((await response.json())["data"])


async def test_mosfet_switch_is_confirmed_and_audited(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    pack = hub.simulators[0]
    assert isinstance(pack, DalySimulator)
    status, body = await post(http, hub, "/api/v1/bms/configure/writable", {"action": "charge_mos", "value": "off"})
    assert status == 200, body
    assert body["data"] == {
        "battery_id": "writable",
        "action": "charge_mos",
        "requested": False,
        "read_back": False,
        "confirmed": True,
    }
    assert pack.device.pack.charge_mos is False
    status, body = await post(http, hub, "/api/v1/bms/configure/writable", {"action": "soc", "value": 42.5})
    assert status == 200 and body["data"]["read_back"] == 42.5
    entries = await audit(http, hub, "writable")
    assert [(e["action"], e["result"]) for e in entries] == [("bms.soc", "ok"), ("bms.charge_mos", "ok")]
    assert entries[1]["request"] == {"action": "charge_mos", "value": False}
    # auth.required is false in this config: every write is the local administrator's.
    assert (entries[1]["actor"], entries[1]["user_id"], entries[1]["source_ip"]) == ("local", "local", "127.0.0.1")

    async def soc_seen() -> bool:
        async with http.get(f"{hub.http_url}/api/v1/bms/data/writable") as response:
            return response.status == 200 and abs((await response.json())["data"]["soc"] - 42.5) < 0.5

    await wait_for(soc_seen)


async def test_writes_are_refused_unless_enabled(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    status, body = await post(http, hub, "/api/v1/bms/configure/readonly", {"action": "discharge_mos", "value": False})
    assert status == 403 and "control: true" in body["message"]
    for bad in (
        {"action": "soc", "value": 120},
        {"action": "fly"},
        {"value": 1},
        {"action": "charge_mos", "value": "maybe"},
    ):
        status, body = await post(http, hub, "/api/v1/bms/configure/writable", bad)
        assert status == 422, bad
    status, _ = await post(http, hub, "/api/v1/bms/configure/ghost", {"action": "restart"})
    assert status == 404
    assert [e["result"] for e in await audit(http, hub, "readonly")] == ["rejected"]
    pack = hub.simulators[0]
    assert isinstance(pack, DalySimulator) and pack.device.pack.discharge_mos is True


async def test_connect_and_disconnect_at_runtime(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    status, body = await post(http, hub, "/api/v1/bms/connect", {"id": "extra", "driver": "daly", "port": 5})
    assert status == 422 and body["data"][0]["path"] == "batteries[2].port"
    status, body = await post(
        http, hub, "/api/v1/bms/connect", {"id": "extra", "driver": "daly", "port": "sim/a", "poll_interval": 0.3}
    )
    assert status == 201, body
    assert "extra" in hub.config.path.read_text()

    async def extra_read() -> bool:
        async with http.get(f"{hub.http_url}/api/v1/bms/data/extra") as response:
            return response.status == 200

    await wait_for(extra_read)
    status, _ = await post(http, hub, "/api/v1/bms/connect", {"id": "extra", "driver": "daly", "port": "sim/a"})
    assert status == 409
    async with http.delete(f"{hub.http_url}/api/v1/bms/disconnect/extra") as response:
        assert response.status == 200
    assert hub.batteries is not None and "extra" not in hub.batteries.coordinators
    assert "extra" not in hub.config.path.read_text()
    async with http.delete(f"{hub.http_url}/api/v1/bms/disconnect/extra") as response:
        assert response.status == 404
    assert [(e["action"], e["result"]) for e in await audit(http, hub, "extra")] == [
        ("bms.disconnect", "ok"),
        ("bms.connect", "ok"),
        ("bms.connect", "rejected"),
    ]


MODBUS_CONFIG = textwrap.dedent("""
    hub: {{data_dir: {data_dir}}}
    http: {{port: 0}}
    logging: {{file: null}}
    simulators:
      - {{kind: daly_modbus, protocol: {family}, link: sim/m, cells: 8, temps: 1, seed: 5}}
    batteries:
      - {{id: modbus, driver: daly_modbus, port: sim/m, poll_interval: 0.3, control: true}}
""")


@pytest.mark.parametrize("family", ["d2", "x81"])
async def test_modbus_families_take_control_writes(
    start_hub: HubFactory, http: aiohttp.ClientSession, family: str
) -> None:
    hub = await start_hub(MODBUS_CONFIG.replace("{family}", family))
    status, body = await post(http, hub, "/api/v1/bms/configure/modbus", {"action": "discharge_mos", "value": False})
    assert status == 200, body
    assert body["data"]["confirmed"] is True
    assert hub.simulators[0].device.pack.discharge_mos is False  # type: ignore[attr-defined]
    status, body = await post(http, hub, "/api/v1/bms/configure/modbus", {"action": "soc", "value": 80})
    assert status == 200 and body["data"]["read_back"] == pytest.approx(80, abs=0.5)
    status, body = await post(http, hub, "/api/v1/bms/configure/modbus", {"action": "restart"})
    assert status == (200 if family == "d2" else 422), body  # 0x81 documents no restart register
