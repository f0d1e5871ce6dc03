"""Compacted raw readings: one battery's readings of one hour as a single delta-encoded, zlib'd blob.

The writer stores each reading as one row of packed scaled integers (``packing.COLUMNS``); once an
hour is closed, the compactor folds its rows into one chunk. Consecutive readings of a battery differ
little (a cell moves a few millivolts between polls), so each value is stored as the zigzag varint
of its difference from the same value in the previous reading, and zlib squeezes the runs of small
differences: about a fifth of a row's size (``docs/storage.md``, "Raw row size").

A chunk decodes back to exactly the rows it was made of (a property test checks it).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Any

FORMAT = 1
CHUNK_MS = 3_600_000  # an hour per chunk: 3,600 readings at 1 s polls, 60 at 1 min
_SCALARS = 9  # voltage .. rated_mah, the integer columns after ts (packing.COLUMNS[1:10])
_TEMP_SIZE = 4  # packing._TEMP: int16 value, kind byte, sensor byte

Row = tuple[Any, ...]


class ChunkError(ValueError):
    """A chunk blob is damaged or of an unknown format."""


def window_of(ts: int) -> int:
    """Start (ms) of the chunk window holding ``ts``."""
    return ts - ts % CHUNK_MS


def _zigzag(value: int) -> int:
    return value << 1 if value >= 0 else (-value << 1) - 1


def _unzigzag(value: int) -> int:
    return value >> 1 if not value & 1 else -((value + 1) >> 1)


class _Writer:
    """A stream of unsigned varints."""

    def __init__(self) -> None:
        self.out = bytearray()

    def uint(self, value: int) -> None:
        out = self.out
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        out.append(value)

    def delta(self, value: int, previous: int) -> None:
        self.uint(_zigzag(value - previous))

    def optional(self, value: int | None, previous: int) -> int:
        """None as 0, a value as its delta + 1; returns the new reference value."""
        if value is None:
            self.uint(0)
            return previous
        self.uint(_zigzag(value - previous) + 1)
        return value

    def raw(self, data: bytes | None) -> None:
        """Bytes as their length + 1 (0 for None), then the bytes."""
        if data is None:
            self.uint(0)
            return
        self.uint(len(data) + 1)
        self.out += data


class _Reader:
    """Reads what :class:`_Writer` wrote."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def uint(self) -> int:
        data, at, shift, value = self.data, self.at, 0, 0
        while True:
            if at >= len(data):
                raise ChunkError("chunk ends inside a value")
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.at = at
                return value
            shift += 7

    def delta(self, previous: int) -> int:
        return previous + _unzigzag(self.uint())

    def optional(self, previous: int) -> tuple[int | None, int]:
        code = self.uint()
        if code == 0:
            return None, previous
        value = previous + _unzigzag(code - 1)
        return value, value

    def raw(self) -> bytes | None:
        size = self.uint()
        if size == 0:
            return None
        end = self.at + size - 1
        if end > len(self.data):
            raise ChunkError("chunk ends inside a byte string")
        found, self.at = self.data[self.at : end], end
        return found


def encode(rows: Sequence[Row]) -> bytes:
    """One chunk of rows in ``packing.COLUMNS`` order, oldest first, each time at most once."""
    out = _Writer()
    out.uint(FORMAT)
    out.uint(len(rows))
    ts_prev, scalars = 0, [0] * _SCALARS
    cells: list[int] = []
    temps: list[int] = []
    for row in rows:
        out.delta(row[0], ts_prev)
        ts_prev = row[0]
        for i in range(_SCALARS):
            scalars[i] = out.optional(row[1 + i], scalars[i])
        cells = _encode_series(out, row[10], cells, 2)
        temps = _encode_series(out, row[11], temps, _TEMP_SIZE)
        out.raw(row[12])
        out.raw(None if row[13] is None else str(row[13]).encode())
    return zlib.compress(bytes(out.out), 9)


_NONE, _ITEMS, _VERBATIM = 0, 1, 2


def _encode_series(out: _Writer, blob: bytes | None, previous: list[int], width: int) -> list[int]:
    """A cells or temperatures blob as a tag, its item count and per item the delta from the same
    item of the previous reading (items read as little-endian integers: a temperature item is its
    int16 value with the kind and sensor bytes above it, so usually only its low bytes move)."""
    if blob is None:
        out.uint(_NONE)
        return previous
    if len(blob) % width:  # never written by packing, but kept exactly
        out.uint(_VERBATIM)
        out.raw(blob)
        return previous
    items = [int.from_bytes(blob[i : i + width], "little") for i in range(0, len(blob), width)]
    out.uint(_ITEMS)
    out.uint(len(items))
    for i, item in enumerate(items):
        out.delta(item, previous[i] if i < len(previous) else 0)
    return items


def _decode_series(reader: _Reader, previous: list[int], width: int) -> tuple[bytes | None, list[int]]:
    tag = reader.uint()
    if tag == _NONE:
        return None, previous
    if tag == _VERBATIM:
        return reader.raw(), previous
    if tag != _ITEMS:
        raise ChunkError(f"unknown series tag {tag}")
    items = [reader.delta(previous[i] if i < len(previous) else 0) for i in range(reader.uint())]
    try:
        return b"".join(item.to_bytes(width, "little") for item in items), items
    except OverflowError as err:
        raise ChunkError("a series item does not fit its width") from err


def decode(blob: bytes) -> list[Row]:
    """The rows of a chunk, oldest first (``packing.COLUMNS`` order)."""
    try:
        reader = _Reader(zlib.decompress(blob))
    except zlib.error as err:
        raise ChunkError(f"chunk does not decompress: {err}") from err
    if reader.uint() != FORMAT:
        raise ChunkError("unknown chunk format")
    rows: list[Row] = []
    ts, scalars = 0, [0] * _SCALARS
    cells: list[int] = []
    temps: list[int] = []
    for _ in range(reader.uint()):
        ts = reader.delta(ts)
        values: list[Any] = [ts]
        for i in range(_SCALARS):
            value, scalars[i] = reader.optional(scalars[i])
            values.append(value)
        cell_blob, cells = _decode_series(reader, cells, 2)
        temp_blob, temps = _decode_series(reader, temps, _TEMP_SIZE)
        balancing, alarms = reader.raw(), reader.raw()
        values += [cell_blob, temp_blob, balancing, None if alarms is None else _text(alarms)]
        rows.append(tuple(values))
    return rows


def _text(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError as err:
        raise ChunkError(f"alarm text is not UTF-8: {err}") from err


def merge(older: Iterable[Row], newer: Iterable[Row]) -> list[Row]:
    """Rows of both, by time; where both hold a time, the ``newer`` row wins (as a rewrite does)."""
    by_ts = {row[0]: row for row in older}
    by_ts.update((row[0], row) for row in newer)
    return [by_ts[ts] for ts in sorted(by_ts)]
