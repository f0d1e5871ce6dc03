"""Tests for the chunk codec: compacted hours decode to exactly the rows they were made of."""

from __future__ import annotations

import contextlib
import random
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.reading import Alarm, AlarmLevel, Reading, Temperature, TemperatureKind
from hub.storage import chunks
from hub.storage.chunks import CHUNK_MS, ChunkError, decode, encode, merge, window_of
from hub.storage.packing import COLUMNS, to_row

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
_INT = st.none() | st.integers(-(2**40), 2**40)


@st.composite
def rows(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Rows as the writer stores them, with every column's edge cases: NULLs, negative and huge
    deltas, changing cell counts, odd-sized blobs, unicode alarm text."""
    times = draw(st.lists(st.integers(0, 2**45), unique=True, max_size=40))
    blob = st.none() | st.binary(max_size=70)
    found = []
    for ts in sorted(times):
        scalars = draw(st.lists(_INT, min_size=9, max_size=9))
        alarms = draw(st.none() | st.text(max_size=30))
        found.append((ts, *scalars, draw(blob), draw(blob), draw(blob), alarms))
    return found


@given(rows())
def test_a_chunk_decodes_to_exactly_its_rows(found: list[tuple[Any, ...]]) -> None:
    assert decode(encode(found)) == found


def realistic(count: int, seed: int = 7) -> list[tuple[Any, ...]]:
    """Packed rows of a 16-cell pack polled every second: cells wander by a millivolt, current by
    up to half an ampere, timestamps jitter within the second (as a real poll loop's do)."""
    rng = random.Random(seed)
    cells, current, found = [3.300] * 16, -10.0, []
    for i in range(count):
        cells = [c + rng.choice((-0.001, 0.0, 0.0, 0.001)) for c in cells]
        current += rng.uniform(-0.5, 0.5)
        reading = Reading(
            "pack",
            timestamp=T0 + timedelta(seconds=i, milliseconds=rng.randint(0, 999)),
            voltage=round(sum(cells), 2),
            current=round(current, 2),
            soc=80 - i * 1e-3,
            cells=tuple(cells),
            temperatures=tuple(
                Temperature(25 + rng.choice((0, 0, 0.1, -0.1)), TemperatureKind.CELL, n + 1) for n in range(4)
            ),
            rated_capacity_ah=280.0,
            remaining_capacity_ah=200.0 - i * 0.003,
            cycles=12,
            alarms=(Alarm("cell_overvoltage", "Cell overvoltage", AlarmLevel.WARNING),) if i % 600 == 0 else (),
        )
        found.append(to_row(reading.with_derived()))
    return found


def test_an_hour_of_one_second_readings_takes_a_fraction_of_its_rows() -> None:
    hour = realistic(3600)
    blob = encode(hour)
    assert decode(blob) == hour
    # A row takes about 87 bytes in SQLite; the chunk must bring a reading under the 40 B target
    # with room for the table's own overhead (a row per hour).
    assert len(blob) / len(hour) < 20


def test_rows_keep_the_column_order_of_packing() -> None:
    assert len(realistic(1)[0]) == len(COLUMNS)


@pytest.mark.parametrize("cut", [1, 10, 100])
def test_a_truncated_chunk_is_refused_with_a_clear_error(cut: int) -> None:
    blob = encode(realistic(50))
    with pytest.raises(ChunkError):
        decode(blob[:-cut])


def test_a_chunk_of_unknown_format_is_refused() -> None:
    future = zlib.compress(bytes([chunks.FORMAT + 1, 0]))
    with pytest.raises(ChunkError, match="unknown chunk format"):
        decode(future)


def test_a_chunk_whose_content_ends_early_is_refused() -> None:
    cut_inside = zlib.compress(zlib.decompress(encode(realistic(5)))[:-3])  # valid zlib, short content
    with pytest.raises(ChunkError, match="ends inside"):
        decode(cut_inside)


@given(st.binary(max_size=200), st.booleans())
def test_damaged_content_is_refused_with_the_codecs_own_error(junk: bytes, with_header: bool) -> None:
    content = bytes([chunks.FORMAT, 3]) + junk if with_header else junk  # past the zlib checks
    # Either decodes or is refused as damaged: no IndexError, UnicodeDecodeError or OverflowError escapes.
    with contextlib.suppress(ChunkError):
        decode(zlib.compress(content))


def test_merge_orders_by_time_and_the_newer_side_wins() -> None:
    older = [(1, "a"), (3, "c")]
    newer = [(2, "B"), (3, "C")]
    assert merge(older, newer) == [(1, "a"), (2, "B"), (3, "C")]


@pytest.mark.parametrize(
    ("ts", "start"), [(0, 0), (CHUNK_MS - 1, 0), (CHUNK_MS, CHUNK_MS), (5 * CHUNK_MS + 7, 5 * CHUNK_MS)]
)
def test_a_time_belongs_to_the_hour_that_holds_it(ts: int, start: int) -> None:
    assert window_of(ts) == start
