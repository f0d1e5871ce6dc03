"""The edge's disk buffer: order, restarts and its bound, on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest
from trackingbms_uplink.buffer import DiskBuffer
from trackingbms_uplink.forwarder import Forwarder
from trackingbms_uplink.settings import UplinkSettings


async def test_items_leave_in_order_once_delivered_and_survive_a_reopen(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "b.db", limit=100)
    await buffer.open()
    await buffer.append([f'{{"n": {n}}}' for n in range(5)])
    first = await buffer.oldest(2)
    assert [p for _, p in first] == ['{"n": 0}', '{"n": 1}'] and len(buffer) == 5
    await buffer.remove_through(first[-1][0])
    await buffer.close()

    again = DiskBuffer(tmp_path / "b.db", limit=100)  # a restart: what was not delivered is still there
    await again.open()
    assert len(again) == 3 and [p for _, p in await again.oldest(10)] == ['{"n": 2}', '{"n": 3}', '{"n": 4}']
    await again.append(['{"n": 5}'])
    assert [p for _, p in await again.oldest(10)][-1] == '{"n": 5}'  # appended after the old ones
    await again.close()


async def test_a_full_buffer_drops_its_oldest_items_and_counts_them(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "b.db", limit=3)
    await buffer.open()
    await buffer.append(["a", "b"])
    await buffer.append(["c", "d", "e"])
    assert len(buffer) == 3 and buffer.dropped == 2
    assert [p for _, p in await buffer.oldest(10)] == ["c", "d", "e"]
    await buffer.append([])
    assert len(buffer) == 3
    await buffer.close()


async def test_a_full_disk_keeps_the_readings_in_memory_until_it_has_room(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "b.db", limit=1000)
    await buffer.open()
    async with buffer.db.execute("PRAGMA page_count") as cur:
        pages = (await cur.fetchone() or (0,))[0]
    # Room for a few of the items, not all: SQLite's own "database or disk is full" midway.
    await buffer.db.execute(f"PRAGMA max_page_count = {pages + 4}")
    forwarder = Forwarder(cast(Any, None), UplinkSettings(), buffer)
    big = '"' + "x" * 3000 + '"'
    forwarder._pending = [big] * 20
    with pytest.raises(sqlite3.OperationalError, match="full"):
        await forwarder._store()
    assert len(forwarder._pending) == 20  # nothing lost
    await buffer.db.execute("PRAGMA max_page_count = 100000")  # room again
    await forwarder._store()
    assert forwarder._pending == [] and len(buffer) == 20
    assert len(await buffer.oldest(100)) == 20  # the failed attempt left no half of itself behind
    await buffer.close()
