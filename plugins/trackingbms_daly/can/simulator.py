"""Simulated Daly boards on a CAN bus: python-can (e.g. ``virtual``) or an slcan adapter on a pty."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import can

from hub.faults import Fault, FaultInjector
from hub.simulation import PackModel
from trackingbms_daly.a5.device import DalyA5Device
from trackingbms_daly.a5.framing import DATA_LEN, A5Frame, build_frame
from trackingbms_daly.can.bus import BusConfig, CanLink
from trackingbms_daly.can.ids import BITRATE, MAX_ID, is_reply, is_request, parse_id, reply_id
from trackingbms_daly.can.slcan import SlcanEmulator
from trackingbms_daly.errors import DalyProtocolError

__all__ = ["SLCAN_PTY", "Burst", "CanBoard", "DalyCanBoards", "DalyCanSimulator", "create"]

_LOGGER = logging.getLogger(__name__)
SLCAN_PTY = "slcan-pty"  # the interface value that makes the simulator an slcan adapter on a pty
# The A5 device answers this host address whatever its board number; on CAN the board is
# addressed by the identifier instead, so each simulated board is an A5 device behind it.
_A5_HOST = 0x80
Frame = tuple[int, bytes]


@dataclass(slots=True)
class CanBoard:
    """One simulated board: its CAN address (0x01..0xFF) and the A5 logic that answers for it."""

    address: int
    device: DalyA5Device


@dataclass(frozen=True, slots=True)
class Burst:
    """Frames to put on the bus after a delay."""

    frames: tuple[Frame, ...]
    delay: float = 0.0


class DalyCanBoards:
    """Turns one CAN request into the answering board's frames, with CAN-level faults (no I/O)."""

    def __init__(self, boards: Sequence[CanBoard], seed: int | None = None) -> None:
        self.boards = {board.address: board for board in boards}
        self.faults = FaultInjector(seed)
        self._rng = random.Random(seed)
        first = boards[0].device
        # Configured behaviour, which the INVERTED_CURRENT / ALL_CELL_FRAMES faults flip or add to.
        self._base_invert = first.invert_current
        self._base_all_frames = first.all_cell_frames
        self.requests = 0

    def answer(self, can_id: int, data: bytes, extended: bool = True) -> Burst | None:
        """The frames a bus of Daly boards puts out for one received frame, or None."""
        if not extended or not is_request(can_id) or len(data) != DATA_LEN:
            return None  # requests are 29-bit, DLC 8 (daly.md §2.1); anything else is not for us
        parts = parse_id(can_id)
        board = self.boards.get(parts.destination)
        if board is None:
            return None
        self.requests += 1
        self._apply_device_faults(board.device)
        try:
            answers = board.device.handle(build_frame(_A5_HOST, parts.data_id, data))
        except DalyProtocolError as err:  # a value the pack model cannot encode
            _LOGGER.debug("board %d cannot answer 0x%02X: %s", board.address, parts.data_id, err)
            return None
        # The CAN payload is the 8 data bytes of each A5 answer frame, no header or checksum.
        frames = [(reply_id(parts.data_id, board.address, parts.source), A5Frame.parse(a).data) for a in answers]
        return self._apply_link_faults(frames)

    def _apply_device_faults(self, device: DalyA5Device) -> None:
        device.invert_current = self._base_invert != self.faults.use(Fault.INVERTED_CURRENT)
        device.all_cell_frames = self._base_all_frames or self.faults.use(Fault.ALL_CELL_FRAMES)
        device.junk_cells = self.faults.use(Fault.JUNK_CELLS)

    def _apply_link_faults(self, frames: list[Frame]) -> Burst | None:
        if not frames or self.faults.use(Fault.ASLEEP):
            return None  # asleep: a Daly board cannot be woken over CAN (daly.md §1.7)
        # CAN frames arrive whole or not at all: a frame with a CRC error is dropped by the
        # receiving controller, so a bad checksum loses the first frame, truncation the last.
        if self.faults.use(Fault.BAD_CHECKSUM):
            frames = frames[1:]
        if self.faults.use(Fault.TRUNCATED):
            frames = frames[:-1]
        if self.faults.use(Fault.GARBAGE):
            frames = [*self.garbage(3), *frames]
        delay = self.faults.late_delay if self.faults.use(Fault.LATE) else 0.0
        return Burst(tuple(frames), delay) if frames else None

    def garbage(self, count: int) -> list[Frame]:
        """Random unrelated 29-bit frames: never a Daly answer to any host."""
        out: list[Frame] = []
        while len(out) < count:
            can_id = self._rng.randint(0, MAX_ID)
            if is_reply(can_id, parse_id(can_id).destination):
                continue
            out.append((can_id, self._rng.randbytes(self._rng.randint(0, 8))))
        return out


class DalyCanSimulator:
    """Serves DalyCanBoards on a python-can bus, or behind an emulated slcan adapter on a pty."""

    def __init__(self, boards: DalyCanBoards, bus: BusConfig | None = None, slcan_link: Path | None = None) -> None:
        if (bus is None) == (slcan_link is None):
            raise ValueError("give a python-can bus or an slcan link, not both")
        self.boards = boards
        self.faults = boards.faults
        self._slcan = SlcanEmulator(slcan_link, self._on_frame) if slcan_link is not None else None
        self._bus = CanLink(bus, self._on_message) if bus is not None else None
        self.link = self._slcan.link if self._slcan is not None else bus.channel if bus is not None else ""
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def slcan(self) -> SlcanEmulator | None:
        """The emulated adapter (slcan-pty only)."""
        return self._slcan

    async def start(self) -> None:
        """Create the pty, or open the python-can bus."""
        if self._slcan is not None:
            await self._slcan.start()
        elif self._bus is not None:
            await self._bus.open()
        _LOGGER.info("Daly CAN simulator on %s, boards %s", self.link, sorted(self.boards.boards))

    async def stop(self) -> None:
        """Stop answering and release the bus or pty."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._slcan is not None:
            await self._slcan.stop()
        if self._bus is not None:
            await self._bus.close()

    def _on_message(self, msg: can.Message) -> None:
        if not msg.is_remote_frame and not msg.is_error_frame:
            self._on_frame(msg.arbitration_id, bytes(msg.data), msg.is_extended_id)

    def _on_frame(self, can_id: int, data: bytes, extended: bool) -> None:
        burst = self.boards.answer(can_id, data, extended)
        if burst is None:
            return
        if self._slcan is not None and not burst.delay:
            self._put_on_slcan(burst.frames)  # in order, at once: no task needed
            return
        task = asyncio.get_running_loop().create_task(self._send(burst))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, burst: Burst) -> None:
        if burst.delay:
            await asyncio.sleep(burst.delay)
        if self._slcan is not None:
            self._put_on_slcan(burst.frames)
        elif self._bus is not None:
            try:
                await self._bus.send(burst.frames)
            except Exception as err:  # the host may have gone; a simulator keeps serving
                _LOGGER.debug("CAN simulator send failed: %s", err)

    def _put_on_slcan(self, frames: Sequence[Frame]) -> None:
        assert self._slcan is not None
        for can_id, data in frames:
            self._slcan.send_frame(can_id, data, extended=True)


def _boards(options: Mapping[str, Any]) -> list[CanBoard]:
    seed = options.get("seed")
    boards = []
    for offset in range(options.get("boards", 1)):
        pack = PackModel(
            cells=options.get("cells", 16),
            temps=options.get("temps", 2),
            capacity_ah=options.get("capacity_ah", 100.0),
            soc=options.get("soc", 60.0),
            seed=None if seed is None else seed + offset,
        )
        device = DalyA5Device(
            pack,
            board=1,
            host_addresses=frozenset({_A5_HOST}),
            all_cell_frames=options.get("all_cell_frames", False),
            invert_current=options.get("invert_current", False),
        )
        boards.append(CanBoard(options.get("board", 1) + offset, device))
    return boards


def create(options: Mapping[str, Any], base_dir: Path) -> DalyCanSimulator:
    """Build from a validated ``simulators`` entry; relative slcan links are under base_dir."""
    boards = DalyCanBoards(_boards(options), options.get("seed"))
    if boards.boards and max(boards.boards) > 0xFF:
        raise ValueError("board + boards - 1 must stay within 0xFF")
    for fault in options.get("faults", []):
        boards.faults.inject(fault)
    interface = options.get("interface", "virtual")
    if interface == SLCAN_PTY:
        if not options.get("link"):
            raise ValueError(f"interface {SLCAN_PTY} needs a link path")
        link = Path(options["link"])
        return DalyCanSimulator(boards, slcan_link=link if link.is_absolute() else base_dir / link)
    if not options.get("channel"):
        raise ValueError(f"interface {interface} needs a channel")
    bus = BusConfig(interface, options["channel"], options.get("bitrate", BITRATE), options.get("options") or {})
    return DalyCanSimulator(boards, bus=bus)
