"""The public client `dalybms` (python-daly-bms) reads our A5 simulator like a real board."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from dalybms import DalyBMS
from trackingbms_daly.simulator import SIMULATOR_SCHEMA, create


def read_with_dalybms(port: str, address: int) -> dict[str, Any]:
    bms = DalyBMS(request_retries=3, address=address)
    bms.connect(port)
    try:
        result = {"status": bms.status, "soc": bms.get_soc(), "mosfet": bms.get_mosfet_status()}
        if address == 4:
            # dalybms 0.5.0 cannot read cells with address 8: _calc_num_responses checks for
            # 'cell_voltages' while get_cell_voltages passes 'cells' (a bug in the client).
            result.update(cells=bms.get_cell_voltages(), temperatures=bms.get_temperatures())
        return result
    finally:
        bms.disconnect()


@pytest.mark.parametrize("address", [4, 8])  # dalybms: 4 = RS485 (host 0x40), 8 = UART/Bluetooth (0x80)
async def test_dalybms_reads_what_the_simulator_serves(tmp_path: Path, address: int) -> None:
    options = vol.Schema(SIMULATOR_SCHEMA)(
        {"link": "link", "cells": 14, "temps": 3, "soc": 55.0, "seed": 4, "all_cell_frames": address == 8}
    )
    simulator = create(options, tmp_path)
    pack = simulator.device.pack
    pack._profile = lambda t: -12.0  # a steady 12 A load
    await simulator.start()
    try:
        result = await asyncio.get_running_loop().run_in_executor(None, read_with_dalybms, simulator.link, address)
    finally:
        await simulator.stop()
    snapshot = pack.snapshot()
    assert result["status"]["cells"] == 14
    assert result["status"]["temperature_sensors"] == 3
    assert result["soc"]["soc_percent"] == pytest.approx(snapshot.soc, abs=0.2)
    assert result["soc"]["total_voltage"] == pytest.approx(snapshot.voltage, abs=0.2)
    assert result["soc"]["current"] == pytest.approx(-12.0)  # the raw wire value, as dalybms reports it
    assert result["mosfet"]["charging_mosfet"] is True
    if address == 8:
        return
    assert len(result["cells"]) == 14
    assert list(result["cells"].values()) == pytest.approx(list(snapshot.cell_voltages), abs=0.005)
    assert list(result["temperatures"].values()) == pytest.approx(list(snapshot.temperatures), abs=1.0)
