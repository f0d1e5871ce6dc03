"""A5 frame layout, checksum and a resynchronising stream framer (daly.md §1.2, §1.5)."""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trackingbms_daly.errors import DalyProtocolError

__all__ = [
    "DATA_LEN",
    "FRAME_LEN",
    "START",
    "A5Frame",
    "A5Framer",
    "Field",
    "Table",
    "build_frame",
    "checksum",
    "decode_fields",
    "encode_fields",
]

# Every A5 frame, request or response, is 13 bytes: A5, address, data id, 0x08, 8 data bytes,
# checksum ([V1.2] §2; daly.md §1.2).
FRAME_LEN = 13
START = 0xA5
DATA_LEN = 8
_HEADER_LEN = 4
# The furthest byte the overlap rule inspects: a header starting at offset 12 ends at 15.
_LOOKAHEAD = FRAME_LEN - 1 + _HEADER_LEN


def checksum(data: bytes | bytearray | memoryview) -> int:
    """Return the A5 checksum: the low byte of the sum of all bytes ([V1.2], daly.md §1.2)."""
    return sum(data) & 0xFF


def build_frame(address: int, data_id: int, data: bytes = bytes(DATA_LEN)) -> bytes:
    """Encode one 13-byte frame; ``address`` is the host (request) or board (response)."""
    if len(data) != DATA_LEN:
        raise DalyProtocolError(f"A5 data must be {DATA_LEN} bytes, got {len(data)}")
    for name, value in (("address", address), ("data id", data_id)):
        if not 0 <= value <= 0xFF:
            raise DalyProtocolError(f"A5 {name} {value!r} does not fit in one byte")
    body = bytes((START, address, data_id, DATA_LEN)) + bytes(data)
    return body + bytes((checksum(body),))


@dataclass(frozen=True, slots=True)
class A5Frame:
    """One checked A5 frame: its address byte, data id and 8 data bytes."""

    address: int
    data_id: int
    data: bytes

    def __post_init__(self) -> None:
        # Encoding validates every field, so a frame that exists can always be re-encoded.
        build_frame(self.address, self.data_id, self.data)

    @property
    def raw(self) -> bytes:
        """The frame re-encoded as 13 bytes, checksum included."""
        return build_frame(self.address, self.data_id, self.data)

    @classmethod
    def parse(cls, raw: bytes) -> A5Frame:
        """Check and split one complete 13-byte frame."""
        if len(raw) != FRAME_LEN:
            raise DalyProtocolError(f"A5 frame must be {FRAME_LEN} bytes, got {len(raw)}")
        if raw[0] != START:
            raise DalyProtocolError(f"A5 frame starts with 0x{raw[0]:02X}, not 0xA5")
        if raw[3] != DATA_LEN:
            raise DalyProtocolError(f"A5 length byte is 0x{raw[3]:02X}, not 0x08")
        expected = checksum(raw[:-1])
        if raw[-1] != expected:
            raise DalyProtocolError(f"A5 checksum 0x{raw[-1]:02X}, expected 0x{expected:02X}")
        return cls(raw[1], raw[2], bytes(raw[4:12]))


@dataclass(frozen=True, slots=True)
class Field:
    """One value in the 8 data bytes: value = (raw + offset) * scale, raw big-endian."""

    name: str
    at: int  # byte offset within the 8 data bytes
    fmt: str  # struct code: B u8, H u16, I u32, ? flag byte
    scale: float = 1
    offset: int = 0
    unit: str | None = None

    def decode(self, data: bytes) -> Any:
        """Read this field's value from 8 data bytes."""
        raw = struct.unpack_from(">" + self.fmt, data, self.at)[0]
        if self.fmt == "?":
            return raw
        if isinstance(self.scale, int):
            return raw + self.offset
        # Round to the field's resolution so 646 * 0.1 reads 64.6, not 64.60000000000001.
        return round((raw + self.offset) * self.scale, -math.floor(math.log10(self.scale)))

    def encode(self, value: Any) -> bytes:
        """Return this field's wire bytes for ``value``."""
        try:
            raw = bool(value) if self.fmt == "?" else round(value / self.scale) - self.offset
            return struct.pack(">" + self.fmt, raw)
        except (struct.error, OverflowError, ValueError, TypeError) as exc:
            raise DalyProtocolError(f"{self.name}={value!r} does not fit its wire field") from exc


Table = tuple[Field, ...]


def decode_fields(table: Table, data: bytes) -> dict[str, Any]:
    """Decode every field of ``table`` from 8 data bytes."""
    if len(data) != DATA_LEN:
        raise DalyProtocolError(f"A5 data must be {DATA_LEN} bytes, got {len(data)}")
    return {f.name: f.decode(data) for f in table}


def encode_fields(table: Table, values: Mapping[str, Any]) -> bytes:
    """Encode the fields named in ``values`` into 8 data bytes; uncovered bytes stay zero."""
    out = bytearray(DATA_LEN)
    for f in table:
        if f.name in values:
            packed = f.encode(values[f.name])
            out[f.at : f.at + len(packed)] = packed
    return bytes(out)


class _Verdict(enum.Enum):
    ACCEPT = enum.auto()
    REJECT = enum.auto()
    WAIT = enum.auto()


class A5Framer:
    """Cut a byte stream into A5 frames, resynchronising on 0xA5 after any damage.

    Real links drop and garble bytes: Louisvdw/dbus-serialbattery #160 decoded garbage by
    assuming fixed 13-byte spacing, and #165 received a 9-byte frame followed at once by the
    next frame (daly.md §1.5). So a candidate is accepted only if its length byte and
    checksum are right and no other frame of the same address starts inside it; otherwise
    the framer moves ONE byte on and searches for the next 0xA5.

    Every decision is taken only once the bytes it depends on are present, so the frames
    produced do not depend on how the stream was chunked. As undecided bytes never reach
    back more than 15 bytes, the buffer cannot grow with junk: it holds at most 15 bytes
    between calls. The framer does not filter addresses or data ids; the driver does.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.skipped_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes held back until more of the stream arrives."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[A5Frame]:
        """Add received bytes and return every frame that can be decided now."""
        self._buffer += chunk
        return self._drain(final=False)

    def flush(self) -> list[A5Frame]:
        """Decide what is pending as if the stream ended here (quiet gap), then clear."""
        frames = self._drain(final=True)
        self.skipped_bytes += len(self._buffer)
        self._buffer.clear()
        return frames

    def reset(self) -> None:
        """Drop pending bytes without deciding them, e.g. before sending a new request."""
        self._buffer.clear()

    def _drain(self, final: bool) -> list[A5Frame]:
        buf = self._buffer
        frames: list[A5Frame] = []
        pos = 0
        while (start := buf.find(START, pos)) >= 0:
            self.skipped_bytes += start - pos
            pos = start
            verdict = self._judge(pos, final)
            if verdict is _Verdict.WAIT:
                break
            if verdict is _Verdict.ACCEPT:
                frames.append(A5Frame.parse(bytes(buf[pos : pos + FRAME_LEN])))
                pos += FRAME_LEN
            else:
                self.skipped_bytes += 1
                pos += 1
        else:
            # No start byte left: everything from pos on is junk.
            self.skipped_bytes += len(buf) - pos
            pos = len(buf)
        del buf[:pos]
        return frames

    def _judge(self, pos: int, final: bool) -> _Verdict:
        buf = self._buffer
        avail = len(buf) - pos
        if avail > 3 and buf[pos + 3] != DATA_LEN:
            return _Verdict.REJECT
        overlap = self._overlap(pos)
        if overlap is _Verdict.REJECT:
            return _Verdict.REJECT
        if avail < FRAME_LEN:
            return _Verdict.REJECT if final else _Verdict.WAIT
        if checksum(buf[pos : pos + FRAME_LEN - 1]) != buf[pos + FRAME_LEN - 1]:
            return _Verdict.REJECT
        if overlap is _Verdict.WAIT and not final:
            return _Verdict.WAIT
        return _Verdict.ACCEPT

    def _overlap(self, pos: int) -> _Verdict | None:
        """Look for another frame's header ``A5 <same address> <id> 08`` inside the candidate.

        REJECT if one is fully visible, WAIT if a visible prefix matches but its remaining
        bytes have not arrived, None if none can match. This is what keeps a truncated frame
        (Louisvdw #165) from swallowing the start of the next one, even when the checksum
        happens to fit (1 in 256).
        """
        buf = self._buffer
        end = min(len(buf), pos + _LOOKAHEAD)
        address = buf[pos + 1] if pos + 1 < end else None
        result: _Verdict | None = None
        for j in range(pos + 1, pos + FRAME_LEN):
            header = buf[j : min(j + _HEADER_LEN, end)]
            if not header:
                break
            # At offset 1 the candidate's own address byte is that 0xA5, so the "same
            # address" test is meaningless there: any address counts.
            same = j == pos + 1 or len(header) < 2 or header[1] == address
            if header[0] != START or not same or (len(header) == 4 and header[3] != DATA_LEN):
                continue
            if len(header) == _HEADER_LEN:
                return _Verdict.REJECT
            result = _Verdict.WAIT
        return result
