"""29-bit identifiers of Daly's A5-over-CAN protocol: build, split and classify (daly.md §2.1)."""

from __future__ import annotations

from typing import NamedTuple

from trackingbms_daly.errors import DalyProtocolError

__all__ = [
    "BITRATE",
    "HOST",
    "MAX_ID",
    "PRIORITY",
    "DalyCanId",
    "build_id",
    "is_reply",
    "is_request",
    "mr_manuel_cache_id",
    "parse_id",
    "reply_id",
    "request_id",
]

# "Baud Rate: 250K" ([CAN-doc]); patagonaa's CAN README and mr-manuel's bitrate detection agree.
BITRATE = 250_000
# Every source uses priority 0x18; a Zephyr driver header caps it at 0x1F (daly.md §2.1).
PRIORITY = 0x18
MAX_PRIORITY = 0x1F
# The host's address on CAN is 0x40, as on RS485 ([CAN-doc] 0x18100140; bms-to-inverter sends 0x40).
HOST = 0x40
# Extended identifiers are 29 bits wide.
MAX_ID = (1 << 29) - 1
# mr-manuel rewrites the cached ID of multi-frame answers: id + 0x100000 + (frame << 16), so
# its logs show 0x18A64002 for frame 1 of 0x18954002 (issue #249; daly.md §2.1).
_CACHE_STEP = 0x100000


class DalyCanId(NamedTuple):
    """The four bytes of an identifier: priority, data id, destination and source addresses."""

    priority: int
    data_id: int
    destination: int
    source: int

    @property
    def value(self) -> int:
        """The identifier as an integer."""
        return build_id(self.data_id, self.destination, self.source, self.priority)


def _byte(name: str, value: int) -> int:
    if not 0 <= value <= 0xFF:
        raise DalyProtocolError(f"CAN {name} {value!r} does not fit in one byte")
    return value


def build_id(data_id: int, destination: int, source: int, priority: int = PRIORITY) -> int:
    """``priority << 24 | data_id << 16 | destination << 8 | source`` (daly.md §2.1)."""
    if not 0 <= priority <= MAX_PRIORITY:
        raise DalyProtocolError(f"CAN priority {priority!r} outside 0..0x{MAX_PRIORITY:02X}")
    return (
        priority << 24
        | _byte("data id", data_id) << 16
        | _byte("destination", destination) << 8
        | _byte("source", source)
    )


def request_id(data_id: int, board: int, host: int = HOST) -> int:
    """The ID of a request from ``host`` to ``board``: 0x18<ID><board><host>, e.g. 0x18900140."""
    return build_id(data_id, board, host)


def reply_id(data_id: int, board: int, host: int = HOST) -> int:
    """The ID of ``board``'s answer to ``host``: 0x18<ID><host><board>, e.g. 0x18904001."""
    return build_id(data_id, host, board)


def parse_id(can_id: int) -> DalyCanId:
    """Split a 29-bit identifier into its four fields."""
    if not 0 <= can_id <= MAX_ID:
        raise DalyProtocolError(f"CAN ID 0x{can_id:X} is not a 29-bit identifier")
    return DalyCanId(can_id >> 24, can_id >> 16 & 0xFF, can_id >> 8 & 0xFF, can_id & 0xFF)


def is_reply(can_id: int, host: int = HOST) -> bool:
    """Whether an extended ID is a Daly answer to ``host`` (any board, any data id).

    bms-to-inverter accepts a frame when its receiver byte is 0x40 and takes the board
    from the low byte; mr-manuel filters answers on ``id & 0xFF`` (daly.md §2.1). We also
    require priority 0x18 so that the "new" H/K/M/S register IDs (0x400..., §2.4) and
    other traffic on a shared bus are not taken for answers.
    """
    if not 0 <= can_id <= MAX_ID:
        return False
    parts = parse_id(can_id)
    return parts.priority == PRIORITY and parts.destination == host and parts.source != host


def is_request(can_id: int, host: int = HOST) -> bool:
    """Whether an extended ID is a request from ``host`` to some board."""
    if not 0 <= can_id <= MAX_ID:
        return False
    parts = parse_id(can_id)
    return parts.priority == PRIORITY and parts.source == host and parts.destination != host


def mr_manuel_cache_id(can_id: int, frame: int) -> int:
    """The ID dbus-serialbattery logs for frame ``frame`` of a multi-frame answer.

    It is never on the bus: the real frames all carry the answer's own ID and differ
    only in data byte 0 (daly.md §2.1). This exists to read issue logs correctly.
    """
    return can_id + _CACHE_STEP + (frame << 16)
