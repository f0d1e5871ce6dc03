"""A hub configured with daly_modbus simulators and batteries reads every board through the real pipeline."""

from __future__ import annotations

import textwrap
from functools import partial

from hub.core import Hub
from hub.reading import Reading
from tests.helpers import HubFactory, wait_for

CONFIG = textwrap.dedent("""
    hub: {{data_dir: {data_dir}}}
    http: {{enabled: false}}
    logging: {{file: null}}
    simulators:
      - {{kind: daly_modbus, link: sim/bus, protocol: x81, cells: 10, temps: 2, seed: 3, boards: 2}}
      - {{kind: daly_modbus, link: sim/ble, protocol: d2, cells: 4, temps: 1, seed: 4}}
    batteries:
      - {{id: x1, driver: daly_modbus, port: sim/bus, protocol: x81, board: 1, poll_interval: 0.2, timeout: 0.3}}
      - {{id: x2, driver: daly_modbus, port: sim/bus, board: 2, poll_interval: 0.2, timeout: 0.3}}
      - {{id: d2, driver: daly_modbus, port: sim/ble, registers: 80, poll_interval: 0.2, timeout: 0.3}}
""")


async def stored(hub: Hub, battery: str) -> list[Reading]:
    readings: list[Reading] = await hub.store.history(battery, None, None, 10_000)
    return readings


async def test_every_board_is_read(start_hub: HubFactory) -> None:
    hub = await start_hub(CONFIG)
    for battery, cells in (("x1", 10), ("x2", 10), ("d2", 4)):
        readings: list[Reading] = await wait_for(partial(stored, hub, battery), timeout=20)
        assert all(len(r.cells) == cells for r in readings)
        assert all(r.voltage is not None and abs(sum(r.cells) - r.voltage) < 0.15 for r in readings)
    x1, x2 = [await stored(hub, b) for b in ("x1", "x2")]
    assert x1[-1].cells != x2[-1].cells  # two packs, not one board answering twice
