"""SIGKILL right after readings were stored: a restarted hub has them all and its kWh continue."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from hub.storage.rollups import Sample
from hub.storage.sqlite import SQLiteStorage
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
hub:
  data_dir: {data}
http:
  enabled: false
logging:
  level: INFO
  file: null
storage:
  flush_interval: 0.05
energy:
  save_interval_s: 3600  # far longer than the test: only the first save happens before the kill
simulators:
  - kind: daly
    link: sim/one
    cells: 4
    temps: 1
    seed: 3
batteries:
  - id: one
    driver: daly
    port: sim/one
    poll_interval: 0.1
"""


def start_hub(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def stored(database: Path) -> list[datetime]:
    """Timestamps committed to the database, read from outside the hub."""
    if not await asyncio.to_thread(database.exists):
        return []
    reader = SQLiteStorage(database, read_only=True)
    try:
        await reader.open()
        rows = await reader.for_tenant("default").history("one", None, None, 1_000_000)
    except Exception:  # the hub may still be creating the schema
        return []
    finally:
        await reader.close()
    return [r.timestamp for r in rows]


def brute_force_kwh(samples: list[Sample], max_gap_ms: int = 300_000) -> tuple[float, float]:
    """kWh charged and discharged: trapezoids of power, split where power crosses zero."""
    charged = discharged = 0.0
    for before, after in itertools.pairwise(samples):
        p0, p1, dt_h = before.power, after.power, (after.ts - before.ts) / 3_600_000
        if p0 is None or p1 is None or after.ts - before.ts > max_gap_ms:
            continue
        if (p0 >= 0) == (p1 >= 0):
            area = (p0 + p1) / 2 * dt_h
            charged, discharged = (charged + area, discharged) if p0 >= 0 else (charged, discharged - area)
            continue
        cross = dt_h * p0 / (p0 - p1)  # hours from the first reading to zero power
        positive, negative = (p0 * cross / 2, -p1 * (dt_h - cross) / 2)
        if p0 < 0:
            positive, negative = p1 * (dt_h - cross) / 2, -p0 * cross / 2
        charged += positive
        discharged += negative
    return charged / 1000, discharged / 1000


async def test_sigkill_loses_no_stored_reading_and_energy_continues(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "trackingbms.yaml"
    config.write_text(CONFIG.format(data=data), encoding="utf-8")
    database = data / "trackingbms.db"

    first = start_hub(config)
    try:
        before = await wait_for(lambda: _at_least(stored(database), 40), timeout=90)
    finally:
        first.send_signal(signal.SIGKILL)  # no shutdown code runs: no flush, no state save
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL

    second = start_hub(config)
    try:
        after = await wait_for(lambda: _at_least(stored(database), len(before) + 40), timeout=90)
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(second.communicate, timeout=60)
    assert second.returncode == 0, err.decode()[-2000:]
    assert set(before) <= set(after)  # every reading stored before the kill is still there

    storage = SQLiteStorage(database)
    await storage.open()
    try:
        store = storage.for_tenant("default")
        state = await store.load_state("one", "energy")
        assert state is not None
        samples = [s async for chunk in store.iter_samples("one", None, None) for s in chunk]
    finally:
        await storage.close()
    counted = [s for s in samples if s.ts <= round(state["as_of"] * 1000)]
    charged, discharged = brute_force_kwh(counted)
    assert charged + discharged > 0
    # The counters equal an integration over every stored reading: nothing lost at the kill (the
    # state saved before it was older) and nothing counted twice. Stored power is rounded to 0.1 W.
    assert state["charged_kwh"] == pytest.approx(charged, rel=1e-3, abs=1e-7)
    assert state["discharged_kwh"] == pytest.approx(discharged, rel=1e-3, abs=1e-7)


async def _at_least(pending: object, count: int) -> list[datetime] | None:
    rows: list[datetime] = await pending  # type: ignore[misc]
    return rows if len(rows) >= count else None
