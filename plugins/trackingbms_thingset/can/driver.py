"""The ``thingset_can`` driver: listens to a node's CAN reports; ISO-TP requests for the rest and for writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import can

from hub.reading import Reading, utc_now
from hub.specs import BatteryConfig, ControlUnsupportedError, DataError, DriverContext, LinkError
from trackingbms_thingset.binary import BinaryReport, decode_binary, encode_request
from trackingbms_thingset.can.ids import CanKind, ParsedId, legacy_reqresp_id, parse_id, reqresp_id
from trackingbms_thingset.can.isotp import IsoTpChannel
from trackingbms_thingset.can.link import BusConfig, CanLink
from trackingbms_thingset.can.reports import MultiFrameAssembler, decode_single
from trackingbms_thingset.client import BinaryClient
from trackingbms_thingset.control import ACTIONS, run_control
from trackingbms_thingset.eras import era_for_can_reports, get_era
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.objects import CanReports, Era, Kind
from trackingbms_thingset.status import Function
from trackingbms_thingset.values import build_reading, measures_from_ids

__all__ = ["ThingSetCanDriver", "ThingSetCanOptions"]

_LOGGER = logging.getLogger(__name__)
_SERIAL_INTERFACES = frozenset({"slcan", "serial", "robotell", "seeedstudio"})
_REPORT_KINDS = {
    CanKind.MULTI_FRAME_REPORT: CanReports.MULTI_FRAME,
    CanKind.SINGLE_FRAME_REPORT: CanReports.SINGLE_FRAME,
    CanKind.LEGACY_REPORT: CanReports.LEGACY,
}


@dataclass(frozen=True, slots=True)
class ThingSetCanOptions:
    """Validated options of a ``thingset_can`` battery."""

    channel: str
    interface: str = "socketcan"
    bitrate: int | None = None  # None: 500 kbit/s, or 250 kbit/s with era 2021-05
    node: int | None = None  # None: the first node heard
    client_address: int = 0x00
    era: str = "auto"
    timeout: float = 1.0
    retries: int = 2
    report_max_age: float = 3.0
    cells: int | None = None
    rated_capacity_ah: float | None = None
    request_cells: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, options: Mapping[str, Any], data_dir: Path) -> ThingSetCanOptions:
        """From a battery entry (``node: auto`` becomes None)."""
        values = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        if values.get("node") == "auto":
            values["node"] = None
        channel = str(values.pop("channel"))
        interface = str(values.get("interface", "socketcan"))
        if interface in _SERIAL_INTERFACES and "://" not in channel and not Path(channel).is_absolute():
            channel = str(data_dir / channel)
        return cls(channel=channel, **values)


@dataclass(slots=True)
class _Node:
    """What one node has published: ID -> (loop time, value), and how."""

    reports: CanReports
    values: dict[int, tuple[float, Any]] = field(default_factory=dict)
    last: float = 0.0
    # Single-frame and legacy reports send one object per frame: a reading built before the
    # node's first full round would miss objects (seen under CI load: a reading without current).
    # A round is complete once an object comes again; a multi-frame report is whole on arrival.
    round_seen: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, now: float, values: Mapping[int, Any], whole: bool) -> None:
        """Store the values of one report; note when a full round of reports has been seen."""
        if whole or any(object_id in self.values for object_id in values):
            self.round_seen.set()
        self.values.update({object_id: (now, value) for object_id, value in values.items()})
        self.last = now


class ThingSetCanDriver:
    """One BMS node on a CAN bus; other nodes' frames are ignored."""

    supported_controls = ACTIONS

    def __init__(self, config: BatteryConfig, context: DriverContext) -> None:
        self.config = config
        self.options = ThingSetCanOptions.from_config(config.options, context.data_dir)
        self.fixed_era: Era | None = None if self.options.era == "auto" else get_era(str(self.options.era))
        self.node: int | None = self.options.node
        self.nodes: dict[int, _Node] = {}
        self.assembler = MultiFrameAssembler()
        self.rated_capacity_ah = self.options.rated_capacity_ah
        self._capacity_asked = self.rated_capacity_ah is not None
        bitrate = self.options.bitrate or (self.fixed_era.can_bitrate if self.fixed_era else 500_000)
        bus = BusConfig(self.options.interface, self.options.channel, bitrate, self.options.options)
        self._can = CanLink(bus, self._on_message)
        self._channel: IsoTpChannel | None = None
        self._channel_key: tuple[int, bool] | None = None
        self._lock = asyncio.Lock()
        self.ignored = 0

    @property
    def where(self) -> str:
        """Node and bus, for messages."""
        node = "auto" if self.node is None else str(self.node)
        return f"node {node} on {self.options.interface} {self.options.channel}"

    async def connect(self) -> None:
        """Open the bus; LinkError when python-can cannot."""
        if self._can.error is not None:
            await self._can.close()
        await self._can.open()

    async def close(self) -> None:
        """Close the bus; never raises."""
        await self._can.close()

    def _on_message(self, msg: can.Message) -> None:
        if not msg.is_extended_id or msg.is_remote_frame or msg.is_error_frame:
            self.ignored += 1
            return
        parts = parse_id(msg.arbitration_id)
        data = bytes(msg.data)
        try:
            if parts.kind in _REPORT_KINDS:
                self._on_report(parts, msg.arbitration_id, data)
            elif parts.kind in (CanKind.REQUEST_RESPONSE, CanKind.LEGACY_REQUEST_RESPONSE):
                self._on_response(parts, data)
            else:
                self.ignored += 1
        except ThingSetError as err:
            self.ignored += 1
            _LOGGER.debug("%s: ignored frame 0x%08X: %s", self.where, msg.arbitration_id, err)

    def _on_report(self, parts: ParsedId, can_id: int, data: bytes) -> None:
        kind = _REPORT_KINDS[parts.kind]
        if self.node is not None and parts.source != self.node:
            return
        now = asyncio.get_running_loop().time()
        if kind is CanReports.MULTI_FRAME:
            complete = self.assembler.feed_parsed(parts, data)
            if complete is None:
                return
            report = decode_binary(complete[1])
            if not isinstance(report, BinaryReport) or not isinstance(report.payload, dict):
                raise ThingSetError("multi-frame message is not a report with IDs")
            values = {k: v for k, v in report.payload.items() if isinstance(k, int)}
        else:
            single = decode_single(can_id, data)
            values = {single.data_id: single.value}
        node = self.nodes.setdefault(parts.source, _Node(kind))
        node.reports = kind
        node.record(now, values, whole=kind is CanReports.MULTI_FRAME)

    def _on_response(self, parts: ParsedId, data: bytes) -> None:
        legacy = parts.kind is CanKind.LEGACY_REQUEST_RESPONSE
        if parts.target == self.options.client_address and self._channel_key == (parts.source, legacy):
            assert self._channel is not None
            self._channel.on_frame(data)

    def _choose_node(self) -> int:
        if self.node is not None:
            return self.node
        if not self.nodes:
            raise LinkError(f"no ThingSet reports on {self.where}")
        # The node that published the most objects: a stray frame of another device that happens
        # to parse as a single-frame report must not win (addresses are claimed dynamically, §2.6).
        self.node = max(sorted(self.nodes), key=lambda n: len(self.nodes[n].values))
        if len(self.nodes) > 1:
            _LOGGER.warning("%s: several nodes report (%s); reading %d", self.config.id, sorted(self.nodes), self.node)
        return self.node

    def era_of(self, node: _Node) -> Era:
        """The configured era, or the one the kind of reports implies (0x1D / 0x1E / 0x1F, §2.6)."""
        return self.fixed_era or era_for_can_reports(node.reports)

    async def poll(self) -> Reading:
        """A reading from the node's fresh report values (and an ISO-TP request for missing cells)."""
        if not self._can.is_open:
            await self.connect()
        number = self._choose_node()
        node = self.nodes.get(number)
        now = asyncio.get_running_loop().time()
        if node is None or now - node.last > self.options.report_max_age:
            raise LinkError(f"no fresh reports from {self.where}")
        await self._await_full_round(node)
        now = asyncio.get_running_loop().time()
        era = self.era_of(node)
        values = {k: v for k, (at, v) in node.values.items() if now - at <= self.options.report_max_age}
        await self._complete(era, values)
        try:
            return build_reading(
                self.config.id, measures_from_ids(era, values), self.options.cells, self.rated_capacity_ah, utc_now()
            )
        except ThingSetError as err:
            raise DataError(f"{self.where}: {err}") from err

    async def _await_full_round(self, node: _Node) -> None:
        """Wait (at most report_max_age) until every object of the node's reports was seen once."""
        try:
            await asyncio.wait_for(node.round_seen.wait(), self.options.report_max_age)
        except TimeoutError as err:
            raise LinkError(f"no full round of reports from {self.where} yet") from err

    async def _complete(self, era: Era, values: dict[int, Any]) -> None:
        """Cell voltages never fit one frame before 2024 (§2.6): ask for them; capacity once."""
        cells = era.by_kind(Kind.CELL_VOLTAGES)
        wanted = []
        if self.options.request_cells and cells is not None and cells.id not in values:
            wanted.append(cells)
        capacity = era.by_kind(Kind.NOMINAL_CAPACITY)
        if not self._capacity_asked and capacity is not None:
            self._capacity_asked = True
            wanted.append(capacity)
        for item in wanted:
            try:
                value = await BinaryClient(self.request, era).read_item(item)
            except (LinkError, ThingSetError) as err:
                _LOGGER.debug("%s: no %s: %s", self.where, item.name, err)
                continue
            if item is capacity:
                if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                    self.rated_capacity_ah = float(value)
            else:
                values[item.id] = value

    def _channel_for(self, node: int, legacy: bool) -> IsoTpChannel:
        if self._channel is None or self._channel_key != (node, legacy):
            make = legacy_reqresp_id if legacy else reqresp_id
            tx_id = make(node, self.options.client_address)

            async def write(data: bytes) -> None:
                await self._can.send([(tx_id, data)])

            self._channel = IsoTpChannel(write)
            self._channel_key = (node, legacy)
        return self._channel

    async def request(self, message: bytes) -> bytes:
        """One ISO-TP request to the node and its response; LinkError after every retry timed out."""
        return await self._request(message, self.options.retries)

    async def request_once(self, message: bytes) -> bytes:
        """As request, without retries (xReset must not run twice)."""
        return await self._request(message, 0)

    async def _request(self, message: bytes, retries: int) -> bytes:
        number = self._choose_node()
        node = self.nodes.get(number)
        era = self.era_of(node) if node is not None else (self.fixed_era or era_for_can_reports(CanReports.MULTI_FRAME))
        # 2021 .. 2022-09 firmware used 0x1ADA<target><source> for requests (§2.6).
        channel = self._channel_for(number, era.can_reports is CanReports.LEGACY)
        async with self._lock:
            for attempt in range(retries + 1):
                channel.discard()
                try:
                    await channel.send(message)
                    return await channel.receive(self.options.timeout)
                except TimeoutError:
                    _LOGGER.debug("%s: no answer to %s (try %d)", self.where, message.hex(), attempt + 1)
        raise LinkError(f"no answer from {self.where} after {retries + 1} tries")

    def _control_era(self) -> Era:
        node = self.nodes.get(self._choose_node())
        if node is not None:
            return self.era_of(node)
        return self.fixed_era or era_for_can_reports(CanReports.MULTI_FRAME)

    async def read_config(self) -> dict[str, Any]:
        """The Conf group over ISO-TP: name -> value (v23.0 on; a reading, so no control switch)."""
        if not self._can.is_open:
            await self.connect()
        era = self._control_era()
        if "Conf" not in era.group_ids:
            raise ControlUnsupportedError(f"firmware era {era.key} has no Conf group")
        return await BinaryClient(self.request, era, self.request_once).read_group("Conf")

    async def control(self, action: str, value: Any) -> dict[str, Any]:
        """Write and confirm one control action over ISO-TP (binary mode)."""
        if not self._can.is_open:
            await self.connect()
        era = self._control_era()
        client = BinaryClient(self.request, era, self.request_once)

        async def alive() -> None:
            await self.request(encode_request(Function.GET, era.group_ids.get(era.meas_group, 0)))

        return await run_control(client, era, action, value, alive)
