"""Green-BMS driver: page selection, keep-alive, settings and the cell sweep over the HC-05 serial link."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hub.capture import Capture
from hub.reading import BatteryState, Reading, Temperature, TemperatureKind
from hub.specs import BatteryConfig, DataError, DriverContext, LinkError
from hub.transport.link import ByteLink
from hub.transport.shared import SharedPort
from trackingbms_greenbms.alarms import cell_alarms, discharge_enabled
from trackingbms_greenbms.codec import NO_DATA_TEMPERATURE, PARAMETERS
from trackingbms_greenbms.framing import command
from trackingbms_greenbms.link import KeepAlive, MessageReader
from trackingbms_greenbms.messages import CellData, Cells, Heartbeat, Message, Overview, Parameters, SettingsEnd

__all__ = ["CELLS_PAGE", "MAX_CELLS", "OVERVIEW_PAGE", "SETTINGS_PAGE", "GreenBmsDriver", "GreenBmsOptions"]

_LOGGER = logging.getLogger(__name__)
# Pages the host selects with '#s<page>' (legacy.md §3.3).
NO_PAGE, OVERVIEW_PAGE, CELLS_PAGE, SETTINGS_PAGE = 0, 2, 3, 4
# The firmware holds cells in cell[41], index 0 unused (Control_Unit_2_1.ino).
MAX_CELLS = 40
_PASSWORD = 2
_CAPACITY_AND_COUNT = frozenset({12, 14})
# '#g006': 0 standby (-5 A < I < 3 A), 1 charging, 2 discharging (bluetooth_protocol.json).
_STATES = {0: BatteryState.IDLE, 1: BatteryState.CHARGING, 2: BatteryState.DISCHARGING}
PageMessage = TypeVar("PageMessage", Overview, Cells)


@dataclass(frozen=True, slots=True)
class GreenBmsOptions:
    """The driver's validated options (see trackingbms_greenbms.plugin.BATTERY_SCHEMA)."""

    port: str
    baudrate: int = 9600
    timeout: float = 1.5
    retries: int = 2
    cells: int | None = None
    keepalive_interval: float = 5.0
    capture: bool = False

    @classmethod
    def from_config(cls, options: Mapping[str, Any], data_dir: Path) -> GreenBmsOptions:
        """Build from a battery entry; a relative port is relative to the data directory."""
        port = str(options["port"])
        if "://" not in port and not Path(port).is_absolute():
            port = str(data_dir / port)
        cells = options.get("cells")
        return cls(
            port=port,
            baudrate=int(options.get("baudrate", 9600)),
            timeout=float(options.get("timeout", 1.5)),
            retries=int(options.get("retries", 2)),
            cells=None if cells is None else int(cells),
            keepalive_interval=float(options.get("keepalive_interval", 5.0)),
            capture=bool(options.get("capture", False)),
        )


class GreenBmsDriver:
    """Reads one Green-BMS Control Unit: overview page, then a sweep of the cells page."""

    def __init__(self, config: BatteryConfig, context: DriverContext) -> None:
        self.config = config
        self.context = context
        self.options = GreenBmsOptions.from_config(config.options, context.data_dir)
        self.port: SharedPort | None = None
        self.capture: Capture | None = None
        self.reader = MessageReader()
        self.keepalive = KeepAlive(self._send, self.options.keepalive_interval)
        # Parameters by name from the settings dump; the password is never kept.
        self.settings: dict[str, int] = {}
        self.global_alarm = False
        self._ready = False

    @property
    def cell_count(self) -> int | None:
        """The configured cell count, else the unit's own (#p014) when it is plausible."""
        if self.options.cells is not None:
            return self.options.cells
        count = self.settings.get("cell_count")
        return count if count is not None and 1 <= count <= MAX_CELLS else None

    async def connect(self) -> None:
        """Open the port, start the keep-alive, check the unit streams, read its settings."""
        if self.port is None:
            self.port = self.context.ports.acquire(self.options.port, self.options.baudrate)
            self._start_capture()
        try:
            async with self.port.exchange() as link:
                # A bare line end first: the unit processes its command buffer at CR/LF, so noise
                # it kept since the link came up cannot spoil our first command (legacy.md §3.3).
                link.write(b"\n")
                self.keepalive.start()
                self.reader.reset(link)
                await self._select(link, OVERVIEW_PAGE, Overview)
                await self._read_settings(link)
        except LinkError:
            await self.close()
            raise
        reported = self.settings.get("cell_count")
        if self.options.cells is not None and reported is not None and reported != self.options.cells:
            _LOGGER.warning("%s: `cells` is %d, the unit reports %d", self.options.port, self.options.cells, reported)
        if self.cell_count is None:
            await self.close()
            raise LinkError(f"{self.options.port}: the unit sent no usable cell count (#p014); set `cells`")
        self._ready = True

    async def poll(self) -> Reading:
        """The overview page, then every cell from the cells page, as one reading."""
        if not self._ready:
            await self.connect()
        count = self.cell_count
        if self.port is None or count is None:
            raise LinkError(f"{self.options.port} is not connected")
        async with self.port.exchange() as link:
            self.reader.reset(link)
            overview = await self._select(link, OVERVIEW_PAGE, Overview)
            cells = await self._sweep(link, count)
            # Rest on the overview page between polls, as the app does (legacy.md §3.3 recipe).
            self._send(command("s", OVERVIEW_PAGE))
        return self._reading(overview, cells)

    async def close(self) -> None:
        """Stop the keep-alive, ask the unit to stop streaming, release the port."""
        await self.keepalive.stop()
        self._ready = False
        if self.port is None:
            return
        with contextlib.suppress(LinkError):
            self._send(command("s", NO_PAGE))
        if self.capture is not None:
            self.port.link.capture = None
            self.capture.close()
            self.capture = None
        self.port = None
        await self.context.ports.release(self.options.port)

    def _start_capture(self) -> None:
        assert self.port is not None
        if self.options.capture and self.port.link.capture is None:
            # Every byte both ways, so a report from the field can be replayed and decoded.
            self.capture = Capture(self.context.data_dir / "captures" / f"{self.config.id}.jsonl")
            self.port.link.capture = self.capture.record

    def _send(self, data: bytes) -> None:
        # Commands are whole lines written in one call: the keep-alive may write while a poll holds
        # the port (that is its point), and the event loop never interleaves two writes.
        if self.port is None:
            raise LinkError(f"{self.options.port} is not connected")
        self.port.link.write(data)

    async def _await(self, link: ByteLink, accept: Callable[[Message], bool]) -> Message | None:
        """The first message ``accept`` takes within ``timeout`` s; the others are only observed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        while (remaining := deadline - loop.time()) > 0:
            message = await self.reader.next(link, remaining)
            if message is None:
                return None
            self._observe(message)
            if accept(message):
                return message
        return None

    def _observe(self, message: Message) -> None:
        if isinstance(message, Heartbeat):
            self.global_alarm = message.alarm
        elif isinstance(message, Parameters):
            for number, value in message.values.items():
                if number != _PASSWORD:  # sent in clear and only checked by the app (legacy.md §3.3)
                    self.settings[PARAMETERS[number].name] = value

    async def _select(self, link: ByteLink, page: int, kind: type[PageMessage]) -> PageMessage:
        """Select a page and wait for its first line, re-sending the selection after silence.

        A command can be lost: the unit's SoftwareSerial receiver is blind while it prints
        (interrupts off per byte; Arduino forum topic 81756, PJRC AltSoftSerial notes).
        """
        for _ in range(self.options.retries + 1):
            self._send(command("s", page))
            message = await self._await(link, lambda m: isinstance(m, kind))
            if isinstance(message, kind):
                return message
        raise LinkError(
            f"no {kind.__name__.lower()} line after selecting page {page} {self.options.retries + 1} times"
            f"{self._dropped()}"
        )

    async def _read_settings(self, link: ByteLink) -> None:
        """Page 4 with '#e1' dumps every parameter; stop when all came or the dump went round."""
        seen: set[int] = set()

        def useful(message: Message) -> bool:
            return isinstance(message, SettingsEnd) or (
                isinstance(message, Parameters) and not message.values.keys() <= seen
            )

        try:
            for _ in range(self.options.retries + 1):
                self._send(command("s", SETTINGS_PAGE) + command("e", 1))
                while (message := await self._await(link, useful)) is not None:
                    if isinstance(message, Parameters):
                        seen |= message.values.keys()
                    if seen >= PARAMETERS.keys() or (isinstance(message, SettingsEnd) and seen >= _CAPACITY_AND_COUNT):
                        return
        finally:
            # '#e0' is only heard on page 4, so it goes before the page changes (legacy.md §3.3).
            self._send(command("e", 0) + command("s", OVERVIEW_PAGE))
        _LOGGER.warning("%s: incomplete settings dump, got %s", self.options.port, sorted(seen))

    async def _sweep(self, link: ByteLink, count: int) -> tuple[CellData, ...]:
        """Every cell 1..count from the cells page, two per line (legacy.md §3.3)."""
        got: dict[int, CellData] = {}
        lines = 0
        # Two rounds of the page plus slack; a unit with fewer cells never completes.
        limit = 2 * math.ceil(count / 2) + 2
        while len(got) < count:
            if lines >= limit:
                missing = sorted(set(range(1, count + 1)) - got.keys())
                raise DataError(
                    f"cells {missing} never came in {lines} lines (the unit reports "
                    f"{self.settings.get('cell_count', '?')} cells){self._dropped()}"
                )
            message = await self._await(link, lambda m: isinstance(m, Cells)) if lines else None
            if not isinstance(message, Cells):
                # The first line, or silence: (re)select; the unit may have fallen back to page 0.
                message = await self._select(link, CELLS_PAGE, Cells)
            lines += 1
            for cell in message.cells:
                # For an odd count the last line also carries cell n + 1, which nothing measures.
                if cell.index <= count:
                    got[cell.index] = cell
        return tuple(got[index] for index in range(1, count + 1))

    def _reading(self, overview: Overview, cells: tuple[CellData, ...]) -> Reading:
        capacity = self.settings.get("capacity")
        return Reading(
            battery_id=self.config.id,
            voltage=overview.pack_voltage,
            # '#g002' is positive while charging: the firmware counts SOC up and reports status 1
            # "charging" for positive current (Control_Unit_2_1.ino "soc calculation";
            # legacy.md §3.3 "+ = charging"), the hub's convention as is.
            current=overview.current,
            soc=float(overview.soc),
            cells=tuple(cell.voltage for cell in cells),
            temperatures=_temperatures(cells),
            balancing=tuple(cell.index for cell in cells if "balancing" in cell.flags),
            state=_STATES.get(overview.charge_status),
            discharge_mos=discharge_enabled(cells),
            rated_capacity_ah=float(capacity) if capacity else None,
            alarms=cell_alarms(cells, self.global_alarm),
        ).with_derived()

    def _dropped(self) -> str:
        reader = self.reader
        return f"; dropped {reader.bad_lines} bad lines, last: {reader.last_error}" if reader.bad_lines else ""


def _temperatures(cells: tuple[CellData, ...]) -> tuple[Temperature, ...]:
    """Pole temperatures (cell) then balancing-resistor temperatures (board), numbered by cell.

    A module in error that reads -40 °C sent nothing: -40 is the firmware's map of a zero byte
    (legacy.md §3.2), a placeholder rather than a measurement, so it is left out.
    """
    result = []
    for kind, attribute in (
        (TemperatureKind.CELL, "pole_temperature"),
        (TemperatureKind.BOARD, "resistor_temperature"),
    ):
        for cell in cells:
            value: int = getattr(cell, attribute)
            if "error" in cell.flags and value == NO_DATA_TEMPERATURE:
                continue
            result.append(Temperature(float(value), kind, cell.index))
    return tuple(result)
