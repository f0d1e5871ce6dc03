"""Daly Modbus-style frames, request/answer builders and a resynchronising stream framer (daly.md §3.1)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus.crc import CRC_LEN, append_crc, has_valid_crc

__all__ = [
    "D2_ADDRESS",
    "EXCEPTION_FLAG",
    "MAX_FRAME_LEN",
    "MAX_READ_COUNT",
    "MAX_WRITE_COUNT",
    "READ",
    "WRITE_MULTIPLE",
    "WRITE_SINGLE",
    "ModbusFrame",
    "ModbusFramer",
    "Role",
    "build_exception",
    "build_read_answer",
    "build_read_request",
    "build_write_multiple",
    "build_write_multiple_answer",
    "build_write_single",
    "frame_length",
    "x81_answer_address",
    "x81_request_address",
]

READ = 0x03
WRITE_SINGLE = 0x06
WRITE_MULTIPLE = 0x10  # Daly layout: no byte-count byte in the request (daly.md §3.1)
EXCEPTION_FLAG = 0x80
D2_ADDRESS = 0xD2  # requests and answers of the D2 family (daly.md §3.2)
_X81_REQUEST_BASE = 0x80  # 0x81/0x51 family: request 0x80 + board, answer 0x50 + board (§3.3)
_X81_ANSWER_BASE = 0x50
MAX_BOARD = 15
MAX_READ_COUNT = 125  # Modbus limit: a byte count of at most 250
MAX_WRITE_COUNT = 123
_FIXED_LEN = 8  # 0x03/0x06 requests, 0x06 echoes, Daly 0x10 answers
_EXCEPTION_LEN = 5  # [addr][fct | 0x80][code][crc] (batmon-ha daly2.py, daly.md §3.1)
MAX_FRAME_LEN = 5 + 2 * MAX_READ_COUNT


class Role(enum.Enum):
    """Which side sent a frame: the device's answers and the host's requests differ in length rules."""

    ANSWER = "answer"
    REQUEST = "request"


def x81_request_address(board: int) -> int:
    """The request address of a 0x81-family board: 0x80 + board (board 1 = 0x81)."""
    _check_board(board)
    return _X81_REQUEST_BASE + board


def x81_answer_address(board: int) -> int:
    """The address a 0x81-family board answers from: 0x50 + board (board 1 = 0x51)."""
    _check_board(board)
    return _X81_ANSWER_BASE + board


def _check_board(board: int) -> None:
    if not 1 <= board <= MAX_BOARD:
        raise DalyProtocolError(f"board {board} outside 1..{MAX_BOARD}")


def _u16(name: str, value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise DalyProtocolError(f"{name} {value!r} does not fit in 16 bits")
    return value.to_bytes(2, "big")


def _byte(name: str, value: int) -> int:
    if not 0 <= value <= 0xFF:
        raise DalyProtocolError(f"{name} {value!r} does not fit in one byte")
    return value


@dataclass(frozen=True, slots=True)
class ModbusFrame:
    """One CRC-checked frame: address, function code and the bytes between them and the CRC."""

    address: int
    function: int
    body: bytes

    @property
    def raw(self) -> bytes:
        """The frame as sent, CRC included."""
        return append_crc(bytes((_byte("address", self.address), _byte("function", self.function))) + self.body)

    @property
    def is_exception(self) -> bool:
        """An exception answer: the function code with bit 7 set."""
        return bool(self.function & EXCEPTION_FLAG)

    @property
    def exception_code(self) -> int:
        """The exception code of an exception answer (1 illegal function, 2 address, 3 value)."""
        return self.body[0]

    @property
    def register(self) -> int:
        """First register of an 8-byte frame (0x03/0x06 request, 0x06 echo, 0x10 request/answer)."""
        return int.from_bytes(self.body[0:2], "big")

    @property
    def value(self) -> int:
        """Second word of an 8-byte frame: the value (0x06) or register count (0x03, 0x10)."""
        return int.from_bytes(self.body[2:4], "big")

    def registers(self) -> tuple[int, ...]:
        """Register values of a 0x03 answer, or the values of a Daly 0x10 request."""
        data = self.body[1:] if self.function == READ else self.body[4:]
        return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2))

    @classmethod
    def parse(cls, raw: bytes, role: Role = Role.ANSWER) -> ModbusFrame:
        """Check and split one complete frame; raises DalyProtocolError."""
        length = frame_length(raw, role)
        if length is None or length != len(raw):
            raise DalyProtocolError(f"{role.value} frame length {len(raw)} does not fit its header {raw[:6].hex()}")
        if not has_valid_crc(raw):
            raise DalyProtocolError(f"CRC mismatch in {raw.hex(' ')}")
        return cls(raw[0], raw[1], bytes(raw[2:-CRC_LEN]))


def frame_length(buf: bytes | bytearray, role: Role, pos: int = 0) -> int | None:
    """The total length the header at ``pos`` announces, or None while the header is incomplete.

    Raises DalyProtocolError when the header cannot start a frame of this role.
    """
    avail = len(buf) - pos
    if avail < 2:
        return None
    function = buf[pos + 1]
    if role is Role.ANSWER:
        if function == READ:
            if avail < 3:
                return None
            count = buf[pos + 2]
            if count == 0 or count % 2 or count > 2 * MAX_READ_COUNT:
                raise DalyProtocolError(f"byte count {count} is not a read answer's")
            return 5 + count
        if function in (WRITE_SINGLE, WRITE_MULTIPLE):
            return _FIXED_LEN
        if function > EXCEPTION_FLAG:
            return _EXCEPTION_LEN
        raise DalyProtocolError(f"function 0x{function:02X} is not a Daly answer")
    if function == WRITE_MULTIPLE:
        if avail < 6:
            return None
        count = int.from_bytes(buf[pos + 4 : pos + 6], "big")
        if not 1 <= count <= MAX_WRITE_COUNT:
            raise DalyProtocolError(f"0x10 register count {count} outside 1..{MAX_WRITE_COUNT}")
        return _FIXED_LEN + 2 * count
    if 0 < function < EXCEPTION_FLAG:
        return _FIXED_LEN  # 0x03, 0x06 and unsupported functions, answered with an exception
    raise DalyProtocolError(f"function 0x{function:02X} is not a request's")


def build_read_request(address: int, start: int, count: int) -> bytes:
    """0x03: read ``count`` registers from ``start``."""
    if not 1 <= count <= MAX_READ_COUNT:
        raise DalyProtocolError(f"read count {count} outside 1..{MAX_READ_COUNT}")
    return append_crc(bytes((_byte("address", address), READ)) + _u16("start", start) + _u16("count", count))


def build_write_single(address: int, register: int, value: int) -> bytes:
    """0x06: write one register; the device echoes the request."""
    return append_crc(
        bytes((_byte("address", address), WRITE_SINGLE)) + _u16("register", register) + _u16("value", value)
    )


def build_write_multiple(address: int, start: int, values: Sequence[int]) -> bytes:
    """0x10 in Daly's layout: start, count and the values, WITHOUT the standard byte count."""
    if not 1 <= len(values) <= MAX_WRITE_COUNT:
        raise DalyProtocolError(f"0x10 writes 1..{MAX_WRITE_COUNT} registers, not {len(values)}")
    data = b"".join(_u16("value", v) for v in values)
    header = bytes((_byte("address", address), WRITE_MULTIPLE)) + _u16("start", start) + _u16("count", len(values))
    return append_crc(header + data)


def build_read_answer(address: int, registers: Sequence[int]) -> bytes:
    """A 0x03 answer: byte count, then the registers big-endian."""
    if not 1 <= len(registers) <= MAX_READ_COUNT:
        raise DalyProtocolError(f"a read answer carries 1..{MAX_READ_COUNT} registers, not {len(registers)}")
    data = b"".join(_u16("register value", v) for v in registers)
    return append_crc(bytes((_byte("address", address), READ, len(data))) + data)


def build_write_multiple_answer(address: int, start: int, count: int) -> bytes:
    """Daly's short 0x10 answer: start and count, no data ([MB-xlsx], daly.md §3.1)."""
    return append_crc(bytes((_byte("address", address), WRITE_MULTIPLE)) + _u16("start", start) + _u16("count", count))


def build_exception(address: int, function: int, code: int) -> bytes:
    """An exception answer to ``function`` with ``code``."""
    return append_crc(bytes((_byte("address", address), (function | EXCEPTION_FLAG) & 0xFF, _byte("code", code))))


class ModbusFramer:
    """Cut a byte stream into CRC-checked frames from a set of addresses, resynchronising after damage.

    BLE notifications carry several answers at once and small MTUs split them (daly.md §3.4),
    serial lines add junk and cut answers short. A candidate starts at an expected address
    byte; its length comes from the header (byte count for 0x03 answers, 8 bytes for 0x06
    echoes and Daly 0x10 answers, 5 for exceptions, 8 + 2N for Daly 0x10 requests). A bad
    header or CRC moves ONE byte on. Each decision depends only on the candidate's own bytes,
    so the frames do not depend on the chunking; :meth:`flush` decides what is still waiting.
    Pending bytes never exceed one frame (MAX_FRAME_LEN).
    """

    def __init__(self, addresses: Iterable[int], role: Role = Role.ANSWER) -> None:
        self.addresses = frozenset(addresses)
        self.role = role
        self._buffer = bytearray()
        self.skipped_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes held back until more of the stream arrives."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[ModbusFrame]:
        """Add received bytes and return every frame that can be decided now."""
        self._buffer += chunk
        return self._drain(final=False)

    def flush(self) -> list[ModbusFrame]:
        """Decide pending bytes as if the stream ended here (a quiet line), then clear."""
        frames = self._drain(final=True)
        self.skipped_bytes += len(self._buffer)
        self._buffer.clear()
        return frames

    def reset(self) -> None:
        """Drop pending bytes, e.g. before a new request."""
        self._buffer.clear()

    def _next_start(self, pos: int) -> int:
        buf = self._buffer
        while pos < len(buf) and buf[pos] not in self.addresses:
            pos += 1
        return pos

    def _drain(self, final: bool) -> list[ModbusFrame]:
        buf = self._buffer
        frames: list[ModbusFrame] = []
        pos = 0
        while True:
            start = self._next_start(pos)
            self.skipped_bytes += start - pos
            pos = start
            if pos >= len(buf):
                break
            length = self._judge(pos, final)
            if length == 0:
                break  # wait for more bytes
            if length < 0:
                self.skipped_bytes += 1
                pos += 1
                continue
            frames.append(ModbusFrame(buf[pos], buf[pos + 1], bytes(buf[pos + 2 : pos + length - CRC_LEN])))
            pos += length
        del buf[:pos]
        return frames

    def _judge(self, pos: int, final: bool) -> int:
        """The accepted frame's length, 0 to wait for more bytes, -1 to reject the candidate."""
        try:
            length = frame_length(self._buffer, self.role, pos)
        except DalyProtocolError:
            return -1
        if length is None or len(self._buffer) - pos < length:
            return -1 if final else 0
        return length if has_valid_crc(self._buffer[pos : pos + length]) else -1
