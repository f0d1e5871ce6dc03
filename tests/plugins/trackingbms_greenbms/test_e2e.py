"""Green-BMS through the whole hub: pty simulator -> driver -> pipeline -> stored reading with every cell."""

from __future__ import annotations

import textwrap
from datetime import datetime

from trackingbms_greenbms.simulator import GreenBmsSimulator

from hub.core import Hub
from hub.reading import BatteryState, TemperatureKind
from tests.helpers import HubFactory, wait_for

CONFIG = """
    hub: {{data_dir: {data_dir}}}
    http: {{enabled: false}}
    logging: {{file: null}}
    simulators:
      - kind: greenbms
        link: sim/greenbms
        cells: 9
        capacity_ah: 120
        seed: 1
        failed_cells: [6]
        line_interval: 0.02
        heartbeat_interval: 0.5
        keepalive_timeout: 1.0
    batteries:
      - id: pack
        driver: greenbms
        port: sim/greenbms
        poll_interval: 0.3
        timeout: 1.0
        keepalive_interval: 0.3
"""


async def test_a_simulated_unit_reaches_storage_with_every_cell(start_hub: HubFactory) -> None:
    hub = await start_hub(textwrap.dedent(CONFIG))
    reading = await wait_for(lambda: hub.store.latest("pack"), timeout=30)
    assert len(reading.cells) == 9
    assert reading.cells[5] == 0.0  # the silent module, as the unit reports it
    assert reading.voltage is not None and abs(sum(reading.cells) - reading.voltage) < 0.15
    assert reading.rated_capacity_ah == 120.0
    assert reading.soc is not None and 0 <= reading.soc <= 100
    assert reading.state in set(BatteryState)
    kinds = [t.kind for t in reading.temperatures]
    assert kinds.count(TemperatureKind.CELL) == kinds.count(TemperatureKind.BOARD) == 8  # none for cell 6
    assert {a.code for a in reading.alarms} == {"cell_module_error", "cell_voltage_low"}
    assert reading.discharge_mos is False
    # Polls keep coming across several keep-alive windows of the simulated unit.
    (simulator,) = hub.simulators
    assert isinstance(simulator, GreenBmsSimulator)
    checks = simulator.device.keepalive_checks
    await wait_for(lambda: simulator.device.keepalive_checks >= checks + 2, timeout=30)
    first = reading.timestamp
    await wait_for(lambda: _newer(hub, first), timeout=30)


async def _newer(hub: Hub, than: datetime) -> bool:
    latest = await hub.store.latest("pack")
    return latest is not None and latest.timestamp > than
