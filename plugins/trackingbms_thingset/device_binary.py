"""The simulated BMS's binary mode: answers requests by ID and builds the CAN reports of its era (§2.4, §2.6)."""

from __future__ import annotations

import logging
from typing import Any

from trackingbms_thingset import cbor
from trackingbms_thingset.binary import BinaryRequest, decode_binary, encode_report, encode_response, is_text_start
from trackingbms_thingset.can.ids import legacy_pub_id, sf_report_id
from trackingbms_thingset.can.reports import FRAME_SIZE
from trackingbms_thingset.device import ThingSetDevice
from trackingbms_thingset.device_text import TextService
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.objects import CanReports, DataObject
from trackingbms_thingset.status import Function

__all__ = ["BinaryService"]

_LOGGER = logging.getLogger(__name__)
_IDS, _PATHS = 0x16, 0x17  # _Ids and _Paths (reserved IDs, §2.4; the spec's comment says 0x17 for _Ids: erratum 1)


class BinaryService:
    """Binary (or text, by first byte) requests in, responses out; CAN report frames of the era."""

    def __init__(self, device: ThingSetDevice) -> None:
        self.device = device
        self.text = TextService(device, status_text=False)

    def handle(self, message: bytes) -> bytes | None:
        """The response, or None; the node tells text from binary by the first byte (§2.6)."""
        if not message:
            return None
        if is_text_start(message[0]):
            answer = self.text.handle(message.decode("utf-8", "replace"))
            return None if answer is None else answer.encode("utf-8")
        try:
            request = decode_binary(message)
        except ThingSetError as err:
            _LOGGER.debug("bad binary request %s: %s", message.hex(), err)
            return encode_response(0xA0)
        if not isinstance(request, BinaryRequest):
            return None
        try:
            return self._dispatch(request)
        except _StatusError as status:
            return encode_response(status.code)

    def _dispatch(self, request: BinaryRequest) -> bytes | None:
        fn = request.function
        if fn is Function.FETCH and request.endpoint in (_IDS, _PATHS):
            return encode_response(0x85, self._translate(request.endpoint, request.payload))
        if fn in (Function.GET, Function.FETCH):
            return encode_response(0x85, self._get(request))
        if fn in (Function.UPDATE, Function.DESIRE):
            self._update(request)
            return None if fn is Function.DESIRE else encode_response(0x84)
        if fn is Function.EXEC:
            item = self._item(request.endpoint)
            if item.type != "exec":
                raise _StatusError(0xA5)
            if item.name == "xReset":
                self.device.reset()
            return encode_response(self.device.era.exec_status)
        raise _StatusError(0xA5)

    def _children(self, endpoint: Any) -> list[DataObject] | None:
        era = self.device.era
        name = era.group_name(endpoint) if isinstance(endpoint, int) else endpoint
        return era.group_objects(name) if isinstance(name, str) and name in era.group_ids else None

    def _item(self, endpoint: Any) -> DataObject:
        era = self.device.era
        item = era.by_id(endpoint) if isinstance(endpoint, int) else None
        if isinstance(endpoint, str):
            item = next((i for i in era.objects if i.path == endpoint), None)
        if item is None:
            raise _StatusError(0xA4)
        return item

    def _get(self, request: BinaryRequest) -> Any:
        children = self._children(request.endpoint)
        if children is None:
            return self.device.value(self._item(request.endpoint))
        measures = self.device.measures()
        if request.function is Function.FETCH and request.payload is None:
            return [item.id for item in children]  # v0.6 discovery: FETCH <group> null (§2.4)
        values = {item.id: self.device.value(item, measures) for item in children}
        if request.function is Function.FETCH:
            if any(i not in values for i in request.payload):
                raise _StatusError(0xA4)
            return [values[i] for i in request.payload]
        return values

    def _update(self, request: BinaryRequest) -> None:
        children = self._children(request.endpoint)
        if children is None:
            raise _StatusError(0xA4)
        by_id = {item.id: item for item in children}
        changes = []
        for key, value in request.payload.items():
            item = by_id.get(key) if isinstance(key, int) else next((i for i in children if i.name == key), None)
            if item is None:
                raise _StatusError(0xA4)
            if not item.writable:
                raise _StatusError(0xA3)
            checked = item.coerce(value)
            if checked is None:
                raise _StatusError(0xAF)
            changes.append((item, checked))
        for item, value in changes:
            self.device.write(item, value)

    def _translate(self, endpoint: Any, payload: Any) -> list[Any]:
        if not isinstance(payload, list):
            raise _StatusError(0xA0)
        era = self.device.era
        if endpoint == _PATHS:
            found = [era.by_id(i) if isinstance(i, int) else None for i in payload]
            return [None if item is None else item.path for item in found]
        paths = {item.path: item.id for item in era.objects}
        return [paths.get(p) if isinstance(p, str) else None for p in payload]

    def live_values(self) -> dict[int, Any]:
        """ID -> value of every item the era publishes on CAN."""
        measures = self.device.measures()
        return {item.id: self.device.value(item, measures) for item in self.device.era.can_objects()}

    def report_message(self) -> bytes:
        """``1F 18 31 <map>``: mLive as one binary report with IDs and values (main, §2.6)."""
        assert self.device.era.live_id is not None
        return encode_report(self.device.era.live_id, self.live_values())

    def single_frames(self, node: int) -> list[tuple[int, bytes]]:
        """One frame per item (0x1E.. in 2022-10..2023, 0x1F.. before); longer items are never sent (§2.6)."""
        legacy = self.device.era.can_reports is CanReports.LEGACY
        frames = []
        for object_id, value in self.live_values().items():
            payload = cbor.encode(value)
            if len(payload) <= FRAME_SIZE:
                frames.append((legacy_pub_id(object_id, node) if legacy else sf_report_id(object_id, node), payload))
        return frames


class _StatusError(Exception):
    """An error status to answer with."""

    def __init__(self, code: int) -> None:
        super().__init__(f"0x{code:02X}")
        self.code = code
