"""Daly A5-over-CAN driver: all requests back to back, answers routed by ID, one Reading per poll."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.reading import Reading
from hub.specs import BatteryConfig, DataError, DriverContext, LinkError
from trackingbms_daly.a5 import codec
from trackingbms_daly.a5.framing import DATA_LEN
from trackingbms_daly.can.assembly import (
    OPTIONAL,
    POLLED,
    CurrentSign,
    ReplyCollector,
    build_reading,
    rated_capacity,
)
from trackingbms_daly.can.bus import BusConfig, SharedCanBus, registry_for
from trackingbms_daly.can.ids import BITRATE, request_id
from trackingbms_daly.errors import DalyProtocolError

__all__ = ["DalyCanDriver", "DalyCanOptions"]

_LOGGER = logging.getLogger(__name__)
# An optional id unanswered this many polls in a row is not asked for again (not every
# firmware has 0x97/0x98; 0x50 is medium confidence, daly.md §1.4), so it stops costing a timeout.
_GIVE_UP_AFTER = 3
# Interfaces whose channel is a serial device: a relative path is relative to the data directory.
_SERIAL_INTERFACES = frozenset({"slcan", "serial", "robotell", "seeedstudio"})


@dataclass(frozen=True, slots=True)
class DalyCanOptions:
    """The validated options of a ``daly_can`` battery (see trackingbms_daly.plugin)."""

    interface: str
    channel: str
    bitrate: int = BITRATE
    board: int = 1
    timeout: float = 0.5
    retries: int = 2
    current_sign: str = "auto"
    rated_capacity_ah: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, options: Mapping[str, Any], data_dir: Path) -> DalyCanOptions:
        """Build from a battery entry."""
        interface = str(options.get("interface", "socketcan"))
        channel = str(options["channel"])
        if interface in _SERIAL_INTERFACES and "://" not in channel and not Path(channel).is_absolute():
            channel = str(data_dir / channel)
        return cls(
            interface=interface,
            channel=channel,
            bitrate=int(options.get("bitrate", BITRATE)),
            board=int(options.get("board", 1)),
            timeout=float(options.get("timeout", 0.5)),
            retries=int(options.get("retries", 2)),
            current_sign=str(options.get("current_sign", "auto")),
            rated_capacity_ah=options.get("rated_capacity_ah"),
            options=dict(options.get("options") or {}),
        )

    @property
    def bus(self) -> BusConfig:
        """The shared-bus key and settings."""
        return BusConfig(self.interface, self.channel, self.bitrate, self.options)


class DalyCanDriver:
    """Reads one Daly board on a CAN bus that other boards may share."""

    def __init__(self, config: BatteryConfig, context: DriverContext) -> None:
        self.config = config
        self.context = context
        self.options = DalyCanOptions.from_config(config.options, context.data_dir)
        self.bus: SharedCanBus | None = None
        self.layout: codec.StatusInfo | None = None  # last good 0x94 (daly.md §1.5)
        self.sign = CurrentSign(self.options.current_sign)
        self.rated_capacity_ah = self.options.rated_capacity_ah
        self._ask_rated = self.rated_capacity_ah is None
        self._unanswered: dict[int, int] = {}

    @property
    def where(self) -> str:
        """Board and bus, for messages."""
        return f"board {self.options.board} on {self.options.interface} {self.options.channel}"

    async def connect(self) -> None:
        """Join (or open) the shared bus; LinkError when the interface cannot be opened."""
        if self.bus is None:
            self.bus = registry_for(self.context).acquire(self.options.bus)
        await self.bus.ensure_open()

    async def close(self) -> None:
        """Leave the shared bus (closed when its last battery goes)."""
        if self.bus is not None:
            self.bus = None
            try:
                await registry_for(self.context).release(self.options.bus)
            except Exception as err:  # close must not raise
                _LOGGER.debug("closing %s: %s", self.where, err)

    async def poll(self) -> Reading:
        """Ask for every status id at once and assemble the answers."""
        if self.bus is None:
            await self.connect()
        assert self.bus is not None
        await self.bus.ensure_open()
        collector = await self._collect(self._wanted())
        self.layout = collector.layout or self.layout
        try:
            return build_reading(self.config.id, collector, self.sign, self._rated(collector))
        except DalyProtocolError as err:
            raise DataError(f"{self.where}: {err}") from err

    def _wanted(self) -> list[int]:
        wanted = [i for i in POLLED if self._unanswered.get(i, 0) < _GIVE_UP_AFTER]
        return [*wanted, 0x50] if self._ask_rated else wanted

    def _rated(self, collector: ReplyCollector) -> float | None:
        if self._ask_rated:
            self._ask_rated = False  # asked once (mr-manuel sends 0x50 once, daly.md §2.1)
            self.rated_capacity_ah = rated_capacity(collector)
        return self.rated_capacity_ah

    async def _collect(self, wanted: Sequence[int]) -> ReplyCollector:
        """Send the requests, retry the unanswered ones, and judge what is still missing."""
        collector = ReplyCollector(self.layout)
        pending = list(wanted)
        for attempt in range(self.options.retries + 1):
            await self._exchange(collector, pending)
            pending = collector.missing(pending)
            # Optional ids are asked once per poll: their loss costs no further round trip.
            pending = [i for i in pending if i not in OPTIONAL]
            if not pending:
                break
            _LOGGER.debug("%s: no complete answer to %s (try %d)", self.where, _ids(pending), attempt + 1)
        self._count_unanswered(collector, wanted)
        if not collector.single and not any(collector.frames.values()):
            raise LinkError(f"no answer from {self.where} after {self.options.retries + 1} tries")
        silent = [i for i in pending if i not in collector.single and not collector.frames.get(i)]
        if silent:
            raise LinkError(f"{self.where}: no answer to {_ids(silent)}")
        return collector  # incomplete multi-frame answers fail in build_reading (DataError)

    def _count_unanswered(self, collector: ReplyCollector, wanted: Sequence[int]) -> None:
        if not collector.single:
            return  # a silent board says nothing about which ids it supports
        for data_id in wanted:
            if data_id in OPTIONAL and not collector.complete(data_id):
                self._unanswered[data_id] = self._unanswered.get(data_id, 0) + 1
            else:
                self._unanswered.pop(data_id, None)

    async def _exchange(self, collector: ReplyCollector, data_ids: Sequence[int]) -> None:
        """One round: subscribe, send every request back to back, wait until complete or timeout."""
        assert self.bus is not None
        done = asyncio.Event()

        def on_reply(data_id: int, payload: bytes) -> None:
            try:
                collector.add(data_id, payload)
            except DalyProtocolError as err:
                _LOGGER.debug("%s: ignored answer: %s", self.where, err)  # filler or corrupt frame
            if not collector.missing(data_ids):
                done.set()

        board = self.options.board
        with self.bus.subscribe(board, data_ids, on_reply):
            # Request data is 8 zero bytes, DLC always 8 (daly.md §2.1).
            await self.bus.send([(request_id(data_id, board), bytes(DATA_LEN)) for data_id in data_ids])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.timeout):
                    await done.wait()


def _ids(data_ids: Sequence[int]) -> str:
    return ", ".join(f"0x{i:02X}" for i in data_ids)
