"""A simulated Green-BMS Control Unit: pages, commands and the keep-alive check (protocol only, no I/O)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from hub.simulation import PackModel, PackSnapshot
from trackingbms_greenbms.codec import NO_DATA_TEMPERATURE, PARAMETERS, TEMPERATURE_RANGE
from trackingbms_greenbms.framing import CommandFramer, to_int
from trackingbms_greenbms.messages import (
    SETTINGS_BLOCKS,
    CellData,
    Overview,
    encode_cells,
    encode_heartbeat,
    encode_keepalive_marker,
    encode_overview,
    encode_parameters,
    encode_settings_end,
)

__all__ = ["DEFAULT_PARAMETERS", "GreenBmsDevice"]

# eeprom_init() factory values (bluetooth_protocol.json "defaults_from_eeprom_init").
DEFAULT_PARAMETERS: dict[int, int] = {
    2: 1234, 12: 60, 14: 16, 24: 3600, 26: 3550, 28: 3450, 30: 3420, 32: 3400, 34: 3350, 36: 2900, 38: 3100,
    40: 3000, 44: 6000, 48: 45, 50: 35, 52: 80, 54: 50, 56: 40, 58: 20, 60: 100, 62: 0, 70: 200, 72: -200,
    74: 1000, 76: 0,
}  # fmt: skip
# A module that never answered leaves zero bytes: 0 mV (so "low" and "error") and -40 °C.
_SILENT_MODULE = frozenset({"low_voltage", "error"})


class GreenBmsDevice:
    """The Control Unit's Bluetooth side as in firmware "Ver. 3.s.2.01" (Control_Unit_2_1.ino).

    ``tick()`` is one run of its 400 ms oscillator, ``heartbeat()`` its 5 s one and
    ``keepalive_check()`` its 15 s one; the simulator calls them on a clock. Simplified: status
    flags follow the thresholds at once (no delay, no hysteresis).
    """

    def __init__(
        self, pack: PackModel, capacity_ah: int = 60, failed_cells: Iterable[int] = (), seed: int | None = None
    ) -> None:
        self.pack = pack
        self.params = {**DEFAULT_PARAMETERS, 12: capacity_ah, 14: pack.cells}
        self.failed_cells = frozenset(failed_cells)
        self.page = 0
        self.keepalive = 0
        self._keepalive_seen = 0
        self.keepalive_checks = 0
        self.overview_data = False  # '#h1'
        self.all_data = False  # '#e1'
        self._echo: int | None = None
        self._x = {1: 1, 2: 1, 3: 1, 4: 1}
        self._rounds = 1  # z4: settings rounds before '#f000'
        self.heartbeat_counter = 0
        self.commands: list[str] = []  # every processed command, for tests and logs
        self._framer = CommandFramer()
        rng = random.Random(seed)
        self._pole_offsets = [rng.uniform(-1.0, 1.0) for _ in range(pack.cells)]

    @property
    def streaming(self) -> bool:
        """True while a page is selected (page 0 sends only the heartbeat)."""
        return self.page != 0

    def receive(self, data: bytes) -> None:
        """Bytes from the host."""
        for line in self._framer.feed(data):
            self.process(line)

    def process(self, line: str) -> None:
        """One command line, as the firmware's process() handles it."""
        self.commands.append(line)
        if line.startswith("#s"):
            self.page = to_int(line[2:])
        if line.startswith("#m"):
            self.keepalive = to_int(line[2:])
        # Every line restarts the counters of the pages that are not selected.
        for page in self._x:
            if page != self.page:
                self._x[page] = 1
        if self.page != 4:
            self._rounds = 1
        if self.page == 2 and line[:3] in ("#h1", "#h0"):
            self.overview_data = line[2] == "1"
        if self.page == 4:
            self._settings_command(line)

    def _settings_command(self, line: str) -> None:
        if line[:3] in ("#e1", "#e0"):
            self.all_data = line[2] == "1"
        if line.startswith("#p"):
            number = to_int(line[2:5])
            if number in PARAMETERS:
                self.params[number] = to_int(line[5:])
            self._echo = number

    def keepalive_check(self) -> None:
        """The 15 s check: an unchanged '#m' value sends the unit back to page 0."""
        self.keepalive_checks += 1
        if self.keepalive == self._keepalive_seen:
            self.page = 0
        self._keepalive_seen = self.keepalive

    def heartbeat(self) -> bytes:
        """The 5 s line: sign-of-life counter 1..999 and the global alarm."""
        self.heartbeat_counter = self.heartbeat_counter % 999 + 1
        cells = self._cells(self.pack.snapshot(), range(1, self.cell_count + 1))
        alarm = any(cell.flags - {"balancing"} for cell in cells)
        return encode_heartbeat(self.heartbeat_counter, alarm)

    @property
    def cell_count(self) -> int:
        """The unit's n (#p014), which a write can change."""
        return max(0, min(40, self.params[14]))

    def tick(self) -> list[bytes]:
        """The lines of one 400 ms period on the selected page."""
        handler = {1: self._page_connection, 2: self._page_overview, 3: self._page_cells, 4: self._page_settings}
        return handler[self.page]() if self.page in handler else []

    def _advance(self, page: int, last: int) -> None:
        self._x[page] = 1 if self._x[page] >= last else self._x[page] + 1

    def _page_connection(self) -> list[bytes]:
        if self._x[1] > 3:  # the password goes out three times
            return []
        self._x[1] += 1
        return [encode_parameters(self.params, (2,))]

    def _page_overview(self) -> list[bytes]:
        lines = [encode_parameters(self.params, (12, 14))] if self.overview_data else []
        if self._x[2] >= 3:
            lines.append(encode_keepalive_marker())
        self._advance(2, 3)
        if not self.overview_data:
            lines.append(encode_overview(self._overview(self.pack.snapshot())))
        return lines

    def _page_cells(self) -> list[bytes]:
        pair = 2 * self._x[3]
        self._advance(3, max(1, math.ceil(self.cell_count / 2)))
        return [encode_cells(self._cells(self.pack.snapshot(), (pair - 1, pair)))]

    def _page_settings(self) -> list[bytes]:
        lines = []
        if self.all_data and self._rounds <= 2:
            lines.append(encode_parameters(self.params, SETTINGS_BLOCKS[self._x[4] - 1]))
            if self._x[4] >= 4:
                self._rounds += 1
            self._advance(4, 4)
        elif self.all_data:
            lines.append(encode_settings_end())
            self._x[4], self._rounds = 1, 1
        if self._echo is not None:
            if self._echo in PARAMETERS:
                lines.append(encode_parameters(self.params, (self._echo,)))
            self._echo = None
        return lines

    def _overview(self, snap: PackSnapshot) -> Overview:
        cells = self._cells(snap, range(1, self.cell_count + 1))
        volts = [cell.voltage for cell in cells] or [0.0]
        # The current is rounded to 0.5 A; status uses 3 A / -5 A (Control_Unit_2_1.ino current input).
        current = math.floor(snap.current * 2 + 0.5) / 2
        status = 1 if current >= 3 else 2 if current <= -5 else 0
        return Overview(round(sum(volts), 3), current, int(snap.soc), max(volts), min(volts), status)

    def _cells(self, snap: PackSnapshot, indices: Iterable[int]) -> list[CellData]:
        result = []
        for index in indices:
            if index > self.cell_count:  # cell n + 1 of an odd count: never polled, all zero
                result.append(CellData(index, 0.0, 0, 0))
            elif index > len(snap.cell_voltages) or index in self.failed_cells:
                result.append(CellData(index, 0.0, NO_DATA_TEMPERATURE, NO_DATA_TEMPERATURE, _SILENT_MODULE))
            else:
                result.append(self._measured(snap, index))
        return result

    def _measured(self, snap: PackSnapshot, index: int) -> CellData:
        millivolts = round(snap.cell_voltages[index - 1] * 1000)
        sensors = snap.temperatures or (snap.mos_temperature,)
        pole = _clamp(round(sensors[(index - 1) % len(sensors)] + self._pole_offsets[index - 1]))
        balancing = index in snap.balancing
        resistor = _clamp(pole + (15 if balancing else 1))  # a bleeding resistor runs hot
        params = self.params
        flags = {
            "very_high_voltage": millivolts >= params[24],
            "balancing": balancing,
            "low_voltage": millivolts <= params[36],
            "error": not 2300 <= millivolts <= 4500,
            "pole_temperature_high": pole >= params[48],
            "resistor_temperature_high": resistor >= params[52],
        }
        return CellData(index, millivolts / 1000, pole, resistor, frozenset(k for k, on in flags.items() if on))


def _clamp(celsius: int) -> int:
    low, high = TEMPERATURE_RANGE
    return max(low, min(high, celsius))
