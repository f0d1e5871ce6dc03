"""ThingSet serial framing: bytes to lines, the CRC-32 suffix, and log lines that share the UART."""

from __future__ import annotations

import enum
import re
import zlib
from dataclasses import dataclass

from trackingbms_thingset.errors import CrcError, NotThingSetError, ThingSetError

__all__ = [
    "MAX_LINE",
    "CrcState",
    "LineFramer",
    "RawLine",
    "SerialMessage",
    "crc32",
    "decode_line",
    "encode_line",
]

# The device's RX buffer is 512 bytes (CONFIG_THINGSET_SERIAL_RX_BUF_SIZE, legacy.md §2.5), but
# its reports are longer (a 16-cell mLive is ~600 bytes): the host keeps lines up to this size.
MAX_LINE = 4096
# "<msg> <CRC32 as 8 hex digits>#" (legacy.md §2.5; fixtures README "Serial line format").
_CRC_SUFFIX = re.compile(rb" ([0-9A-Fa-f]{8})#$")
# Every ThingSet line starts with one of these (§2.4); the rest (Zephyr logs, shell echo) is not ours.
THINGSET_STARTS = frozenset(b"?=+-!@#:")
_BACKSPACE = 0x08


def crc32(message: bytes) -> int:
    """crc32_ieee of the SDK = zlib's CRC-32, over the message only, without the space (§2.5)."""
    return zlib.crc32(message) & 0xFFFFFFFF


class CrcState(enum.StrEnum):
    """What a line's CRC suffix said."""

    ABSENT = "absent"  # firmware before the 2023 SDK, or a host request without CRC
    VALID = "valid"


@dataclass(frozen=True, slots=True)
class RawLine:
    """One line as it came over the wire (the PtyDevice request protocol wants ``raw``)."""

    raw: bytes

    @property
    def body(self) -> bytes:
        """The line without its LF or CR LF."""
        return self.raw.rstrip(b"\r\n")


@dataclass(frozen=True, slots=True)
class SerialMessage:
    """A ThingSet line's message text and what its CRC suffix said."""

    text: str
    crc: CrcState


class LineFramer:
    """Splits a byte stream into lines; a line longer than ``max_line`` is dropped up to its end.

    With ``editing`` (the device side), backspace deletes the previous character as the SDK's
    serial input does for people typing into a terminal (legacy.md §2.5).
    """

    def __init__(self, max_line: int = MAX_LINE, editing: bool = False) -> None:
        self.max_line = max_line
        self.editing = editing
        self._buffer = bytearray()
        self._overflow = False
        self.dropped = 0  # overlong lines thrown away

    def feed(self, chunk: bytes) -> list[RawLine]:
        """The lines these bytes complete."""
        lines: list[RawLine] = []
        for byte in chunk:
            if byte == 0x0A:
                if self._overflow:
                    self._overflow = False
                else:
                    lines.append(RawLine(bytes(self._buffer) + b"\n"))
                self._buffer.clear()
            elif self._overflow:
                continue
            elif self.editing and byte == _BACKSPACE:
                if self._buffer:
                    del self._buffer[-1]
            else:
                self._buffer.append(byte)
                if len(self._buffer) > self.max_line:
                    # Resynchronise on the next line end: the rest of this line is lost anyway.
                    self._buffer.clear()
                    self._overflow = True
                    self.dropped += 1
        return lines

    def flush(self) -> list[RawLine]:
        """A partial line is never a message: nothing is released before its line end."""
        return []

    def reset(self) -> None:
        """Forget a partial line."""
        self._buffer.clear()
        self._overflow = False


def decode_line(body: bytes, require_crc: bool = False) -> SerialMessage:
    """Check a line's CRC suffix and return its message; raises ThingSetError subclasses.

    A wrong CRC is always an error; a missing one only with ``require_crc`` (``crc: on``).
    """
    body = body.rstrip(b"\r\n")
    if not body or body[0] not in THINGSET_STARTS:
        raise NotThingSetError(f"not a ThingSet line: {body[:60]!r}")
    crc = CrcState.ABSENT
    if (match := _CRC_SUFFIX.search(body)) is not None:
        message = body[: match.start()]
        expected = int(match.group(1), 16)
        if crc32(message) != expected:
            raise CrcError(f"CRC {expected:08X} does not match {crc32(message):08X}: {message[:60]!r}")
        body, crc = message, CrcState.VALID
    elif require_crc:
        raise CrcError(f"line without CRC: {body[:60]!r}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ThingSetError(f"line is not UTF-8: {body[:60]!r}") from err
    return SerialMessage(text, crc)


def encode_line(message: str, crc: bool, line_end: bytes = b"\n") -> bytes:
    """``<msg> <CRC>#`` plus the line end: the device ends lines with CR LF, hosts with LF (§2.5)."""
    try:
        data = message.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ThingSetError(f"message is not encodable as UTF-8: {err}") from err
    if b"\n" in data or b"\r" in data:
        raise ThingSetError("a message cannot contain a line end")
    if crc:
        data += b" %08X#" % crc32(data)
    return data + line_end
