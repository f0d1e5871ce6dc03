"""foxBMS through the whole hub: simulator on a virtual CAN bus -> driver -> pipeline -> stored reading."""

from __future__ import annotations

import textwrap

import aiohttp
import pytest

from tests.helpers import HubFactory, wait_for

BASE = """
    hub: {{data_dir: {data_dir}}}
    http: {{port: 0}}
    logging: {{file: null}}
"""

CASES = {
    "current": """
        simulators:
          - {{kind: foxbms, interface: virtual, channel: e2e-foxbms-current, cells: 18, temps: 8, seed: 1,
              period: 0.02, flags: [bms_general_warning], invalid_temps: [4]}}
        batteries:
          - {{id: fox, driver: foxbms, interface: virtual, channel: e2e-foxbms-current, cells: 18, temps: 8,
              poll_interval: 0.3}}
    """,
    "v1.6-auto": """
        simulators:
          - {{kind: foxbms, interface: virtual, channel: e2e-foxbms-old, dbc_version: v1.6, cells: 18, temps: 8,
              seed: 2, period: 0.02, flags: [bms_general_warning], invalid_temps: [4]}}
        batteries:
          - {{id: fox, driver: foxbms, interface: virtual, channel: e2e-foxbms-old, poll_interval: 0.3}}
    """,
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_foxbms_reading_reaches_storage_with_all_cells(start_hub: HubFactory, case: str) -> None:
    hub = await start_hub(textwrap.dedent(BASE) + textwrap.dedent(CASES[case]))
    reading = await wait_for(lambda: hub.store.latest("fox"), timeout=30)
    assert len(reading.cells) == 18
    assert all(3.0 < v < 3.6 for v in reading.cells)
    assert reading.voltage is not None and abs(sum(reading.cells) - reading.voltage) < 0.15
    assert [t.sensor for t in reading.temperatures] == [1, 2, 3, 5, 6, 7, 8]  # sensor 4 flagged invalid
    assert reading.current is not None and reading.power is not None
    assert reading.cell_min is not None and reading.cell_delta is not None
    assert {a.code for a in reading.alarms} == {"bms_general_warning", "temperature_invalid"}
    history = await wait_for(lambda: hub.store.history("fox", None, None, 10), timeout=30)
    assert all(len(r.cells) == 18 for r in history)
    # Per-string values have no reading field: the status endpoint shows them as driver details.
    async with aiohttp.ClientSession() as http, http.get(f"{hub.http_url}/api/v1/bms/status/fox") as answer:
        status = (await answer.json())["data"]
    assert answer.status == 200 and list(status["details"]["strings"]) == ["0"]
    assert status["details"]["strings"]["0"]["voltage"] == pytest.approx(reading.voltage, abs=1.0)
