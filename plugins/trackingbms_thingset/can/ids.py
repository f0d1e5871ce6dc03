"""ThingSet CAN identifiers (29-bit): the v0.6 layouts and the 2021-2022 publication IDs (legacy.md §2.6)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "BITRATE",
    "CanKind",
    "MfType",
    "ParsedId",
    "legacy_pub_id",
    "legacy_reqresp_id",
    "mf_report_id",
    "parse_id",
    "reqresp_id",
    "sf_report_id",
]

BITRATE = 500_000  # classic CAN 500 kbit/s (spec transports/can.md; v21.0 boards: 250 kbit/s)
_PRIO_SHIFT = 26
_TYPE_SHIFT = 24
MAX_ID = 0x1FFFFFFF
# 2021 .. 2022-09 request/response: J1939-style PF 0xDA, "0x1ADA <target> <source>" (§2.6).
_LEGACY_PF = 0xDA


class CanKind(enum.StrEnum):
    """What a 29-bit ThingSet identifier carries."""

    REQUEST_RESPONSE = "request/response"  # type 0x0, ISO-TP payload
    MULTI_FRAME_REPORT = "multi-frame report"  # type 0x1 (current mLive)
    SINGLE_FRAME_REPORT = "single-frame report"  # type 0x2 (2022-10 .. 2023; control items)
    NETWORK = "network management"  # type 0x3 with priority 4: address discovery / claim
    LEGACY_REPORT = "legacy report"  # 0x1F<id16><node>: type bits 0x3 with priority 7 (≤ 2022-09)
    LEGACY_REQUEST_RESPONSE = "legacy request/response"  # 0x1ADA<target><source>, ISO-TP


class MfType(enum.IntEnum):
    """Multi-frame report frame types (bits 13-12)."""

    FIRST = 0
    CONSECUTIVE = 1
    LAST = 2
    SINGLE = 3


@dataclass(frozen=True, slots=True)
class ParsedId:
    """The fields of one identifier; those a layout does not have stay None."""

    kind: CanKind
    priority: int
    source: int
    target: int | None = None
    data_id: int | None = None
    msg_no: int | None = None
    mf_type: MfType | None = None
    seq: int | None = None
    bus: int | None = None


def parse_id(can_id: int) -> ParsedId:
    """Split an extended identifier into its ThingSet fields."""
    priority = can_id >> _PRIO_SHIFT & 0x7
    type_ = can_id >> _TYPE_SHIFT & 0x3
    source = can_id & 0xFF
    if type_ == 0:
        return ParsedId(CanKind.REQUEST_RESPONSE, priority, source, target=can_id >> 8 & 0xFF, bus=can_id >> 16 & 0xF)
    if type_ == 1:
        return ParsedId(
            CanKind.MULTI_FRAME_REPORT,
            priority,
            source,
            msg_no=can_id >> 14 & 0x3,
            mf_type=MfType(can_id >> 12 & 0x3),
            seq=can_id >> 8 & 0xF,
            bus=can_id >> 16 & 0xF,
        )
    if type_ == 2 and priority == 6 and can_id >> 16 & 0xFF == _LEGACY_PF:
        return ParsedId(CanKind.LEGACY_REQUEST_RESPONSE, priority, source, target=can_id >> 8 & 0xFF)
    if type_ == 2:
        return ParsedId(CanKind.SINGLE_FRAME_REPORT, priority, source, data_id=can_id >> 8 & 0xFFFF)
    if priority == 7:
        # The device library's publication ID: TS_CAN_BASE_PUBSUB (0x3 << 24) | prio 7 (§2.6).
        return ParsedId(CanKind.LEGACY_REPORT, priority, source, data_id=can_id >> 8 & 0xFFFF)
    return ParsedId(CanKind.NETWORK, priority, source, target=can_id >> 8 & 0xFF)


def reqresp_id(target: int, source: int, target_bus: int = 0, source_bus: int = 0) -> int:
    """Request/response: prio 6, type 0 -> ``0x18TS tt ss`` (SDK include/thingset/can.h)."""
    return 6 << _PRIO_SHIFT | target_bus << 20 | source_bus << 16 | target << 8 | source


def legacy_reqresp_id(target: int, source: int) -> int:
    """2021 .. 2022-09 request/response: ``0x1ADA tt ss``."""
    return 6 << _PRIO_SHIFT | 2 << _TYPE_SHIFT | _LEGACY_PF << 16 | target << 8 | source


def mf_report_id(msg_no: int, mf_type: MfType, seq: int, source: int, bus: int = 0, priority: int = 7) -> int:
    """Multi-frame report: ``0x1D000000 | bus<<16 | msg_no<<14 | mf<<12 | seq<<8 | source``."""
    return (
        priority << _PRIO_SHIFT
        | 1 << _TYPE_SHIFT
        | bus << 16
        | (msg_no & 0x3) << 14
        | mf_type << 12
        | (seq & 0xF) << 8
        | source
    )


def sf_report_id(data_id: int, source: int, priority: int = 7) -> int:
    """Single-frame report: ``0x1E <id16> <source>``."""
    return priority << _PRIO_SHIFT | 2 << _TYPE_SHIFT | (data_id & 0xFFFF) << 8 | source


def legacy_pub_id(data_id: int, source: int) -> int:
    """2021 .. 2022-09 publication: ``0x1F <id16> <node>``."""
    return 7 << _PRIO_SHIFT | 3 << _TYPE_SHIFT | (data_id & 0xFFFF) << 8 | source
