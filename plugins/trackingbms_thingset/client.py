"""Request helpers over both modes: read, update and execute data objects (legacy.md §2.4)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from trackingbms_thingset.binary import BinaryResponse, decode_binary, encode_request
from trackingbms_thingset.errors import StatusError, ThingSetError
from trackingbms_thingset.objects import DataObject, Era
from trackingbms_thingset.status import Function, is_success
from trackingbms_thingset.text import TextResponse, dumps, format_request
from trackingbms_thingset.values import flatten

__all__ = ["BinaryClient", "TextClient", "ThingSetClient"]


class ThingSetClient(Protocol):
    """What control writes need from a transport."""

    async def read_item(self, item: DataObject) -> Any:
        """GET one object's value."""

    async def read_group(self, group: str) -> dict[str, Any]:
        """GET a group: item name -> value."""

    async def update(self, item: DataObject, value: Any) -> None:
        """UPDATE one object; StatusError when refused."""

    async def execute(self, item: DataObject) -> int:
        """EXEC a function; returns the success status (0x83 or 0x84)."""


def _checked(status: int, detail: Any = None) -> int:
    if not is_success(status):
        raise StatusError(status, detail if isinstance(detail, str) else "")
    return status


class TextClient:
    """Text requests (``?Conf/sX``, ``=Input {..}``, ``!Device/xReset``) through request functions.

    ``request_once`` sends without retries: an EXEC must not run twice because an answer was late.
    """

    def __init__(
        self,
        request: Callable[[str], Awaitable[TextResponse]],
        request_once: Callable[[str], Awaitable[TextResponse]] | None = None,
    ) -> None:
        self._request = request
        self._request_once = request_once or request

    async def _ask(self, char: str, path: str, payload: str | None = None) -> TextResponse:
        send = self._request_once if char == "!" else self._request
        response = await send(format_request(char, path, payload))
        _checked(response.status, response.payload)
        return response

    async def read_item(self, item: DataObject) -> Any:
        """``?Group/item`` -> value."""
        return (await self._ask("?", item.path)).payload

    async def read_group(self, group: str) -> dict[str, Any]:
        """``?Group`` -> {name: value}."""
        return flatten((await self._ask("?", group)).payload)

    async def update(self, item: DataObject, value: Any) -> None:
        """``=Group {"item":value}``."""
        await self._ask("=", item.group, dumps({item.name: value}))

    async def execute(self, item: DataObject) -> int:
        """``!Group/xFunction``."""
        return (await self._ask("!", item.path)).status


class BinaryClient:
    """Binary requests by ID (``01 18 90``, ``07 09 A1 18 90 F4``, ``02 18 4B 80``); EXEC without retries."""

    def __init__(
        self,
        request: Callable[[bytes], Awaitable[bytes]],
        era: Era,
        request_once: Callable[[bytes], Awaitable[bytes]] | None = None,
    ) -> None:
        self._request = request
        self._request_once = request_once or request
        self.era = era

    async def _ask(self, message: bytes) -> BinaryResponse:
        send = self._request_once if message[:1] == bytes([Function.EXEC]) else self._request
        response = decode_binary(await send(message))
        if not isinstance(response, BinaryResponse):
            raise ThingSetError("the answer was not a response")
        _checked(response.status)
        return response

    def _group_id(self, group: str) -> int:
        if group not in self.era.group_ids:
            raise ThingSetError(f"no ID known for group {group!r} in era {self.era.key}")
        return self.era.group_ids[group]

    async def read_item(self, item: DataObject) -> Any:
        """GET by ID."""
        return (await self._ask(encode_request(Function.GET, item.id))).payload

    async def read_group(self, group: str) -> dict[str, Any]:
        """GET the group ID; the IDs of the answer are named with the era table."""
        payload = (await self._ask(encode_request(Function.GET, self._group_id(group)))).payload
        if not isinstance(payload, dict):
            raise ThingSetError(f"GET {group} did not return a map")
        named = {}
        for key, value in payload.items():
            item = self.era.by_id(key) if isinstance(key, int) else None
            named[item.name if item is not None else str(key)] = value
        return named

    async def update(self, item: DataObject, value: Any) -> None:
        """UPDATE <group ID> {ID: value}."""
        request = encode_request(Function.UPDATE, self._group_id(item.group), {item.id: value}, has_payload=True)
        await self._ask(request)

    async def execute(self, item: DataObject) -> int:
        """EXEC <ID> [] (the spec's ``02 18 34 80``)."""
        return (await self._ask(encode_request(Function.EXEC, item.id, [], has_payload=True))).status
