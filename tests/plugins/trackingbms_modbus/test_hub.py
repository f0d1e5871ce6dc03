"""End to end: modbus simulators and batteries in one hub config, readings stored through the real pipeline."""

from __future__ import annotations

import socket
from functools import partial

from hub.core import Hub
from hub.reading import Reading, TemperatureKind
from tests.helpers import HubFactory, wait_for

CONFIG = """
    hub: {{data_dir: {data_dir}}}
    http: {{enabled: false}}
    logging: {{file: null}}
    simulators:
      - {{kind: modbus, map: seplos_v3, link: sim/seplos, slaves: [1, 2], cells: 16, temps: 4, seed: 5,
          alarms: [cell_voltage_difference_alarm]}}
      - {{kind: modbus, map: renogy_smart_lfp, transport: tcp, port: TCP_PORT, cells: 4, temps: 2, seed: 6}}
    batteries:
      - {{id: seplos-1, driver: modbus, map: seplos_v3, port: sim/seplos, slave: 1, poll_interval: 0.2}}
      - {{id: seplos-2, driver: modbus, map: seplos_v3, port: sim/seplos, slave: 2, poll_interval: 0.2}}
      - {{id: renogy, driver: modbus, map: renogy_smart_lfp, host: 127.0.0.1, port: TCP_PORT, poll_interval: 0.2}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def latest(hub: Hub, battery: str) -> Reading | None:
    return await hub.store.latest(battery)


async def test_simulated_modbus_batteries_end_up_in_the_store(start_hub: HubFactory) -> None:
    hub = await start_hub(CONFIG.replace("TCP_PORT", str(free_port())))
    seplos_1: Reading = await wait_for(partial(latest, hub, "seplos-1"), timeout=30)
    seplos_2: Reading = await wait_for(partial(latest, hub, "seplos-2"), timeout=30)
    renogy: Reading = await wait_for(partial(latest, hub, "renogy"), timeout=30)

    assert len(seplos_1.cells) == 16 and len(seplos_2.cells) == 16
    assert seplos_1.cells != seplos_2.cells  # two packs on one RS485 line, not one answering twice
    assert seplos_1.voltage is not None and abs(sum(seplos_1.cells) - seplos_1.voltage) < 0.02
    kinds = sorted(t.kind.value for t in seplos_1.temperatures)
    assert kinds == ["ambient", "cell", "cell", "cell", "cell", "mos"]
    assert [a.code for a in seplos_1.alarms] == ["cell_voltage_difference_alarm"]
    assert seplos_1.rated_capacity_ah == 100.0 and seplos_1.charge_mos is True

    assert len(renogy.cells) == 4 and all(abs(c - 3.3) < 0.25 for c in renogy.cells)  # 0.1 V steps
    assert renogy.soc is not None and 0 <= renogy.soc <= 100  # derived from the capacities
    assert [t.kind for t in renogy.temperatures].count(TemperatureKind.CELL) == 2
