"""The ``thingset`` simulator: a Libre Solar BMS on a pseudo-terminal, reporting and answering in text mode."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

from hub.faults import Fault, FaultInjector
from hub.transport.pty import PtyEndpoint
from trackingbms_thingset.device import ThingSetDevice
from trackingbms_thingset.device_text import TextService
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.framing import THINGSET_STARTS, CrcState, LineFramer, decode_line, encode_line

__all__ = ["DEVICE_RX_BUFFER", "ThingSetSimulator"]

_LOGGER = logging.getLogger(__name__)
DEVICE_RX_BUFFER = 512  # CONFIG_THINGSET_SERIAL_RX_BUF_SIZE (legacy.md §2.5)
BAUDRATE = 115200
# What Zephyr prints on the same UART (bms-firmware #29): the driver must skip it.
_LOG_LINE = b"E: BMS hardware initialization failed, retrying in 10s\r\n"


class ThingSetSimulator:
    """One simulated BMS on a pty: periodic ``#mLive`` reports, answers to requests, and faults.

    Faults apply to every line the device sends: ``asleep`` (silence), ``bad_checksum`` (a wrong
    CRC, or a corrupt message when the era sends none), ``truncated`` (the line is cut before its
    end, so it runs into the next one), ``garbage`` (a junk line and a log line first), ``late``.
    """

    def __init__(
        self,
        link: Path,
        device: ThingSetDevice,
        crc: bool | None = None,
        status_text: bool | None = None,
        enforce_crc: bool = False,
        pace: bool = False,
        seed: int | None = None,
    ) -> None:
        self.link = str(link)
        self.device = device
        self.text = TextService(device, status_text)
        self.crc = device.era.crc if crc is None else crc
        # Devices of the 2023 SDK end lines with CR LF; older firmware printed a bare LF (§2.5).
        self.line_end = b"\r\n" if device.era.key in ("2023", "2024") else b"\n"
        self.enforce_crc = enforce_crc
        self.faults = FaultInjector(seed)
        self.requests = 0
        self.sent: list[bytes] = []  # the last lines sent (bounded), for tests and debugging
        self._rng = random.Random(seed)
        self._framer = LineFramer(DEVICE_RX_BUFFER, editing=True)
        self._pty = PtyEndpoint(link, self._on_data, baudrate=BAUDRATE if pace else None)
        self._line = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reporter: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the pty and start reporting."""
        await self._pty.open()
        self._reporter = asyncio.get_running_loop().create_task(self._report_loop())
        _LOGGER.info("ThingSet simulator (era %s) on %s", self.device.era.key, self.link)

    async def stop(self) -> None:
        """Stop reporting and answering; remove the link."""
        tasks = [*self._tasks, *([self._reporter] if self._reporter else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._reporter = None
        await self._pty.close()

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(self.device.report_period_ms / 1000)
            if self.device.reporting and not self.device.booting:
                self.emit(self.text.report())

    def _on_data(self, data: bytes) -> None:
        for line in self._framer.feed(data):
            if self.device.booting:
                continue
            try:
                message = decode_line(line.body)
            except ThingSetError:
                continue  # a wrong CRC is dropped silently, like other non-ThingSet input (§2.5)
            if self.enforce_crc and message.crc is CrcState.ABSENT:
                continue  # CONFIG_THINGSET_SERIAL_ENFORCE_CRC
            self.requests += 1
            answer = self.text.handle(message.text)
            if answer is not None:
                self.emit(answer)

    def emit(self, message: str) -> None:
        """Send one line, with the active faults applied."""
        if self.faults.use(Fault.ASLEEP):
            return
        data = encode_line(message, self.crc, self.line_end)
        if self.faults.use(Fault.BAD_CHECKSUM):
            data = self._corrupt(data)
        if self.faults.use(Fault.TRUNCATED):
            data = data[: max(1, len(data) * 2 // 3)]
        if self.faults.use(Fault.GARBAGE):
            data = self._junk_line() + _LOG_LINE + data
        delay = self.faults.late_delay if self.faults.use(Fault.LATE) else 0.0
        self.sent = [*self.sent[-20:], data]
        task = asyncio.get_running_loop().create_task(self._send(data, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _corrupt(self, data: bytes) -> bytes:
        body = bytearray(data.rstrip(b"\r\n"))
        if self.crc:
            index = len(body) - 2  # the CRC's last hex digit
            body[index] = ord("0") if body[index] != ord("0") else ord("1")
        else:
            body[-1] = 0x7F  # the message itself: a closing brace or a digit of the status
        return bytes(body) + self.line_end

    def _junk_line(self) -> bytes:
        size = self._rng.randint(5, 30)
        junk = bytes(self._rng.choice([b for b in range(256) if b not in (0x0A, 0x0D)]) for _ in range(size))
        if junk[0] in THINGSET_STARTS:
            junk = b"~" + junk
        return junk + b"\r\n"

    async def _send(self, data: bytes, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        async with self._line:  # one UART: lines never interleave
            await self._pty.write_paced(data)
