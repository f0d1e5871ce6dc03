"""An slcan (Lawicel ASCII) USB-CAN adapter emulated on a pseudo-terminal, for simulated CAN boards."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from hub.transport.pty import PtyEndpoint

__all__ = ["BITRATE_CODES", "SlcanEmulator"]

_LOGGER = logging.getLogger(__name__)
# Lawicel "Sn" bit rate codes, as CANUSB/CAN232 adapters and python-can's slcan interface use them.
BITRATE_CODES = {
    "0": 10_000,
    "1": 20_000,
    "2": 50_000,
    "3": 100_000,
    "4": 125_000,
    "5": 250_000,
    "6": 500_000,
    "7": 800_000,  # Lawicel's S7; python-can sends S7 for 750 kbit/s
    "8": 1_000_000,
    "9": 83_300,  # an extension python-can knows, not in the Lawicel document
}
OK = b"\r"
ERROR = b"\a"
_MAX_LINE = 64  # the longest command is an extended frame: 1 + 8 + 1 + 16 characters
FrameHandler = Callable[[int, bytes, bool], None]


class SlcanEmulator:
    """The adapter side of slcan: ASCII commands in, acknowledgements and received frames out.

    Supported commands: ``O`` open, ``L`` open listen-only, ``C`` close, ``Sn`` bit rate,
    ``sxxyy`` BTR registers, ``V``/``v`` version, ``N`` serial number, ``F`` status flags,
    ``Zn`` timestamps (acknowledged, never added), ``T``/``t`` extended/standard frames and
    ``R``/``r`` remote frames. Each is acknowledged with CR or refused with BEL, per the
    Lawicel rules: bit rate only while closed, frames only while open, no double open.
    A bare CR (hosts send a few to flush the adapter's buffer) is acknowledged.
    """

    def __init__(self, link: str | Path, on_frame: FrameHandler) -> None:
        self.on_frame = on_frame
        self.pty = PtyEndpoint(link, self._on_data)
        self.is_open = False
        self.listen_only = False
        self.bitrate: int | None = None
        self.commands: list[str] = []  # every command received, for tests and debugging
        self._buffer = bytearray()

    @property
    def link(self) -> str:
        """Where the pty is linked."""
        return str(self.pty.link)

    async def start(self) -> None:
        """Create the pty and its link."""
        await self.pty.open()
        _LOGGER.info("slcan adapter emulator on %s (%s)", self.link, self.pty.slave_name)

    async def stop(self) -> None:
        """Remove the pty."""
        await self.pty.close()

    def send_frame(self, can_id: int, data: bytes, extended: bool = True) -> bool:
        """Deliver a frame from the bus to the host; dropped while the channel is closed."""
        if not self.is_open or len(data) > 8:
            return False
        head = f"T{can_id:08X}" if extended else f"t{can_id:03X}"
        self.pty.write(f"{head}{len(data)}{data.hex().upper()}".encode("ascii") + OK)
        return True

    def _on_data(self, data: bytes) -> None:
        self._buffer += data
        while True:
            ends = [i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self.pty.write(self._command(line.decode("ascii", "replace").strip()))
        if len(self._buffer) > _MAX_LINE:  # no terminator in sight: junk, drop it
            self._buffer.clear()

    def _command(self, line: str) -> bytes:
        self.commands.append(line)
        if not line:
            return OK
        handler = {
            "O": self._open,
            "L": self._open,
            "C": self._close,
            "S": self._set_bitrate,
            "s": self._set_btr,
            "V": lambda _: b"V1013" + OK,
            "v": lambda _: b"vSTM32" + OK,
            "N": lambda _: b"NSIM1" + OK,
            "F": lambda _: b"F00" + OK,
            "Z": lambda _: OK,
            "T": self._transmit,
            "t": self._transmit,
            "R": self._transmit,
            "r": self._transmit,
        }.get(line[0])
        return ERROR if handler is None else handler(line)

    def _open(self, line: str) -> bytes:
        if self.is_open or line[1:]:
            return ERROR
        self.is_open, self.listen_only = True, line == "L"
        return OK

    def _close(self, line: str) -> bytes:
        if not self.is_open or line[1:]:
            return ERROR
        self.is_open = False
        return OK

    def _set_bitrate(self, line: str) -> bytes:
        if self.is_open or line[1:] not in BITRATE_CODES:
            return ERROR
        self.bitrate = BITRATE_CODES[line[1:]]
        return OK

    def _set_btr(self, line: str) -> bytes:
        if self.is_open or len(line) != 5:
            return ERROR
        try:
            int(line[1:], 16)
        except ValueError:
            return ERROR
        self.bitrate = None  # a custom rate: the emulated bus carries frames whatever it is
        return OK

    def _transmit(self, line: str) -> bytes:
        if not self.is_open or self.listen_only:
            return ERROR
        extended = line[0] in "TR"
        digits = 8 if extended else 3
        try:
            can_id = int(line[1 : 1 + digits], 16)
            dlc = int(line[1 + digits])
            payload = line[2 + digits :]
            remote = line[0] in "Rr"
            data = bytes(dlc) if remote else bytes.fromhex(payload)
        except (ValueError, IndexError):
            return ERROR
        if dlc > 8 or (not remote and len(data) != dlc) or (remote and payload):
            return ERROR
        if not remote:  # Daly boards answer data frames only
            self.on_frame(can_id, data, extended)
        return OK
