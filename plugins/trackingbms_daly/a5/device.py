"""A simulated Daly BMS answering A5 requests from a PackModel (protocol only, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Callable

from hub.reading import Alarm, AlarmLevel
from hub.simulation import PackModel, PackSnapshot
from trackingbms_daly.a5 import codec
from trackingbms_daly.a5.alarms import encode_failures
from trackingbms_daly.a5.framing import DATA_LEN, A5Frame, build_frame
from trackingbms_daly.errors import DalyProtocolError

__all__ = ["HARDWARE_VERSION", "DalyA5Device"]

# Answered like the real 0x63 capture "DL-BMS-" "R32-01E" (mpp-solar #113), marked SIM.
HARDWARE_VERSION = ("DL-BMS-", "SIM-01E")
# mr-manuel's docs map board numbers to request addresses 0x40..0x4F (daly.md §1.3).
_BOARD_ADDRESSES = range(0x40, 0x50)
_NOMINAL_CELL_MV = 3200  # LiFePO4, as in the bms-to-inverter 0x50 log (daly.md §1.4)
# Thresholds for the simulated 0x98 bits: typical LiFePO4 settings, not Daly defaults.
_ALARM_RULES: tuple[tuple[str, str, AlarmLevel, Callable[[PackSnapshot], bool]], ...] = (
    ("soc_low", "SOC low", AlarmLevel.WARNING, lambda s: s.soc < 15),
    ("soc_low", "SOC low", AlarmLevel.ALARM, lambda s: s.soc < 5),
    ("cell_voltage_high", "Cell voltage high", AlarmLevel.WARNING, lambda s: max(s.cell_voltages) > 3.6),
    ("cell_voltage_low", "Cell voltage low", AlarmLevel.WARNING, lambda s: min(s.cell_voltages) < 2.9),
    (
        "cell_voltage_difference",
        "Cell voltage difference high",
        AlarmLevel.WARNING,
        lambda s: max(s.cell_voltages) - min(s.cell_voltages) > 0.1,
    ),
)


def _mv(volts: float) -> int:
    return round(volts * 1000)


def _celsius(value: float) -> int:
    # Raw 0 means "no sensor" (daly.md §1.4 0x96), so the lowest sendable value is -39 °C.
    return min(215, max(-39, round(value)))


class DalyA5Device:
    """The BMS side of the A5 protocol: one request in, zero or more answer frames out.

    Like a real BMS it stays silent on a bad checksum or a foreign address ([V1.2] §2.1:
    only a matching address may answer). Answers carry the board number as address.
    """

    def __init__(
        self,
        pack: PackModel,
        board: int = 1,
        host_addresses: frozenset[int] = frozenset({0x40, 0x80}),
        all_cell_frames: bool = False,
        invert_current: bool = False,
    ) -> None:
        if not 1 <= board <= len(_BOARD_ADDRESSES):
            raise ValueError(f"board must be 1..{len(_BOARD_ADDRESSES)}")
        self.pack = pack
        self.board = board
        own = 0x3F + board  # board 1 = 0x40, board 2 = 0x41 (mr-manuel daly.py, daly.md §1.3)
        # The RS485 path (host 0x40) answers the board's own multi-drop address and never another
        # board's, or two BMS would talk at once; a UART-only port ignores 0x40 altogether
        # (mpp-solar #113 saw ports answering only one of 0x40 / 0x80, daly.md §1.3).
        rs485 = 0x40 in host_addresses
        others = {a for a in host_addresses if a not in _BOARD_ADDRESSES}
        self.accepted_addresses = frozenset(others | ({own} if rs485 else set()))
        # Some firmware, typically on the 0x80/Bluetooth path, sends all 16 cell frames
        # (mpp-solar test response, daly.md §1.4 0x95).
        self.all_cell_frames = all_cell_frames
        # Older units send raw > 30000 while discharging (tomatensaus capture, daly.md §1.8).
        self.invert_current = invert_current
        self.junk_cells = False
        self._heartbeat = 0
        self._handlers: dict[int, Callable[[A5Frame, PackSnapshot], list[bytes]]] = {
            0x90: self._pack_status,
            0x91: self._cell_extremes,
            0x92: self._temperature_extremes,
            0x93: self._mosfet_status,
            0x94: self._status_info,
            0x95: self._cell_voltages,
            0x96: self._temperatures,
            0x97: lambda _, s: [codec.encode_balancing(s.balancing)],
            0x98: lambda _, s: [encode_failures(self._alarms(s))],
            0x50: self._rated_capacity,
            0x63: lambda _, s: [bytes((n,)) + t.encode() for n, t in enumerate(HARDWARE_VERSION, 1)],
            0xD9: self._switch_mos,
            0xDA: self._switch_mos,
            0x21: self._set_soc,
            0x00: lambda _, s: [bytes(DATA_LEN)],  # restart: answer undocumented, we just ack
        }

    def handle(self, request: bytes) -> list[bytes]:
        """Answer one 13-byte request with encoded frames, or [] for silence."""
        try:
            frame = A5Frame.parse(request)
        except DalyProtocolError:
            return []
        handler = self._handlers.get(frame.data_id)
        if frame.address not in self.accepted_addresses or handler is None:
            return []
        snapshot = self.pack.snapshot()
        return [build_frame(self.board, frame.data_id, data) for data in handler(frame, snapshot)]

    def _pack_status(self, _: A5Frame, snap: PackSnapshot) -> list[bytes]:
        # Newer devices send charge as raw > 30000 (daly.md §1.8), our pack convention too.
        current = -snap.current if self.invert_current else snap.current
        raw = codec.encode_current(current)
        return [codec.encode_pack_status(voltage=snap.voltage, current_raw=raw, soc=snap.soc)]

    def _cell_extremes(self, _: A5Frame, snap: PackSnapshot) -> list[bytes]:
        cells = snap.cell_voltages
        high = max(range(len(cells)), key=cells.__getitem__)
        low = min(range(len(cells)), key=cells.__getitem__)
        return [codec.encode_cell_extremes(_mv(cells[high]), high + 1, _mv(cells[low]), low + 1)]

    def _temperature_extremes(self, _: A5Frame, snap: PackSnapshot) -> list[bytes]:
        temps = snap.temperatures or (snap.mos_temperature,)
        high = max(range(len(temps)), key=temps.__getitem__)
        low = min(range(len(temps)), key=temps.__getitem__)
        return [codec.encode_temperature_extremes(_celsius(temps[high]), high + 1, _celsius(temps[low]), low + 1)]

    def _mosfet_status(self, _: A5Frame, snap: PackSnapshot) -> list[bytes]:
        # d3 is a rolling heartbeat that changes on every poll (tomatensaus, daly.md §1.4).
        self._heartbeat = (self._heartbeat + 1) & 0xFF
        state = 1 if snap.current > 0 else 2 if snap.current < 0 else 0
        data = codec.encode_mosfet_status(
            state=state,
            charge_mos=snap.charge_mos,
            discharge_mos=snap.discharge_mos,
            heartbeat=self._heartbeat,
            remaining_capacity_mah=round(snap.remaining_capacity_ah * 1000),
        )
        return [data]

    def _status_info(self, _: A5Frame, snap: PackSnapshot) -> list[bytes]:
        data = codec.encode_status_info(
            cell_count=len(snap.cell_voltages),
            temperature_count=len(snap.temperatures),
            charger_connected=snap.current > 0,
            load_connected=snap.current < 0,
            cycles=snap.cycles,
        )
        return [data]

    def _cell_voltages(self, _: A5Frame, snap: PackSnapshot) -> list[bytes]:
        cells = [_mv(v) for v in snap.cell_voltages]
        per = codec.CELLS_PER_FRAME
        count = codec.MAX_FRAMES if self.all_cell_frames else math.ceil(len(cells) / per)
        if self.junk_cells:
            # Slots beyond the pack can hold garbage: cells 17/18 = 3.142 V on a 16S pack
            # (mpp-solar #113, snpg-lab; daly.md §1.4 0x95).
            cells = cells + [3142] * (count * per - len(cells))
        # Frames are numbered from 1 on real devices, zeros beyond the pack (daly.md §1.4).
        return [codec.encode_cell_frame(k + 1, cells[k * per : (k + 1) * per]) for k in range(count)]

    def _temperatures(self, _: A5Frame, snap: PackSnapshot) -> list[bytes]:
        temps = [_celsius(t) for t in snap.temperatures]
        per = codec.TEMPS_PER_FRAME
        # Real devices send 2 frames even for 1 sensor (snpg-lab, mpp-solar; daly.md §1.4).
        count = max(2, math.ceil(len(temps) / per))
        return [codec.encode_temperature_frame(k + 1, temps[k * per : (k + 1) * per]) for k in range(count)]

    def _rated_capacity(self, _: A5Frame, snap: PackSnapshot) -> list[bytes]:
        return [codec.encode_rated_capacity(snap.rated_capacity_ah, _NOMINAL_CELL_MV / 1000)]

    @staticmethod
    def _alarms(snap: PackSnapshot) -> list[Alarm]:
        return [Alarm(code, text, level) for code, text, level, active in _ALARM_RULES if active(snap)]

    def _switch_mos(self, request: A5Frame, _: PackSnapshot) -> list[bytes]:
        on = request.data[0] != 0
        if request.data_id == 0xDA:
            self.pack.charge_mos = on
        else:
            self.pack.discharge_mos = on
        # The answer echoes d0 (python-daly-bms #3 sniff; mr-manuel checks reply[0]).
        return [bytes((request.data[0],)) + bytes(DATA_LEN - 1)]

    def _set_soc(self, request: A5Frame, _: PackSnapshot) -> list[bytes]:
        # mr-manuel treats d0 == 1 as success (daly.md §1.6); refusing with 0 is our choice.
        soc = codec.decode_set_soc(request.data)
        if not 0 <= soc <= 100:
            return [bytes(DATA_LEN)]
        self.pack.set_soc(soc)
        return [b"\x01" + bytes(DATA_LEN - 1)]
