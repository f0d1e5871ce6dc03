"""A Daly Modbus master: one request and its answer per exchange on a shared port, with retries (daly.md §3)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from hub.specs import LinkError
from hub.transport.link import ByteLink
from hub.transport.shared import SharedPort
from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus.framing import (
    READ,
    WRITE_MULTIPLE,
    WRITE_SINGLE,
    ModbusFrame,
    ModbusFramer,
    build_read_request,
    build_write_multiple,
    build_write_single,
)
from trackingbms_daly.modbus.registers import registers_from

__all__ = ["QUIET_GAP", "DalyModbusMaster", "GarbledAnswerError", "ModbusExceptionError"]

_LOGGER = logging.getLogger(__name__)
# Silence this long after some bytes ends an answer, so a cut-off frame is decided early.
QUIET_GAP = 0.1
_Match = Callable[[ModbusFrame], bool]


class ModbusExceptionError(DalyProtocolError):
    """The device answered with an exception frame (illegal function, address or value)."""

    def __init__(self, function: int, code: int) -> None:
        super().__init__(f"exception {code} to function 0x{function:02X}")
        self.function = function
        self.code = code


class GarbledAnswerError(DalyProtocolError):
    """Bytes came back on every try, but never a frame with a good CRC that answers the request."""


class DalyModbusMaster:
    """Talks to one board: requests carry ``request_address``, answers come from ``answer_address``.

    Standard Modbus stacks reject the 0x81 family's answers from 0x50 + board (patagonaa,
    daly.md §3.3) and Daly's 0x10 layout (§3.1), hence this small master. Every exchange
    holds the shared port, drops stale input first (late answers to earlier requests) and
    accepts only the frame that answers this request; other frames (our own echo on adapters
    without echo suppression, other boards) are skipped.
    """

    def __init__(
        self, port: SharedPort, request_address: int, answer_address: int, timeout: float = 0.5, retries: int = 2
    ) -> None:
        self.port = port
        self.request_address = request_address
        self.answer_address = answer_address
        self.timeout = timeout
        self.retries = retries
        self.framer = ModbusFramer({answer_address})
        self.exchanges = 0

    async def read(self, start: int, count: int, retries: int | None = None) -> dict[int, int]:
        """Read ``count`` registers from ``start``: address -> raw word."""
        request = build_read_request(self.request_address, start, count)

        def match(frame: ModbusFrame) -> bool:
            return frame.function == READ and len(frame.registers()) == count

        frame, _ = await self._transact(request, match, f"read 0x{start:04X}x{count}", retries)
        return registers_from(start, frame.registers())

    async def write(self, register: int, value: int, retries: int | None = None) -> int:
        """Write one register and wait for its exact echo; returns the number of tries used.

        A bad-CRC echo is dropped by the framer and the write is sent again: Daly BLE
        modules do send them (btsnoop: D2 06 00 CF 00 01 1C 8A, daly.md §3.4).
        """
        request = build_write_single(self.request_address, register, value)
        expected = build_write_single(self.answer_address, register, value)

        def match(frame: ModbusFrame) -> bool:
            return frame.function == WRITE_SINGLE and frame.raw == expected

        _, tries = await self._transact(request, match, f"write 0x{register:04X}={value}", retries)
        return tries

    async def write_many(self, start: int, values: Sequence[int], retries: int | None = None) -> int:
        """Daly 0x10 write (no byte count); the short answer names the start register."""
        request = build_write_multiple(self.request_address, start, values)

        def match(frame: ModbusFrame) -> bool:
            # The count word is not checked: a 0x81 board answered a 0x10 probe with 0xAAAA there.
            return frame.function == WRITE_MULTIPLE and frame.register == start

        _, tries = await self._transact(request, match, f"write 0x{start:04X}x{len(values)}", retries)
        return tries

    async def _transact(self, request: bytes, match: _Match, what: str, retries: int | None) -> tuple[ModbusFrame, int]:
        tries = (self.retries if retries is None else retries) + 1
        skipped_before = self.framer.skipped_bytes
        for attempt in range(1, tries + 1):
            frame = await self._attempt(request, match)
            if frame is not None and frame.is_exception:
                raise ModbusExceptionError(request[1], frame.exception_code)
            if frame is not None:
                return frame, attempt
            _LOGGER.debug("No answer to %s from 0x%02X (try %d)", what, self.answer_address, attempt)
        if self.framer.skipped_bytes > skipped_before:
            raise GarbledAnswerError(f"only garbled answers to {what} after {tries} tries")
        raise LinkError(f"no answer to {what} from 0x{self.answer_address:02X} after {tries} tries")

    async def _attempt(self, request: bytes, match: _Match) -> ModbusFrame | None:
        async with self.port.exchange() as link:
            link.discard_input()
            self.framer.reset()
            link.write(request)
            self.exchanges += 1
            return await self._collect(link, request[1], match)

    async def _collect(self, link: ByteLink, function: int, match: _Match) -> ModbusFrame | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while (remaining := deadline - loop.time()) > 0:
            chunk = await link.read(min(remaining, QUIET_GAP) if self.framer.pending else remaining)
            # A quiet line decides a waiting candidate (a truncated answer) without the full timeout.
            for frame in self.framer.feed(chunk) if chunk else self.framer.flush():
                if match(frame) or (frame.is_exception and frame.function & 0x7F == function):
                    return frame
        for frame in self.framer.flush():
            if match(frame):
                return frame
        return None
