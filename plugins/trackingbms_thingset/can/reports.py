"""ThingSet CAN reports: multi-frame split and reassembly (type 0x1), single-frame values (0x2, legacy 0x1F)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from trackingbms_thingset import cbor
from trackingbms_thingset.can.ids import CanKind, MfType, ParsedId, mf_report_id, parse_id
from trackingbms_thingset.errors import ThingSetError

__all__ = ["FRAME_SIZE", "MultiFrameAssembler", "SingleValue", "decode_single", "split_report"]

_LOGGER = logging.getLogger(__name__)
FRAME_SIZE = 8  # classic CAN


def split_report(message: bytes, source: int, msg_no: int = 0, bus: int = 0) -> list[tuple[int, bytes]]:
    """Cut a binary report into frames as the SDK does (``thingset_can_send_report_inst``, §2.6).

    One frame: type "single". More: first (seq 0), consecutive, last; the 4-bit sequence number
    wraps; the last frame is not padded (DLC = remaining bytes).
    """
    if not message:
        raise ThingSetError("empty report")
    chunks = [message[i : i + FRAME_SIZE] for i in range(0, len(message), FRAME_SIZE)]
    if len(chunks) == 1:
        return [(mf_report_id(msg_no, MfType.SINGLE, 0, source, bus), chunks[0])]
    frames = []
    for seq, chunk in enumerate(chunks):
        mf_type = MfType.FIRST if seq == 0 else MfType.LAST if seq == len(chunks) - 1 else MfType.CONSECUTIVE
        frames.append((mf_report_id(msg_no, mf_type, seq, source, bus), chunk))
    return frames


@dataclass(slots=True)
class _Partial:
    data: bytearray
    next_seq: int


class MultiFrameAssembler:
    """Reassembles multi-frame reports per (bus, source, msg_no); drops a message on any gap.

    Like the SDK receiver: a missing first frame or a sequence gap loses the message (§2.6).
    """

    def __init__(self, max_size: int = 4096) -> None:
        self.max_size = max_size
        self._partial: dict[tuple[int, int, int], _Partial] = {}
        self.dropped = 0

    def feed(self, can_id: int, data: bytes) -> tuple[int, bytes] | None:
        """Add one frame; returns (source, message) when a report is complete."""
        parts = parse_id(can_id)
        if parts.kind is not CanKind.MULTI_FRAME_REPORT:
            return None
        return self.feed_parsed(parts, data)

    def feed_parsed(self, parts: ParsedId, data: bytes) -> tuple[int, bytes] | None:
        """As feed, with the identifier already parsed."""
        assert parts.msg_no is not None and parts.seq is not None and parts.bus is not None
        key = (parts.bus, parts.source, parts.msg_no)
        if parts.mf_type is MfType.SINGLE:
            return (parts.source, bytes(data))
        if parts.mf_type is MfType.FIRST:
            if key in self._partial:
                self._drop(key, "a new first frame before the last one")
            if parts.seq != 0:
                self.dropped += 1
                return None
            self._partial[key] = _Partial(bytearray(data), 1)
            return None
        partial = self._partial.get(key)
        if partial is None:
            self.dropped += 1  # consecutive or last frame without its first frame
            return None
        if parts.seq != partial.next_seq:
            self._drop(key, f"sequence {parts.seq} where {partial.next_seq} was due")
            return None
        partial.data += data
        partial.next_seq = (partial.next_seq + 1) & 0xF
        if len(partial.data) > self.max_size:
            self._drop(key, "too long")
            return None
        if parts.mf_type is MfType.LAST:
            del self._partial[key]
            return (parts.source, bytes(partial.data))
        return None

    def _drop(self, key: tuple[int, int, int], why: str) -> None:
        self._partial.pop(key, None)
        self.dropped += 1
        _LOGGER.debug("multi-frame report from node %d dropped: %s", key[1], why)


@dataclass(frozen=True, slots=True)
class SingleValue:
    """One value of a single-frame (0x1E) or legacy (0x1F) report."""

    source: int
    data_id: int
    value: Any
    extra: bytes = b""  # bytes after the CBOR value (the optional 16-bit timestamp, §2.6)


def decode_single(can_id: int, data: bytes) -> SingleValue:
    """The CBOR value of a single-frame report; raises ThingSetError."""
    parts = parse_id(can_id)
    if parts.kind not in (CanKind.SINGLE_FRAME_REPORT, CanKind.LEGACY_REPORT) or parts.data_id is None:
        raise ThingSetError(f"0x{can_id:08X} is not a single-frame report")
    if not data:
        raise ThingSetError(f"0x{can_id:08X}: empty report")
    items = cbor.decode_first(data)
    return SingleValue(parts.source, parts.data_id, items[0], items[1])
