"""The edge's disk buffer: order, restarts and its bound, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from trackingbms_uplink.buffer import DiskBuffer


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
