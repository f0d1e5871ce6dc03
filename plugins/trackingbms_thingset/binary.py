"""ThingSet binary mode (v0.6): requests, responses and reports as a code byte plus CBOR items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trackingbms_thingset import cbor
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.status import Function

__all__ = [
    "BinaryMessage",
    "BinaryReport",
    "BinaryRequest",
    "BinaryResponse",
    "Endpoint",
    "decode_binary",
    "encode_report",
    "encode_request",
    "encode_response",
    "is_text_start",
]

# An endpoint is a path (text), an ID, or [parent ID, record index] (legacy.md §2.4 binary grammar).
Endpoint = str | int | tuple[int, int]


@dataclass(frozen=True, slots=True)
class BinaryRequest:
    """GET/FETCH/UPDATE/... of an endpoint."""

    function: Function
    endpoint: Endpoint
    payload: Any = None
    has_payload: bool = False


@dataclass(frozen=True, slots=True)
class BinaryResponse:
    """Status, then the node ID (v0.6: text or null) and the data (or null)."""

    status: int
    payload: Any = None
    node: str | None = None


@dataclass(frozen=True, slots=True)
class BinaryReport:
    """``1F endpoint map`` (IDs -> values, node-c) or ``1F endpoint array`` (values only, spec example)."""

    endpoint: Endpoint
    payload: dict[Any, Any] | list[Any]


BinaryMessage = BinaryRequest | BinaryResponse | BinaryReport


def is_text_start(byte: int) -> bool:
    """0x0A, 0x0D and 0x20-0x7F are never binary codes: such a message is text mode (§2.4)."""
    return byte in (0x0A, 0x0D) or 0x20 <= byte <= 0x7F


def _endpoint(item: Any) -> Endpoint:
    if isinstance(item, str):
        return item
    if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
        return item
    if (
        isinstance(item, list)
        and len(item) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in item)
    ):
        return (item[0], item[1])
    raise ThingSetError(f"endpoint {item!r} is neither a path, an ID nor [parent, index]")


def decode_binary(data: bytes) -> BinaryMessage:
    """Decode one binary message; raises ThingSetError (text-mode bytes included)."""
    if not data:
        raise ThingSetError("empty message")
    code = data[0]
    if is_text_start(code):
        raise ThingSetError(f"0x{code:02X} starts a text-mode message, not a binary one")
    items = cbor.decode_items(data[1:])
    if code >= 0x80:
        return _response(code, items)
    try:
        function = Function(code)
    except ValueError as err:
        raise ThingSetError(f"unknown function code 0x{code:02X}") from err
    if not items:
        raise ThingSetError(f"{function.name} without an endpoint")
    if len(items) > 2:
        raise ThingSetError(f"{function.name} with {len(items) - 2} trailing item(s)")
    endpoint = _endpoint(items[0])
    payload, has_payload = (items[1], True) if len(items) == 2 else (None, False)
    _check_payload(function, payload, has_payload)
    if function is Function.REPORT:
        assert isinstance(payload, dict | list)
        return BinaryReport(endpoint, payload)
    return BinaryRequest(function, endpoint, payload, has_payload)


def _check_payload(function: Function, payload: Any, has_payload: bool) -> None:
    if function is Function.FETCH and (not has_payload or not (payload is None or isinstance(payload, list))):
        # The spec's "FETCH single item by name" example sends a bare string; the grammar and
        # node-c require an array (legacy.md §2.4 erratum 5).
        raise ThingSetError("FETCH takes an array or null")
    if function in (Function.UPDATE, Function.DESIRE) and not isinstance(payload, dict):
        raise ThingSetError(f"{function.name} takes a map")
    if function is Function.REPORT and not isinstance(payload, dict | list):
        raise ThingSetError("a report carries a map or an array")
    if function is Function.GET and has_payload:
        raise ThingSetError("GET takes no payload")


def _response(status: int, items: list[Any]) -> BinaryResponse:
    if len(items) > 2:
        # The spec's "names of mLive_" response announces 4 elements but has 5 (§2.4 erratum 4).
        raise ThingSetError(f"response with {len(items) - 2} trailing item(s)")
    if len(items) == 2:
        node, payload = items
        if node is not None and not isinstance(node, str):
            raise ThingSetError(f"response node ID {node!r} is not text")
        return BinaryResponse(status, payload, node)
    # Before v0.6 the status was followed by the data alone (no node-ID item).
    return BinaryResponse(status, items[0] if items else None)


def encode_request(function: Function, endpoint: Endpoint, payload: Any = None, has_payload: bool = False) -> bytes:
    """``01 18 80`` (GET 0x80), ``07 09 A1 18 90 F4`` (UPDATE Input {0x90: false})..."""
    target = list(endpoint) if isinstance(endpoint, tuple) else endpoint
    body = cbor.encode(target) + (cbor.encode(payload) if has_payload else b"")
    return bytes([function]) + body


def encode_response(status: int, payload: Any = None, node: str | None = None) -> bytes:
    """v0.6 response: status, node ID or null, data or null."""
    return bytes([status]) + cbor.encode(node) + cbor.encode(payload)


def encode_report(endpoint: Endpoint, payload: dict[Any, Any] | list[Any]) -> bytes:
    """``1F <endpoint> <map id -> value>``, as the SDK publishes mLive on CAN (§2.6)."""
    return encode_request(Function.REPORT, endpoint, payload, has_payload=True)
