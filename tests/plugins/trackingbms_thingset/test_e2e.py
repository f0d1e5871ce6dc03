"""Through the whole hub: simulator -> driver -> pipeline -> stored reading, and an audited control write."""

from __future__ import annotations

import textwrap
from typing import Any

import aiohttp
import pytest
from trackingbms_thingset.simulator import ThingSetSimulator

from tests.helpers import HubFactory, wait_for
from tests.plugins.trackingbms_thingset.harness import new_channel

BASE = """
    hub: {{data_dir: {data_dir}}}
    http: {{enabled: false}}
    logging: {{file: null}}
"""

CASES = {
    "serial-2024": """
        simulators: [{{kind: thingset, link: sim/bms, era: "2024", cells: 9, temps: 2, seed: 1, report_period: 0.2}}]
        batteries: [{{id: pack, driver: thingset, port: sim/bms, cells: 9, poll_interval: 0.3}}]
    """,
    "serial-2022-request": """
        simulators: [{{kind: thingset, link: sim/bms, era: 2022-05, cells: 9, temps: 2, seed: 1, reports: false}}]
        batteries: [{{id: pack, driver: thingset, port: sim/bms, era: 2022-05, crc: off, poll_interval: 0.3}}]
    """,
    "can-2024": """
        simulators: [{{kind: thingset_can, channel: {channel}, era: "2024", cells: 9, temps: 2, seed: 1,
                       report_period: 0.2}}]
        batteries: [{{id: pack, driver: thingset_can, interface: virtual, channel: {channel}, cells: 9,
                      poll_interval: 0.3}}]
    """,
    "can-2023": """
        simulators: [{{kind: thingset_can, channel: {channel}, era: 2023, node: 5, cells: 9, temps: 2, seed: 1,
                       report_period: 0.2}}]
        batteries: [{{id: pack, driver: thingset_can, interface: virtual, channel: {channel}, node: 5,
                      poll_interval: 0.3}}]
    """,
}


@pytest.mark.parametrize("case", list(CASES))
async def test_reading_reaches_storage(start_hub: HubFactory, case: str) -> None:
    config = textwrap.dedent(BASE) + textwrap.dedent(CASES[case]).replace("{channel}", new_channel())
    hub = await start_hub(config)
    reading = await wait_for(lambda: hub.store.latest("pack"), timeout=30)
    assert len(reading.cells) == 9
    assert reading.voltage is not None and abs(sum(reading.cells) - reading.voltage) < 0.15
    assert reading.soc is not None and 0 <= reading.soc <= 100
    assert any(t.kind.value == "cell" for t in reading.temperatures)
    assert reading.charge_mos is True and reading.discharge_mos is True


CONTROL = """
    hub: {{data_dir: {data_dir}}}
    http: {{port: 0}}
    logging: {{file: null}}
    simulators: [{{kind: thingset, link: sim/bms, era: "2024", cells: 8, seed: 2, report_period: 0.2}}]
    batteries: [{{id: pack, driver: thingset, port: sim/bms, poll_interval: 0.3, control: true}}]
"""


async def test_control_write_through_the_api_is_confirmed_and_audited(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(textwrap.dedent(CONTROL))
    sim = hub.simulators[0]
    assert isinstance(sim, ThingSetSimulator)
    await wait_for(lambda: hub.store.latest("pack"), timeout=30)
    body = {"action": "charge_mos", "value": "off"}
    async with http.post(f"{hub.http_url}/api/v1/bms/configure/pack", json=body) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == 200, answer
    assert answer["data"]["confirmed"] is True and answer["data"]["object"] == "Input/wChgEnable"
    assert sim.device.chg_enable is False
    async with http.get(f"{hub.http_url}/api/v1/core/audit?target=pack") as response:
        entries = (await response.json())["data"]
    assert [(e["action"], e["result"]) for e in entries][:1] == [("bms.charge_mos", "ok")]
    stored = await wait_for(
        lambda: _latest_with(hub, lambda r: r.charge_mos is False and r.discharge_mos is True), timeout=30
    )
    assert stored is not None
    async with http.post(f"{hub.http_url}/api/v1/bms/configure/pack", json={"action": "soc", "value": 50}) as response:
        assert response.status == 422  # rSOC_pct is read-only: not a supported control


async def _latest_with(hub: Any, wanted: Any) -> Any:
    reading = await hub.store.latest("pack")
    return reading if reading is not None and wanted(reading) else None


async def test_settings_write_through_the_api_is_confirmed_and_audited(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(textwrap.dedent(CONTROL))
    await wait_for(lambda: hub.store.latest("pack"), timeout=30)
    url = f"{hub.http_url}/api/v1/bms/configure/pack"
    body = {"action": "config", "value": {"sBalIdleDelay_s": 901}}
    async with http.post(url, json=body) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == 200, answer
    async with http.get(f"{hub.http_url}/api/v1/core/audit?target=pack") as response:
        entries = (await response.json())["data"]
    assert [(e["action"], e["result"]) for e in entries][:1] == [("bms.config", "ok")]
    # The API checks the shape; the driver checks the names and ranges of the era's settings.
    for bad, status in (({}, 422), ({"": 1}, 422), ({"sBalIdleDelay_s": {"x": 1}}, 422), ({"rSOC_pct": 50}, 422)):
        async with http.post(url, json={"action": "config", "value": bad}) as response:
            assert response.status == status, (bad, await response.text())
