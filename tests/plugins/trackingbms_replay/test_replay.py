"""Capture a real exchange through the hub, then replay it as a device and read the same values."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import voluptuous as vol
from trackingbms_daly.driver import DalyA5Driver
from trackingbms_daly.plugin import BATTERY_SCHEMA
from trackingbms_replay.plugin import ReplaySimulator, exchanges

from hub.batteries import battery_config
from hub.capture import read_capture
from hub.specs import DriverContext
from tests.helpers import HubFactory, wait_for

CONFIG = textwrap.dedent("""
    hub: {{data_dir: {data_dir}}}
    http: {{enabled: false}}
    logging: {{file: null}}
    simulators:
      - {{kind: daly, link: sim/a, cells: 6, temps: 1, seed: 9}}
    batteries:
      - {{id: captured, driver: daly, port: sim/a, poll_interval: 0.2, capture: true}}
""")


async def test_capture_then_replay_gives_the_captured_reading(start_hub: HubFactory, tmp_path: Path) -> None:
    hub = await start_hub(CONFIG)
    stored = await wait_for(lambda: hub.store.history("captured", None, None, 10))
    first = stored[0]
    await hub.stop()
    capture = hub.data_dir / "captures" / "captured.jsonl"
    records = list(read_capture(capture))
    assert {r["dir"] for r in records} == {"tx", "rx"}
    assert records[0]["dir"] == "tx" and records[0]["data"][0] == 0xA5

    replay = ReplaySimulator(tmp_path / "replay-link", exchanges(capture))
    await replay.start()
    entry = {"id": "replayed", "driver": "daly", **vol.Schema(BATTERY_SCHEMA)({"port": str(tmp_path / "replay-link")})}
    driver = DalyA5Driver(battery_config(entry), DriverContext(tmp_path))
    try:
        await driver.connect()  # probes 0x40 first, exactly as the captured session did
        reading = await driver.poll()
    finally:
        await driver.close()
        await replay.stop()
    assert reading.cells == first.cells
    assert reading.voltage == first.voltage and reading.soc == first.soc


def test_exchanges_pair_requests_with_answers(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    lines = [("tx", "a540"), ("tx", "90"), ("rx", "a501"), ("rx", "90"), ("tx", "a540"), ("tx", "90"), ("rx", "ff")]
    path.write_text("\n".join(json.dumps({"t": "2026-01-01T00:00:00Z", "dir": d, "hex": h}) for d, h in lines))
    assert exchanges(path) == {bytes.fromhex("a54090"): [bytes.fromhex("a50190"), b"\xff"]}


def test_malformed_capture_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"t": "x", "dir": "tx", "hex": "a5"}\n{"t": "x", "dir": "up", "hex": "a5"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        exchanges(path)
