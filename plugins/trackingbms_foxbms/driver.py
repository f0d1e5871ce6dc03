"""The foxBMS driver: listens to the broadcast CAN traffic and hands out the newest complete reading."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import can

from hub.reading import Reading
from hub.specs import BatteryConfig, DataError, DriverContext, LinkError
from trackingbms_foxbms.assembly import PackAssembler
from trackingbms_foxbms.bus import CanLink, Frame
from trackingbms_foxbms.codec import decode_frame, encode_frame
from trackingbms_foxbms.config import FoxbmsOptions
from trackingbms_foxbms.dbc import BUNDLED, FoxbmsDbc, Layout, LayoutDetector, load_dbc
from trackingbms_foxbms.errors import FoxbmsProtocolError
from trackingbms_foxbms.tables import REQUEST_MODES, REQUEST_SIGNALS

__all__ = ["FoxbmsDriver"]

_LOGGER = logging.getLogger(__name__)
# f_BmsStateRequest must arrive every 95-105 ms or foxBMS raises a fatal CAN timing error
# (CAN_CheckCanTiming in can.c, BS_CHECK_CAN_TIMING; legacy.md §1.6).
REQUEST_PERIOD = 0.1


class FoxbmsDriver:
    """Reads one foxBMS 2 master on a CAN bus. Listen only unless ``send_state_request`` is set."""

    def __init__(self, config: BatteryConfig, context: DriverContext) -> None:
        self.config = config
        self.options = FoxbmsOptions.from_config(config.options, context.data_dir)
        self.link = CanLink(self.options.bus, self._on_message)
        self.dbc: FoxbmsDbc | None = None
        self.assembler: PackAssembler | None = None
        self._candidates: dict[Layout, FoxbmsDbc] = {}
        self._detector = LayoutDetector()
        self.latest: Reading | None = None
        self.extra: dict[str, float | str] = {}  # pack values the Reading has no field for
        self.strings: dict[int, dict[str, float]] = {}  # per-string values by string index
        self.frames = 0  # every frame received
        self.undecodable = 0  # frames the DBC cannot decode (other nodes, wrong layout, bad DLC)
        self.last_error: str | None = None
        self.bad_data: str | None = None  # the last complete set that held impossible values
        self._bad_serial = 0
        self._bad_returned = 0
        self._last_frame_at: float | None = None
        self._serial = 0
        self._returned = 0
        self._new = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None

    @property
    def sent(self) -> int:
        """Frames this driver put on the bus: 0 unless ``send_state_request`` is set."""
        return self.link.sent

    @property
    def where(self) -> str:
        """Interface and channel, for messages."""
        return f"foxBMS on {self.options.bus.interface} {self.options.bus.channel}"

    async def connect(self) -> None:
        """Load the DBC(s) in a worker thread, open the bus and start listening."""
        if not self._candidates and self.dbc is None:
            await self._load_dbcs()
        await self.link.open()
        if self.options.state_request is not None and self._sender is None:
            _LOGGER.warning("%s: sending the state request (0x210; v1.6: 0x230) every 100 ms", self.where)
            self._sender = asyncio.get_running_loop().create_task(self._send_requests())

    async def _load_dbcs(self) -> None:
        try:
            if self.options.dbc_path is not None:
                self._use(await asyncio.to_thread(load_dbc, self.options.dbc_path, self.options.layout))
            else:  # dbc_version auto: both bundled files, the traffic decides (LayoutDetector)
                for layout, path in BUNDLED.items():
                    self._candidates[layout] = await asyncio.to_thread(load_dbc, path, layout)
        except FoxbmsProtocolError as err:
            raise LinkError(f"{self.where}: {err}") from err

    def _use(self, dbc: FoxbmsDbc) -> None:
        self.dbc = dbc
        self.assembler = PackAssembler(dbc, self.options.settings(dbc.layout))
        _LOGGER.info("%s: decoding with the %s DBC", self.where, dbc.label)

    async def close(self) -> None:
        """Stop sending and listening; never raises."""
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        await self.link.close()

    def _on_message(self, msg: can.Message) -> None:
        """Called on the event loop for every frame on the bus."""
        if msg.is_error_frame or msg.is_remote_frame:
            return
        self.frames += 1
        self._last_frame_at = asyncio.get_running_loop().time()
        if self.dbc is None:
            layout = self._detector.feed([msg.arbitration_id])
            if layout is None:
                return
            self._use(self._candidates[layout])
        assert self.dbc is not None and self.assembler is not None
        try:
            frame = decode_frame(self.dbc, msg.arbitration_id, bytes(msg.data), msg.is_extended_id)
        except FoxbmsProtocolError as err:
            self.undecodable += 1
            self.last_error = str(err)
            return
        self.assembler.add(frame)
        if self.assembler.ready():
            try:
                reading = self.assembler.build(self.config.id)
            except FoxbmsProtocolError as err:
                self.bad_data = f"{self.where}: {err}"
                self._bad_serial += 1
                self._new.set()
                return
            self._publish(reading)

    def details(self) -> dict[str, Any]:
        """What the Reading has no field for, JSON-ready: pack extras and per-string values.

        ``strings`` maps the string index (as text, for JSON) to that string's values by canonical
        name (tables.STRING_FIELDS); both belong to the newest reading ``poll`` assembled.
        """
        return {
            "layout": None if self.dbc is None else self.dbc.label,
            "pack": dict(self.extra),
            "strings": {str(index): dict(values) for index, values in sorted(self.strings.items())},
            "frames": self.frames,
            "undecodable": self.undecodable,
            "last_error": self.last_error,
        }

    def _publish(self, reading: Reading) -> None:
        assert self.assembler is not None
        self.latest = reading
        self.extra = self.assembler.extras()
        self.strings = self.assembler.string_values()
        self._serial += 1
        self._new.set()

    async def poll(self) -> Reading:
        """The newest complete reading not handed out yet, waiting up to ``timeout`` for one."""
        if not self.link.is_open:
            await self._reopen()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        while self._serial == self._returned and self._bad_serial == self._bad_returned and loop.time() < deadline:
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await self._new.wait()
            if self.link.error is not None:
                raise LinkError(f"{self.where}: {self.link.error}")
        if self._serial != self._returned and self.latest is not None:
            self._returned, self._bad_returned = self._serial, self._bad_serial
            return self.latest
        if self._bad_serial != self._bad_returned:
            self._bad_returned = self._bad_serial
            raise DataError(self.bad_data or f"{self.where}: bad data")
        return self._no_reading(loop.time())

    async def _reopen(self) -> None:
        await self.link.close()
        await self.connect()

    def _no_reading(self, now: float) -> Reading:
        timeout = self.options.timeout
        if self._last_frame_at is None or now - self._last_frame_at > timeout:
            raise LinkError(f"no CAN frame from {self.where} within {timeout:g} s")
        if self.dbc is None:
            raise DataError(f"{self.where}: {self.frames} frames, none from a known foxBMS layout (set dbc_version)")
        assert self.assembler is not None
        if self.options.partial:
            try:
                reading = self.assembler.build(self.config.id, partial=True)
            except FoxbmsProtocolError as err:
                raise DataError(f"{self.where}: {err}") from err
            self._publish(reading)
            self._returned = self._serial
            return reading
        detail = f"; {self.undecodable} undecodable frames, last: {self.last_error}" if self.undecodable else ""
        raise DataError(f"{self.where}: no complete reading within {timeout:g} s: {self.assembler.missing()}{detail}")

    def _request_frame(self) -> Frame | None:
        request = self.options.state_request
        if self.dbc is None or request is None:
            return None  # the request's identifier depends on the layout (0x210 or 0x230)
        mode, balancing, threshold = REQUEST_SIGNALS[self.dbc.layout]
        values = {mode: REQUEST_MODES[request.mode], balancing: int(request.balancing)}
        return encode_frame(self.dbc, "state_request", {**values, threshold: request.balancing_threshold})

    async def _send_requests(self) -> None:
        """Send 0x210 on a fixed 100 ms grid; a late cycle is skipped, never sent in a burst."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            frame = self._request_frame()
            if frame is not None and self.link.is_open:
                try:
                    await self.link.send([frame])
                except LinkError as err:
                    _LOGGER.debug("%s: state request not sent: %s", self.where, err)
            next_at += REQUEST_PERIOD
            if next_at < loop.time():
                next_at = loop.time()
            await asyncio.sleep(next_at - loop.time())
