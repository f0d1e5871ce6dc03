"""Assemble broadcast foxBMS frames into complete readings (pure: no I/O, clock injected)."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hub.reading import Alarm, Reading, Temperature, TemperatureKind
from trackingbms_foxbms.alarms import flag_alarms, index_alarm, state_alarms
from trackingbms_foxbms.codec import DecodedFrame
from trackingbms_foxbms.dbc import FlagPolarity, FoxbmsDbc, Slot
from trackingbms_foxbms.errors import FoxbmsProtocolError
from trackingbms_foxbms.tables import FIELDS, STRING_FIELDS, STRING_ROLES

__all__ = ["SLOW_GRACE_FRAMES", "AssemblySettings", "CurrentSign", "MuxArray", "PackAssembler"]

Stamped = dict[tuple[str, str], tuple[float, float]]
# Plausible cell voltages (mV), as the Daly drivers use: anything else flagged valid is bad data.
CELL_MV_RANGE = (500.0, 5000.0)
# f_PackStateEstimation comes every 1000 ms, f_PackValuesP0 every 100 ms (legacy.md §1.3): a first
# reading waits for the SOC during this many pack-values frames, i.e. 1.5 s of the BMS's own time.
# Counting frames, not seconds, keeps a host that reads the bus late from giving up too early.
SLOW_GRACE_FRAMES = 15
# Per-string values counted in the BMS's current sign (CurrentSign).
_SIGNED = frozenset({"current", "power_kw"})


class CurrentSign(enum.StrEnum):
    """How the BMS counts current. foxBMS's default build counts DISCHARGE as positive.

    ``BS_POSITIVE_DISCHARGE_CURRENT`` is ``true`` by default in
    ``src/app/application/config/battery_system_cfg.h`` (legacy.md §1.4); a build with ``false``
    sends charge as positive. Readings always count charge as positive.
    """

    DISCHARGE_POSITIVE = "discharge_positive"
    CHARGE_POSITIVE = "charge_positive"

    @property
    def factor(self) -> float:
        """Multiplier from the BMS's sign to ours (charge positive)."""
        return -1.0 if self is CurrentSign.DISCHARGE_POSITIVE else 1.0


@dataclass(frozen=True, slots=True)
class AssemblySettings:
    """What the assembler needs to know beyond the DBC; None counts are learned from the bus."""

    cells: int | None = None
    temps: int | None = None
    current_sign: CurrentSign = CurrentSign.DISCHARGE_POSITIVE
    polarity: FlagPolarity = FlagPolarity.ONE_MEANS_VALID
    max_age: float = 10.0  # seconds a slow (1 s) or asynchronous value stays usable


@dataclass(slots=True)
class MuxArray:
    """A multiplexed array (cell voltages, 4 per frame; temperatures, 6 per frame).

    The firmware sends mux 0, 1, … ceil(N / per_frame) - 1 and starts again at 0
    (``can_cbs_tx_cell-voltages.c``, legacy.md §1.5). Without a configured count, the number of
    frames is learned from that wrap, and trailing slots of the last frame that are left 0 with
    flag 0 (unused, legacy.md §1.5) are not counted; such slots are dropped even when a build sends
    more frames than it has cells (the ALL_CELL_FRAMES fault: all 54 multiplexer values).
    """

    per_frame: int
    configured: int | None
    values: dict[int, tuple[float, int]] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    learned_frames: int | None = None
    max_mux: int = -1
    last_mux: int | None = None

    def add(self, mux: int, slots: tuple[Slot, ...], signals: dict[str, float]) -> None:
        """Record one frame's slots."""
        if self.last_mux is not None and mux == 0 and self.max_mux >= 0:
            self.learned_frames = max(self.learned_frames or 0, self.max_mux + 1)
        self.max_mux = max(self.max_mux, mux)
        self.last_mux = mux
        for slot in slots:
            flag = int(signals.get(slot.flag, 0)) if slot.flag else 0
            self.values[slot.index] = (signals.get(slot.value, 0.0), flag)
        self.seen.add(mux)

    def frames_needed(self) -> int | None:
        """Frames in one full cycle, once known."""
        if self.configured is not None:
            return math.ceil(self.configured / self.per_frame)
        return self.learned_frames

    def count(self) -> int | None:
        """Number of values in the array, once known."""
        if self.configured is not None:
            return self.configured
        frames = self.learned_frames
        if frames is None:
            return None
        count = frames * self.per_frame
        while count > 0 and self.values.get(count - 1, (0.0, 0)) == (0.0, 0):
            count -= 1
        return count

    def complete(self) -> bool:
        """Whether every frame of the cycle arrived since the last reading."""
        needed = self.frames_needed()
        if needed == 0:
            return True
        return needed is not None and set(range(needed)) <= self.seen

    def missing(self) -> list[int]:
        """Multiplexer values not seen since the last reading (empty while the count is unknown)."""
        needed = self.frames_needed() or 0
        return [mux for mux in range(needed) if mux not in self.seen]


class PackAssembler:
    """Keeps the newest value of every signal and emits a reading when a full set is fresh."""

    def __init__(self, dbc: FoxbmsDbc, settings: AssemblySettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.dbc = dbc
        self.settings = settings
        self.clock = clock
        self.values: Stamped = {}
        self.strings: dict[int, Stamped] = {}
        self.cells = MuxArray(4, settings.cells)
        self.temps = MuxArray(6, settings.temps)
        self.temps_seen = settings.temps is not None and settings.temps > 0
        self.pack_fresh = False
        self.pack_frames = 0  # pack-values frames so far: the BMS's clock for SLOW_GRACE_FRAMES

    def add(self, frame: DecodedFrame) -> None:
        """Take one decoded frame."""
        now = self.clock()
        signals = dict(frame.signals)
        if frame.role == "cell_voltages" and frame.mux is not None:
            self.cells.add(frame.mux, self.dbc.cell_slots.get(frame.mux, ()), signals)
        elif frame.role == "cell_temperatures" and frame.mux is not None:
            self.temps.add(frame.mux, self.dbc.temp_slots.get(frame.mux, ()), signals)
            self.temps_seen = True
        elif frame.role in STRING_ROLES and frame.mux is not None:
            target = self.strings.setdefault(frame.mux, {})
            target.update({(frame.role, k): (v, now) for k, v in signals.items()})
        elif frame.role is not None:
            self.values.update({(frame.role, k): (v, now) for k, v in signals.items()})
            if frame.role == "pack_values":
                self.pack_fresh = True
                self.pack_frames += 1

    def ready(self) -> bool:
        """Whether every cell, every temperature and the pack values arrived since the last reading.

        The first reading also waits for the 1 s state estimation (SOC), for at most
        SLOW_GRACE_FRAMES pack-values frames.
        """
        temps_ok = self.temps.complete() if self.temps_seen else True
        if not (self.pack_fresh and self.cells.complete() and temps_ok):
            return False
        slow = self.field("soc_min") is not None
        return slow or self.pack_frames >= SLOW_GRACE_FRAMES

    def missing(self) -> str:
        """What keeps the next reading from being complete, for error messages."""
        parts = []
        if not self.pack_fresh:
            parts.append(f"no pack values ({self.dbc.messages['pack_values'].name})")
        for name, array in (("cell voltage", self.cells), ("cell temperature", self.temps)):
            if array.frames_needed() is None and (array is self.cells or self.temps_seen):
                parts.append(f"{name} count not known yet (no full multiplexer cycle)")
            elif missing := array.missing():
                parts.append(f"{name} frames missing: mux {', '.join(map(str, missing))}")
        return "; ".join(parts) or "nothing"

    def _get(self, store: Stamped, role: str, signal: str) -> float | None:
        entry = store.get((role, signal))
        if entry is None or self.clock() - entry[1] > self.settings.max_age:
            return None
        return entry[0]

    def pack(self, role: str, signal: str) -> float | None:
        """The newest usable pack value of (role, signal)."""
        return self._get(self.values, role, signal)

    def field(self, name: str) -> float | None:
        """A pack value by its canonical name (tables.FIELDS)."""
        where = FIELDS[name].get(self.dbc.layout)
        return self.pack(*where) if where else None

    def extras(self) -> dict[str, float | str]:
        """Every pack value by canonical name (tables.FIELDS), with the state names of the value tables."""
        out: dict[str, float | str] = {name: round(v, 6) for name in FIELDS if (v := self.field(name)) is not None}
        for name in ("bms_state", "system_state"):
            where = FIELDS[name].get(self.dbc.layout)
            message = self.dbc.message(where[0]) if where else None
            if where and message is not None and name in out:
                choices: Mapping[int, object] = message.get_signal_by_name(where[1]).choices or {}
                out[f"{name}_name"] = str(choices.get(int(out[name]), out[name]))
        return out

    def string_values(self) -> dict[int, dict[str, float]]:
        """Per-string values by canonical name (tables.STRING_FIELDS), for the driver's ``strings``.

        Current and power are turned to the hub's sign (positive while charging), as in the reading.
        """
        out: dict[int, dict[str, float]] = {}
        sign = self.settings.current_sign.factor
        for index, store in sorted(self.strings.items()):
            row = {}
            for name, by_layout in STRING_FIELDS.items():
                where = by_layout.get(self.dbc.layout)
                value = self._get(store, *where) if where else None
                if value is not None:
                    row[name] = round(sign * value if name in _SIGNED else value, 6) + 0.0
            out[index] = row
        return out

    def build(self, battery_id: str, partial: bool = False) -> Reading:
        """The reading of the values gathered so far; starts the next freshness round.

        FoxbmsProtocolError when a cell flagged valid has an impossible voltage (the round restarts).
        """
        try:
            cells, invalid_cells = self._cells(partial)
        except FoxbmsProtocolError:
            self._next_round()
            raise
        temperatures, invalid_temps = self._temperatures(partial)
        alarms = self._alarms(invalid_cells, invalid_temps)
        if partial and not self.ready():
            alarms.append(Alarm("cells_incomplete", f"Partial reading: {self.missing()}"))
        sign = self.settings.current_sign.factor
        current, power, connected = self.field("current"), self.field("power"), self.field("connected_strings")
        voltage = self.field("voltage")
        self._next_round()
        return Reading(
            battery_id=battery_id,
            voltage=None if voltage is None else round(voltage, 2),
            current=None if current is None else round(sign * current, 2) + 0.0,
            power=None if power is None else round(sign * power * 1000.0, 1) + 0.0,
            # Pack SOC: the minimum over strings (the limit for discharging); the maximum is in ``extra``.
            soc=self.field("soc_min"),
            soh=self.field("soh"),
            cells=cells,
            temperatures=temperatures,
            # Contactors, not MOSFETs: the charge and discharge path is closed while a string is connected.
            charge_mos=None if connected is None else connected > 0,
            discharge_mos=None if connected is None else connected > 0,
            alarms=tuple(alarms),
        ).with_derived()

    def _next_round(self) -> None:
        self.pack_fresh = False
        self.cells.seen.clear()
        self.temps.seen.clear()

    def _is_valid(self, flag: int) -> bool:
        return (flag == 1) == (self.settings.polarity is FlagPolarity.ONE_MEANS_VALID)

    def _cells(self, partial: bool) -> tuple[tuple[float, ...], list[int]]:
        count = self.cells.count()
        if count is None or (partial and not self.cells.complete()):
            return (), []
        values = [self.cells.values.get(i, (0.0, 0)) for i in range(count)]
        invalid = [i + 1 for i, (_, flag) in enumerate(values) if not self._is_valid(flag)]
        for number, (mv, flag) in enumerate(values, start=1):
            # A value the BMS calls valid but no cell can have is bad data, not a measurement
            # (13-bit field: 8191 mV is "all ones"). Flagged-invalid values only raise an alarm.
            if self._is_valid(flag) and not CELL_MV_RANGE[0] <= mv <= CELL_MV_RANGE[1]:
                raise FoxbmsProtocolError(f"cell {number}: {mv:g} mV flagged valid, outside {CELL_MV_RANGE} mV")
        return tuple(round(mv / 1000.0, 3) for mv, _ in values), invalid

    def _temperatures(self, partial: bool) -> tuple[tuple[Temperature, ...], list[int]]:
        count = self.temps.count() if self.temps_seen else 0
        if not count or (partial and not self.temps.complete()):
            return (), []
        values = [self.temps.values.get(i, (0.0, 0)) for i in range(count)]
        # An invalid sensor is left out; Temperature.sensor keeps the others' numbers.
        temps = tuple(
            Temperature(value, TemperatureKind.CELL, i + 1)
            for i, (value, flag) in enumerate(values)
            if self._is_valid(flag)
        )
        return temps, [i + 1 for i, (_, flag) in enumerate(values) if not self._is_valid(flag)]

    def _alarms(self, invalid_cells: list[int], invalid_temps: list[int]) -> list[Alarm]:
        layout = self.dbc.layout
        strings = {index: self._string_lookup(index) for index in self.strings}
        alarms = [*state_alarms(layout, self.pack, self._fatal_label), *flag_alarms(layout, self.pack, strings)]
        # Every cell invalid on a running pack usually means the flag meaning is inverted (dbc.polarity_for).
        count = self.cells.count() or 0
        hint = " (every cell: check invalid_flag or firmware)" if count > 1 and len(invalid_cells) == count else ""
        for alarm in (
            index_alarm("cell_voltage_invalid", f"Cell voltage measurement invalid (foxBMS flag){hint}", invalid_cells),
            index_alarm("temperature_invalid", "Cell temperature measurement invalid (foxBMS flag)", invalid_temps),
        ):
            if alarm is not None:
                alarms.append(alarm)
        return alarms

    def _string_lookup(self, index: int) -> Callable[[str, str], float | None]:
        store = self.strings[index]
        return lambda role, signal: self._get(store, role, signal)

    def _fatal_label(self, code: int) -> str:
        message = self.dbc.message("fatal_error")
        if message is None:
            return str(code)
        choices: Mapping[int, object] = message.signals[0].choices or {}
        return str(choices.get(code, code))
