"""CBOR for ThingSet: decoding with cbor2, encoding the way thingset-node-c does (floats always float32)."""

from __future__ import annotations

import decimal
import fractions
import io
import math
import struct
from collections.abc import Mapping
from typing import Any

import cbor2

from trackingbms_thingset.errors import ThingSetError

__all__ = ["decode_first", "decode_items", "encode", "plain"]

# Nesting deeper than this is not a ThingSet data model (groups nest two or three levels).
_MAX_DEPTH = 16


def decode_items(data: bytes) -> list[Any]:
    """Every CBOR item in ``data``, in order, as plain Python values; raises ThingSetError."""
    stream = io.BytesIO(data)
    decoder = cbor2.CBORDecoder(stream, max_depth=_MAX_DEPTH)
    items: list[Any] = []
    while stream.tell() < len(data):
        try:
            item = decoder.decode()
        except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, IndexError) as err:
            raise ThingSetError(f"bad CBOR at byte {stream.tell()}: {err}") from err
        items.append(plain(item))
    return items


def decode_first(data: bytes) -> tuple[Any, bytes]:
    """The first CBOR item of ``data`` and the bytes after it; raises ThingSetError."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream, max_depth=_MAX_DEPTH).decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, IndexError) as err:
        raise ThingSetError(f"bad CBOR: {err}") from err
    return plain(item), data[stream.tell() :]


def plain(value: Any) -> Any:
    """cbor2's output as bool/int/float/str/bytes/None/list/dict; raises ThingSetError for the rest."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if value is cbor2.undefined:
        return None  # v0.5 discovery sent CBOR undefined (0xF7) where v0.6 sends null (§2.4)
    if isinstance(value, decimal.Decimal | fractions.Fraction):
        return float(value)  # decimal fractions (tag 4) carry fixed-point numbers
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            key = plain(key)
            if not isinstance(key, int | str) or isinstance(key, bool):
                raise ThingSetError(f"map key {key!r} is neither an ID nor a name")
            result[key] = plain(item)
        return result
    raise ThingSetError(f"unexpected CBOR value {type(value).__name__} in a ThingSet message")


def _head(major: int, argument: int) -> bytes:
    if argument < 24:
        return bytes([major << 5 | argument])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * size):
            return bytes([major << 5 | extra]) + argument.to_bytes(size, "big")
    raise ThingSetError(f"integer {argument} does not fit CBOR")


def encode(value: Any) -> bytes:
    """Encode like thingset-node-c: shortest integers, floats always as float32 ``FA`` (legacy.md §2.4)."""
    if value is None:
        return b"\xf6"
    if isinstance(value, bool):
        return b"\xf5" if value else b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, float):
        if math.isfinite(value) and abs(value) > 3.4028234663852886e38:
            raise ThingSetError(f"{value} does not fit a float32")
        return b"\xfa" + struct.pack(">f", value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _head(3, len(data)) + data
    if isinstance(value, bytes | bytearray):
        return _head(2, len(value)) + bytes(value)
    if isinstance(value, list | tuple):
        return _head(4, len(value)) + b"".join(encode(item) for item in value)
    if isinstance(value, Mapping):
        return _head(5, len(value)) + b"".join(encode(k) + encode(v) for k, v in value.items())
    raise ThingSetError(f"cannot encode {type(value).__name__} as CBOR")
