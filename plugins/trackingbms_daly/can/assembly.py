"""Collect the CAN answers of one poll and assemble them into a Reading (pure, no I/O)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import TypeVar

from hub.reading import BatteryState, Reading, Temperature, TemperatureKind
from hub.specs import DataError
from trackingbms_daly.a5 import codec
from trackingbms_daly.a5.framing import DATA_LEN
from trackingbms_daly.errors import DalyProtocolError

__all__ = ["MULTI_FRAME", "OPTIONAL", "POLLED", "CurrentSign", "ReplyCollector", "build_reading", "rated_capacity"]

_LOGGER = logging.getLogger(__name__)
# What a poll asks for: mr-manuel sends these back to back (daly.md §2.1); 0x50 only once.
POLLED = (0x94, 0x90, 0x93, 0x95, 0x96, 0x97, 0x98)
MULTI_FRAME = frozenset({0x95, 0x96})
# Answers whose loss should not cost the whole reading (as in the serial driver).
OPTIONAL = frozenset({0x97, 0x98, 0x50})
_STATES = {0: BatteryState.IDLE, 1: BatteryState.CHARGING, 2: BatteryState.DISCHARGING}
# Above this current the BMS's own charge/discharge byte decides the sign (daly.md §1.8).
SIGN_DETECT_MIN_A = 1.0
_PER_FRAME = {0x95: codec.CELLS_PER_FRAME, 0x96: codec.TEMPS_PER_FRAME}
_T = TypeVar("_T")


class ReplyCollector:
    """The answers of one poll: single-frame ids by id, 0x95/0x96 by frame number.

    On CAN every frame of a multi-frame answer carries the same identifier; only data
    byte 0 (1-based frame number) tells them apart (daly.md §2.1), so frames are keyed by
    it and duplicates are dropped. The cell and sensor counts come from this poll's 0x94,
    or from the last good one when 0x94 is missing or corrupt (daly.md §1.5).
    """

    def __init__(self, layout: codec.StatusInfo | None = None) -> None:
        self.cached_layout = layout
        self.single: dict[int, bytes] = {}
        self.frames: dict[int, dict[int, bytes]] = {0x95: {}, 0x96: {}}

    def add(self, data_id: int, payload: bytes) -> None:
        """Record one answer; DalyProtocolError when it cannot be a Daly payload."""
        if len(payload) != DATA_LEN:
            raise DalyProtocolError(f"0x{data_id:02X} answer has DLC {len(payload)}, Daly always sends 8")
        if data_id not in MULTI_FRAME:
            self.single.setdefault(data_id, payload)
            return
        number = payload[0]
        # Documents: "0xFF invalid"; captures number from 1; at most 16 frames (daly.md §1.4).
        if not 1 <= number <= codec.MAX_FRAMES:
            raise DalyProtocolError(f"0x{data_id:02X} frame number {number} outside 1..{codec.MAX_FRAMES}")
        self.frames[data_id].setdefault(number, payload)

    @property
    def layout(self) -> codec.StatusInfo | None:
        """This poll's 0x94 if it decodes, else the cached one."""
        data = self.single.get(0x94)
        if data is not None:
            try:
                return codec.decode_status_info(data)
            except DalyProtocolError as err:
                _LOGGER.debug("0x94 unusable: %s", err)
        return self.cached_layout

    def frames_needed(self, data_id: int) -> int | None:
        """How many 0x95/0x96 frames make a complete answer, once the layout is known."""
        layout = self.layout
        if layout is None:
            return None
        count = layout.cell_count if data_id == 0x95 else layout.temperature_count
        return math.ceil(count / _PER_FRAME[data_id])

    def complete(self, data_id: int) -> bool:
        """Whether the answer to ``data_id`` is all here."""
        if data_id == 0x94:
            return 0x94 in self.single or self.cached_layout is not None
        if data_id not in MULTI_FRAME:
            return data_id in self.single
        needed = self.frames_needed(data_id)
        return needed is not None and all(k in self.frames[data_id] for k in range(1, needed + 1))

    def missing(self, data_ids: Iterable[int]) -> list[int]:
        """The ids among ``data_ids`` whose answer is not complete yet."""
        return [data_id for data_id in data_ids if not self.complete(data_id)]


class CurrentSign:
    """Turns the wire current into "positive while charging" (daly.md §1.8).

    ``auto`` starts charge-positive (newer devices, the 2025 CAN capture of issue #249) and
    learns from the 0x93 state byte whenever |I| is above 1 A.
    """

    def __init__(self, mode: str = "auto") -> None:
        self.mode = mode
        self.charge_positive_on_wire = mode != "discharge_positive"

    def apply(self, wire_current: float, state: int) -> float:
        """The current (A) with charge positive."""
        if self.mode == "auto" and abs(wire_current) > SIGN_DETECT_MIN_A and state in (1, 2):
            learned = (state == 1) == (wire_current > 0)
            if learned != self.charge_positive_on_wire:
                _LOGGER.info("current sign detected as %s-positive on the wire", "charge" if learned else "discharge")
                self.charge_positive_on_wire = learned
        return wire_current if self.charge_positive_on_wire else -wire_current


def _required(collector: ReplyCollector, data_id: int) -> bytes:
    data = collector.single.get(data_id)
    if data is None:
        raise DataError(f"no answer to 0x{data_id:02X}")
    return data


def _optional(collector: ReplyCollector, data_id: int, decode: Callable[[bytes], _T]) -> _T | None:
    data = collector.single.get(data_id)
    if data is None:
        return None
    try:
        return decode(data)
    except DalyProtocolError as err:
        _LOGGER.debug("0x%02X unusable: %s", data_id, err)
        return None


def _cells(collector: ReplyCollector, count: int) -> tuple[float, ...]:
    frames = {n: codec.decode_cell_frame(d)[1] for n, d in collector.frames[0x95].items()}
    cells = codec.assemble_cells(frames, count)  # truncates junk slots beyond the pack (§1.4)
    # "current daly firmware sends corrupted cells volts data occasionally" (daly.md §4.3).
    if any(not 0.5 <= v <= 5.0 for v in cells):
        raise DataError(f"implausible cell voltages {cells}")
    return cells


def _temperatures(collector: ReplyCollector, count: int) -> tuple[Temperature, ...]:
    frames = {n: codec.decode_temperature_frame(d)[1] for n, d in collector.frames[0x96].items()}
    values = codec.assemble_temperatures(frames, count) if count else ()
    return tuple(Temperature(v, TemperatureKind.CELL, i) for i, v in enumerate(values, start=1) if v is not None)


def build_reading(
    battery_id: str, collector: ReplyCollector, sign: CurrentSign, rated_capacity_ah: float | None = None
) -> Reading:
    """Assemble a reading; raises DataError or DalyProtocolError for unusable answers."""
    layout = collector.layout
    if layout is None:
        raise DataError("no status information (0x94): cell and sensor counts unknown")
    pack = codec.decode_pack_status(_required(collector, 0x90))
    mosfet = codec.decode_mosfet_status(_required(collector, 0x93))
    return Reading(
        battery_id=battery_id,
        voltage=round(pack.voltage, 2),
        current=round(sign.apply(pack.current, mosfet.state), 2),
        soc=pack.soc,
        cells=_cells(collector, layout.cell_count),
        temperatures=_temperatures(collector, layout.temperature_count),
        charge_mos=mosfet.charge_mos,
        discharge_mos=mosfet.discharge_mos,
        balancing=_optional(collector, 0x97, lambda d: codec.decode_balancing(d, layout.cell_count)) or (),
        state=_STATES.get(mosfet.state),
        cycles=layout.cycles,
        remaining_capacity_ah=mosfet.remaining_capacity_mah / 1000,
        rated_capacity_ah=rated_capacity_ah,
        alarms=_optional(collector, 0x98, codec.decode_failures) or (),
    ).with_derived()


def rated_capacity(collector: ReplyCollector) -> float | None:
    """The rated capacity (Ah) of a 0x50 answer, if one came and makes sense."""
    result = _optional(collector, 0x50, codec.decode_rated_capacity)
    return result[0] if result and result[0] > 0 else None
