"""The ``thingset_can`` simulator: a Libre Solar BMS on a python-can bus (e.g. ``virtual``), per era.

Main publishes ``mLive`` as a multi-frame report, 2022-10..2023 firmware one single-frame report
per item, 2021..2022-09 firmware ``0x1F..`` frames (legacy.md §2.6). Requests arrive over ISO-TP.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

import can

from hub.faults import Fault, FaultInjector
from trackingbms_thingset.can.ids import MAX_ID, CanKind, legacy_reqresp_id, parse_id, reqresp_id
from trackingbms_thingset.can.isotp import IsoTpChannel
from trackingbms_thingset.can.link import BusConfig, CanLink
from trackingbms_thingset.can.reports import split_report
from trackingbms_thingset.device import ThingSetDevice
from trackingbms_thingset.device_binary import BinaryService
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.objects import CanReports

__all__ = ["ThingSetCanSimulator"]

_LOGGER = logging.getLogger(__name__)
Frame = tuple[int, bytes]
# The SDK's ISO-TP receiver asks for blocks of 8 frames, 1 ms apart (legacy.md §2.6).
_BLOCK_SIZE, _ST_MIN_MS = 8, 1


class ThingSetCanSimulator:
    """Publishes the era's CAN reports every report period and answers ISO-TP requests."""

    def __init__(
        self, device: ThingSetDevice, bus: BusConfig, node: int | None = None, seed: int | None = None
    ) -> None:
        self.device = device
        self.node = device.era.can_node if node is None else node
        self.binary = BinaryService(device)
        self.faults = FaultInjector(seed)
        self.link = bus.channel
        self.requests = 0
        self.reports = 0
        self._rng = random.Random(seed)
        self._can = CanLink(bus, self._on_message)
        self._channels: dict[int, IsoTpChannel] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._msg_no = 0

    async def start(self) -> None:
        """Open the bus and start publishing."""
        await self._can.open()
        self._spawn(self._report_loop())
        _LOGGER.info("ThingSet CAN simulator (era %s, node %d) on %s", self.device.era.key, self.node, self.link)

    async def stop(self) -> None:
        """Stop publishing and answering; close the bus."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._can.close()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(self.device.report_period_ms / 1000)
            if self.device.reporting and not self.device.booting:
                await self._publish(self.report_frames())

    def report_frames(self) -> list[Frame]:
        """One report period's frames, without faults."""
        if self.device.era.can_reports is CanReports.MULTI_FRAME:
            frames = split_report(self.binary.report_message(), self.node, self._msg_no)
            self._msg_no = (self._msg_no + 1) & 0x3
            return frames
        return self.binary.single_frames(self.node)

    async def _publish(self, frames: list[Frame]) -> None:
        if self.faults.use(Fault.ASLEEP):
            return
        # A frame with a CRC error never reaches the receiver: a bad checksum loses a frame in the
        # middle (a sequence gap), truncation the last one.
        if self.faults.use(Fault.BAD_CHECKSUM) and frames:
            frames = frames[: len(frames) // 2] + frames[len(frames) // 2 + 1 :]
        if self.faults.use(Fault.TRUNCATED):
            frames = frames[:-1]
        if self.faults.use(Fault.GARBAGE):
            frames = self._garbage(3) + frames
        if self.faults.use(Fault.LATE):
            await asyncio.sleep(self.faults.late_delay)
        try:
            await self._can.send(frames)
            self.reports += 1
        except Exception as err:  # a simulator keeps serving whatever the bus did
            _LOGGER.debug("CAN simulator send failed: %s", err)

    def _garbage(self, count: int) -> list[Frame]:
        """Random frames of other nodes (never this node's source address)."""
        frames: list[Frame] = []
        while len(frames) < count:
            can_id = self._rng.randint(0, MAX_ID)
            if can_id & 0xFF != self.node:
                frames.append((can_id, self._rng.randbytes(self._rng.randint(0, 8))))
        return frames

    def _on_message(self, msg: can.Message) -> None:
        if not msg.is_extended_id or msg.is_remote_frame or msg.is_error_frame:
            return
        parts = parse_id(msg.arbitration_id)
        if parts.target != self.node:
            return
        if parts.kind is CanKind.REQUEST_RESPONSE:
            reply: Callable[[int, int], int] = reqresp_id
        elif parts.kind is CanKind.LEGACY_REQUEST_RESPONSE:
            reply = legacy_reqresp_id
        else:
            return
        channel = self._channels.get(parts.source)
        if channel is None:
            channel = self._channels[parts.source] = self._open_channel(reply(parts.source, self.node))
        channel.on_frame(bytes(msg.data))

    def _open_channel(self, tx_id: int) -> IsoTpChannel:
        async def write(data: bytes) -> None:
            if self.faults.active(Fault.ASLEEP) or self.device.booting:
                return
            await self._can.send([(tx_id, data)])

        channel = IsoTpChannel(write, _BLOCK_SIZE, _ST_MIN_MS)
        self._spawn(self._serve(channel))
        return channel

    async def _serve(self, channel: IsoTpChannel) -> None:
        while True:
            try:
                request = await channel.receive(3600.0)
            except TimeoutError:
                continue
            if self.device.booting or self.faults.use(Fault.ASLEEP):
                continue
            self.requests += 1
            answer = self.binary.handle(request)
            if answer is None:
                continue
            try:
                await channel.send(answer)
            except (ThingSetError, TimeoutError) as err:
                _LOGGER.debug("ISO-TP answer not delivered: %s", err)
            except Exception as err:  # the host went away
                _LOGGER.debug("ISO-TP send failed: %s", err)
