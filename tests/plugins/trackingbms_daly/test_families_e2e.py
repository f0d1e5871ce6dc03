"""Every Daly family and transport through the whole hub: simulator -> driver -> pipeline -> stored reading."""

from __future__ import annotations

import textwrap

import pytest

from tests.helpers import HubFactory, wait_for

BASE = """
    hub: {{data_dir: {data_dir}}}
    http: {{enabled: false}}
    logging: {{file: null}}
"""

CASES = {
    "a5-serial": """
        simulators: [{{kind: daly, link: sim/a5, cells: 9, temps: 2, seed: 1}}]
        batteries: [{{id: pack, driver: daly, port: sim/a5, poll_interval: 0.3}}]
    """,
    "a5-rs485-multidrop": """
        simulators: [{{kind: daly, link: sim/bus, cells: 9, temps: 2, seed: 1, boards: 2}}]
        batteries:
          - {{id: pack, driver: daly, port: sim/bus, address: 0x40, board: 2, poll_interval: 0.3}}
          - {{id: other, driver: daly, port: sim/bus, address: 0x40, board: 1, poll_interval: 0.3}}
    """,
    "a5-can-virtual": """
        simulators: [{{kind: daly_can, interface: virtual, channel: e2e-{channel}, cells: 9, temps: 2, seed: 1,
                       boards: 2}}]
        batteries:
          - {{id: pack, driver: daly_can, interface: virtual, channel: e2e-{channel}, board: 2, poll_interval: 0.3}}
          - {{id: other, driver: daly_can, interface: virtual, channel: e2e-{channel}, board: 1, poll_interval: 0.3}}
    """,
    "a5-can-slcan": """
        simulators: [{{kind: daly_can, interface: slcan-pty, link: sim/slcan, cells: 9, temps: 2, seed: 1}}]
        batteries:
          - {{id: pack, driver: daly_can, interface: slcan, channel: sim/slcan, poll_interval: 0.3,
              options: {{sleep_after_open: 0}}}}
    """,
    "a5-ble": """
        daly: {{ble_backend: fake}}
        simulators: [{{kind: daly_ble, address: "40:D6:3C:00:00:01", protocol: a5, cells: 9, temps: 2, seed: 1}}]
        batteries: [{{id: pack, driver: daly_ble, address: "40:D6:3C:00:00:01", backend: fake, poll_interval: 0.3}}]
    """,
    "d2-ble": """
        daly: {{ble_backend: fake}}
        simulators: [{{kind: daly_ble, address: "40:D6:3C:00:00:02", protocol: d2, cells: 9, temps: 2, seed: 1}}]
        batteries: [{{id: pack, driver: daly_ble, address: "40:D6:3C:00:00:02", backend: fake, poll_interval: 0.3}}]
    """,
    "x81-ble": """
        daly: {{ble_backend: fake}}
        simulators: [{{kind: daly_ble, address: "40:D6:3C:00:00:03", protocol: x81, cells: 9, temps: 2, seed: 1}}]
        batteries: [{{id: pack, driver: daly_ble, address: "40:D6:3C:00:00:03", backend: fake, poll_interval: 0.3}}]
    """,
    "d2-serial": """
        simulators: [{{kind: daly_modbus, protocol: d2, link: sim/d2, cells: 9, temps: 2, seed: 1}}]
        batteries: [{{id: pack, driver: daly_modbus, port: sim/d2, poll_interval: 0.3}}]
    """,
    "x81-rs485-multidrop": """
        simulators: [{{kind: daly_modbus, protocol: x81, link: sim/x81, cells: 9, temps: 2, seed: 1, boards: 3}}]
        batteries:
          - {{id: pack, driver: daly_modbus, protocol: x81, port: sim/x81, board: 3, poll_interval: 0.3}}
          - {{id: other, driver: daly_modbus, protocol: x81, port: sim/x81, board: 1, poll_interval: 0.3}}
    """,
}


@pytest.mark.parametrize("case", list(CASES))
async def test_family_reaches_storage(start_hub: HubFactory, case: str) -> None:
    config = textwrap.dedent(BASE) + textwrap.dedent(CASES[case]).replace("{channel}", case)
    hub = await start_hub(config)
    readings = await wait_for(lambda: hub.store.history("pack", None, None, 10), timeout=30)
    reading = readings[-1]
    assert len(reading.cells) == 9
    assert reading.voltage is not None
    assert abs(sum(reading.cells) - reading.voltage) < 0.15
    assert len(reading.temperatures) >= 2
    assert reading.soc is not None and 0 <= reading.soc <= 100
    if "other" in config:
        others = await wait_for(lambda: hub.store.history("other", None, None, 10), timeout=30)
        assert others[-1].cells != reading.cells  # a different board answered, not the same one twice
