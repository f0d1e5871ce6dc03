"""Minimal ISO-TP (ISO 15765-2) on classic CAN, as ThingSet requests and responses use it (legacy.md §2.6).

Single frames, first + consecutive frames and flow control; one identifier pair per channel
(the SDK's custom addressing: the CAN ID carries target and source). No extended addressing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from trackingbms_thingset.errors import ThingSetError

__all__ = ["FlowControl", "IsoTpChannel", "IsoTpReceiver", "flow_control", "segment"]

MAX_MESSAGE = 4095  # the 12-bit length of a classic first frame
_SF, _FF, _CF, _FC = 0x0, 0x1, 0x2, 0x3
_CTS, _WAIT, _OVERFLOW = 0, 1, 2
FC_TIMEOUT = 1.0  # N_Bs: how long a sender waits for flow control
Writer = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FlowControl:
    """A flow-control frame: clear to send / wait / overflow, block size, separation time (s)."""

    flag: int
    block_size: int
    st_min: float

    @classmethod
    def parse(cls, data: bytes) -> FlowControl:
        """Decode ``3f bs st``; raises ThingSetError."""
        if len(data) < 3 or data[0] >> 4 != _FC or data[0] & 0xF > _OVERFLOW:
            raise ThingSetError(f"not a flow-control frame: {data.hex()}")
        st = data[2]
        # STmin: 0x00-0x7F milliseconds, 0xF1-0xF9 100-900 microseconds, the rest reserved (= 127 ms).
        st_min = st / 1000 if st <= 0x7F else (st - 0xF0) / 10000 if 0xF1 <= st <= 0xF9 else 0.127
        return cls(data[0] & 0xF, data[1], st_min)


def flow_control(block_size: int = 0, st_min_ms: int = 0, flag: int = _CTS) -> bytes:
    """``30 bs st``: the SDK's receiver answers with block size 8 and STmin 1 ms (§2.6)."""
    return bytes([_FC << 4 | flag, block_size, st_min_ms])


def segment(message: bytes) -> list[bytes]:
    """A single frame, or a first frame followed by consecutive frames (sequence from 1, wrapping)."""
    if not message or len(message) > MAX_MESSAGE:
        raise ThingSetError(f"ISO-TP carries 1..{MAX_MESSAGE} bytes, not {len(message)}")
    if len(message) <= 7:
        return [bytes([_SF << 4 | len(message)]) + message]
    frames = [bytes([_FF << 4 | len(message) >> 8, len(message) & 0xFF]) + message[:6]]
    for number, start in enumerate(range(6, len(message), 7), start=1):
        frames.append(bytes([_CF << 4 | number & 0xF]) + message[start : start + 7])
    return frames


class IsoTpReceiver:
    """Reassembles one direction; tells the caller when to send flow control.

    With a block size, the sender waits for flow control after every ``block_size`` frames.
    """

    def __init__(self, block_size: int = 0) -> None:
        self.block_size = block_size
        self._buffer = bytearray()
        self._expected = 0
        self._next = 0
        self._in_block = 0

    def feed(self, data: bytes) -> tuple[bytes | None, bool]:
        """(complete message or None, whether a flow-control frame is due); raises ThingSetError."""
        if not data:
            raise ThingSetError("empty ISO-TP frame")
        pci = data[0] >> 4
        if pci == _SF:
            size = data[0] & 0xF
            if not 1 <= size <= len(data) - 1:
                raise ThingSetError(f"single frame announces {size} bytes in {len(data) - 1}")
            self._expected = 0
            return bytes(data[1 : 1 + size]), False
        if pci == _FF:
            if len(data) < 8:
                raise ThingSetError("first frame shorter than 8 bytes")
            self._expected = (data[0] & 0xF) << 8 | data[1]
            if self._expected <= 7:
                raise ThingSetError(f"first frame announces only {self._expected} bytes")
            self._buffer = bytearray(data[2:8])
            self._next = 1
            self._in_block = 0
            return None, True
        if pci == _CF:
            message = self._consecutive(data)
            self._in_block += 1
            block_done = bool(self.block_size) and self._in_block == self.block_size
            if block_done:
                self._in_block = 0
            return message, block_done and message is None
        if pci == _FC:
            return None, False  # flow control belongs to the sender side of the channel
        raise ThingSetError(f"unknown ISO-TP frame type {pci}")

    def _consecutive(self, data: bytes) -> bytes | None:
        if not self._expected:
            raise ThingSetError("consecutive frame without a first frame")
        if data[0] & 0xF != self._next:
            self._expected = 0
            raise ThingSetError(f"consecutive frame {data[0] & 0xF} where {self._next} was due")
        self._buffer += data[1:]
        self._next = (self._next + 1) & 0xF
        if len(self._buffer) >= self._expected:
            message = bytes(self._buffer[: self._expected])
            self._expected = 0
            return message
        return None


class IsoTpChannel:
    """Both directions of one (tx ID, rx ID) pair: ``send``/``receive`` while frames arrive via ``on_frame``."""

    def __init__(self, write: Writer, block_size: int = 0, st_min_ms: int = 0) -> None:
        self._write = write
        self._block_size = block_size
        self._st_min_ms = st_min_ms
        self._receiver = IsoTpReceiver(block_size)
        self._messages: asyncio.Queue[bytes] = asyncio.Queue()
        self._flow: asyncio.Queue[FlowControl] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors = 0

    def on_frame(self, data: bytes) -> None:
        """Feed one received frame (runs on the event loop)."""
        if data and data[0] >> 4 == _FC:
            with contextlib.suppress(ThingSetError):
                self._flow.put_nowait(FlowControl.parse(data))
            return
        try:
            message, send_flow = self._receiver.feed(data)
        except ThingSetError:
            self.errors += 1
            return
        if send_flow:
            task = asyncio.get_running_loop().create_task(self._send_flow())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if message is not None:
            self._messages.put_nowait(message)

    async def _send_flow(self) -> None:
        await self._write(flow_control(self._block_size, self._st_min_ms))

    async def receive(self, timeout: float) -> bytes:  # noqa: ASYNC109 - a timed receive is the point
        """The next complete message; TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            return await self._messages.get()

    def discard(self) -> None:
        """Drop messages nobody waited for (late answers to an earlier request)."""
        while not self._messages.empty():
            self._messages.get_nowait()

    async def send(self, message: bytes) -> None:
        """Send one message, honouring the receiver's flow control; raises ThingSetError or TimeoutError."""
        frames = segment(message)
        while not self._flow.empty():
            self._flow.get_nowait()  # flow control left over from an aborted transfer
        await self._write(frames[0])
        pending = frames[1:]
        while pending:
            async with asyncio.timeout(FC_TIMEOUT):
                control = await self._flow.get()
            if control.flag == _WAIT:
                continue
            if control.flag == _OVERFLOW:
                raise ThingSetError("the receiver cannot take a message this long")
            block = pending if control.block_size == 0 else pending[: control.block_size]
            pending = pending[len(block) :]
            for index, frame in enumerate(block):
                if index and control.st_min:
                    await asyncio.sleep(control.st_min)
                await self._write(frame)
