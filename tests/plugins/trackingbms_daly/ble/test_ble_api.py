"""Transmitter discovery and pairing through the HTTP API of a running hub with the fake BLE backend."""

from __future__ import annotations

import textwrap
from typing import Any

import aiohttp
import pytest
from bleak.exc import BleakError
from trackingbms_daly.ble import routes
from trackingbms_daly.ble.backend import BleBackend
from trackingbms_daly.ble.fake import FAKE_AIR
from trackingbms_daly.ble.registration import DalyBleSimulator

from hub.core import Hub
from hub.reading import Reading
from tests.helpers import HubFactory, wait_for

CAMPER = "40:D6:3C:32:23:A2"
SHED = "40:D6:3C:32:23:B7"
CONFIG = textwrap.dedent("""
    hub: {{data_dir: {data_dir}}}
    http: {{port: 0}}
    logging: {{file: null}}
    daly: {{ble_backend: fake, ble_scan_timeout: 1}}
    simulators:
      - {{kind: daly_ble, address: "40:D6:3C:32:23:A2", protocol: d2, cells: 4, temps: 1, seed: 3}}
      - {{kind: daly_ble, address: "40:d6:3c:32:23:b7", protocol: a5, cells: 8, temps: 2, seed: 4, rssi: -40}}
      - {{kind: daly_ble, address: "40:D6:3C:32:23:C1", protocol: x81, cloud_mode: true}}
""")


async def get(http: aiohttp.ClientSession, hub: Hub, path: str) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{hub.http_url}{path}") as response:
        return response.status, await response.json()


async def post(http: aiohttp.ClientSession, hub: Hub, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{hub.http_url}{path}", json=body) as response:
        return response.status, await response.json()


async def test_transmitters_are_listed_in_the_envelope(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    assert all(isinstance(s, DalyBleSimulator) for s in hub.simulators)
    status, body = await get(http, hub, "/api/v1/bms/transmitters")
    assert status == 200, body
    assert body["status"] == "success"
    assert [t["address"] for t in body["data"]] == [SHED, CAMPER]  # strongest first; the cloud-mode one is silent
    assert body["data"][1]["name"] == "DL-40D63C3223A2"
    assert body["data"][1]["manufacturer_id"] == 0x0302
    assert body["data"][1]["paired_as"] is None
    assert body["meta"]["count"] == 2
    assert body["meta"]["backend"] == "fake"


async def test_a_bad_scan_timeout_is_a_422(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    for value in ("soon", "0", "999"):
        status, body = await get(http, hub, f"/api/v1/bms/transmitters?timeout={value}")
        assert status == 422, body
        assert body["status"] == "error" and body["data"][0]["path"] == "query.timeout"


async def stored(hub: Hub, battery: str) -> list[Reading]:
    readings: list[Reading] = await hub.store.history(battery, None, None, 10_000)
    return readings


async def test_pairing_adds_a_battery_that_is_read(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    body_in = {"address": CAMPER.lower(), "id": "camper", "name": "Camper pack", "protocol": "d2"}
    status, body = await post(http, hub, "/api/v1/bms/transmitter/pair", body_in)
    assert status == 201, body
    assert body["message"] == "paired"
    assert dict(body["data"]) == {
        "id": "camper",
        "driver": "daly_ble",
        "address": CAMPER,
        "name": "Camper pack",
        "protocol": "d2",
        "backend": "fake",
    }
    assert "daly_ble" in hub.config.path.read_text()
    readings = await wait_for(lambda: stored(hub, "camper"), timeout=20)
    assert len(readings[-1].cells) == 4
    status, body = await get(http, hub, "/api/v1/bms/transmitters")
    assert {t["address"]: t["paired_as"] for t in body["data"]} == {SHED: None, CAMPER: "camper"}
    async with http.get(f"{hub.http_url}/api/v1/core/audit?target=camper") as response:
        audit = (await response.json())["data"]
    assert [(e["action"], e["result"]) for e in audit] == [("bms.transmitter.pair", "ok")]


async def test_an_a5_dongle_is_paired_with_auto_detection(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    status, body = await post(http, hub, "/api/v1/bms/transmitter/pair", {"address": SHED, "id": "shed"})
    assert status == 201, body
    readings = await wait_for(lambda: stored(hub, "shed"), timeout=30)
    assert len(readings[-1].cells) == 8


async def test_pairing_twice_or_badly_is_refused(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    assert (await post(http, hub, "/api/v1/bms/transmitter/pair", {"address": CAMPER, "id": "a"}))[0] == 201
    status, body = await post(http, hub, "/api/v1/bms/transmitter/pair", {"address": SHED, "id": "a"})
    assert status == 409, body
    status, body = await post(http, hub, "/api/v1/bms/transmitter/pair", {"address": CAMPER, "id": "b"})
    assert status == 409
    assert "already paired as 'a'" in body["message"]
    for bad in ({"address": "nope", "id": "c"}, {"id": "c"}, {"address": SHED}, ["not", "a", "dict"]):
        status, body = await post(http, hub, "/api/v1/bms/transmitter/pair", bad)
        assert status == 422, (bad, body)
    status, body = await post(http, hub, "/api/v1/bms/transmitter/pair", {"address": SHED, "id": "bad id!"})
    assert status == 422, body  # the hub's own battery validation, as for POST /bms/connect
    assert [e["id"] for e in hub.config.section_as_written("batteries")] == ["a"]


async def test_the_simulators_leave_the_air_when_the_hub_stops(start_hub: HubFactory) -> None:
    hub = await start_hub(CONFIG)
    assert FAKE_AIR.get(CAMPER) is not None
    await hub.stop()
    assert FAKE_AIR.get(CAMPER) is None


async def test_no_bluetooth_is_a_503(
    start_hub: HubFactory, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoAdapter:
        async def discover(self, timeout: float = 5.0, *, return_adv: Any = False, **kwargs: Any) -> Any:  # noqa: ASYNC109
            raise BleakError("No Bluetooth adapters found.")

        async def find_device_by_address(self, device_identifier: str, timeout: float = 10.0, **kwargs: Any) -> Any:  # noqa: ASYNC109
            return None

    monkeypatch.setattr(routes, "backend_named", lambda name: BleBackend(name, FAKE_AIR.client, NoAdapter()))
    hub = await start_hub(CONFIG)
    status, body = await get(http, hub, "/api/v1/bms/transmitters")
    assert status == 503, body
    assert "No Bluetooth adapters" in body["message"]
