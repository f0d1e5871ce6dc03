"""What a foxBMS master broadcasts each 100 ms cycle, encoded from the DBC (pure: no I/O)."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from hub.faults import Fault, FaultInjector
from hub.simulation import PackModel, PackSnapshot
from trackingbms_foxbms.assembly import CurrentSign
from trackingbms_foxbms.bus import Frame
from trackingbms_foxbms.codec import encode_frame
from trackingbms_foxbms.dbc import FlagPolarity, FoxbmsDbc
from trackingbms_foxbms.tables import FIELDS, FLAGS, STRING_FIELDS

__all__ = ["SIM_FLAGS", "BroadcastSettings", "FoxbmsBroadcaster"]

# Flags a simulator can raise: every FlagSpec code, plus the ERROR state and a fatal error frame.
SIM_FLAGS = frozenset({spec.code for spec in FLAGS} | {"bms_error_state", "fatal_error"})
# 13-bit cell voltage field at its maximum: an implausible value for the JUNK_CELLS fault.
_JUNK_MV = 8191
_NORMAL, _ERROR = 7, 10  # BmsState value table
_RUNNING = 5  # SYS_FSM_STATE_RUNNING
_OVERVOLTAGE_MSL = 17  # DIAG_ID_CELL_VOLTAGE_OVERVOLTAGE_MSL
_SLOW_EVERY = 10  # 1000 ms messages every 10th 100 ms cycle (can_cfg_tx-cyclic-message-definitions.h)
_TEMP_EVERY = 2  # one temperature frame per 200 ms (legacy.md §1.5)
_DBC_CELL_FRAMES = 54  # mux 0-53 in the DBC


@dataclass(frozen=True, slots=True)
class BroadcastSettings:
    """How the simulated master is built and what it reports besides the pack model."""

    current_sign: CurrentSign = CurrentSign.DISCHARGE_POSITIVE
    polarity: FlagPolarity = FlagPolarity.ONE_MEANS_VALID
    invalid_cells: frozenset[int] = frozenset()  # 1-based global cell numbers flagged invalid
    invalid_temps: frozenset[int] = frozenset()
    flags: frozenset[str] = frozenset()  # SIM_FLAGS codes to raise
    seed: int | None = None


@dataclass(slots=True)
class _Cycle:
    """One multiplexed array's position: the values read at mux 0 and the next mux to send."""

    per_frame: int
    values: list[float] = field(default_factory=list)
    mux: int = 0
    frames: int = 1
    junk: bool = False


class FoxbmsBroadcaster:
    """Turns pack models (one per string) into the frames of each 100 ms cycle, with CAN faults."""

    def __init__(
        self,
        dbc: FoxbmsDbc,
        packs: Sequence[PackModel],
        settings: BroadcastSettings,
        faults: FaultInjector | None = None,
    ) -> None:
        self.dbc = dbc
        self.packs = list(packs)
        self.settings = settings
        self.faults = faults or FaultInjector(settings.seed)
        self._rng = random.Random(settings.seed)
        self.ticks = 0
        self._cells = _Cycle(4)
        self._temps = _Cycle(6)

    def tick(self) -> list[Frame]:
        """The frames of one 100 ms cycle (none while the ASLEEP fault is on)."""
        self.ticks += 1
        snaps = [pack.snapshot() for pack in self.packs]
        if self.faults.use(Fault.ASLEEP):
            return []
        frames = self._pack_frames(snaps)
        for index, snap in enumerate(snaps):
            frames += self._string_frames(index, snap)
        frames += self._cell_frames(snaps)
        if self.ticks % _TEMP_EVERY == 0:
            frames += self._temperature_frames(snaps)
        return self._link_faults(frames)

    def _sign(self) -> float:
        flip = self.faults.use(Fault.INVERTED_CURRENT)  # a build with the other current sign
        charge_positive = (self.settings.current_sign is CurrentSign.CHARGE_POSITIVE) != flip
        return 1.0 if charge_positive else -1.0

    def _encode(self, values: dict[str, float], mux: int | None = None, flag_role: str = "") -> list[Frame]:
        """Encode canonical values (FIELDS, or STRING_FIELDS with a mux) and the raised flags of a role."""
        by_role: dict[str, dict[str, float]] = defaultdict(dict)
        table = FIELDS if mux is None else STRING_FIELDS
        for name, value in values.items():
            where = table[name].get(self.dbc.layout)
            if where is not None and self.dbc.message(where[0]) is not None:
                by_role[where[0]][where[1]] = value
        for spec in FLAGS:
            if spec.role == flag_role and spec.code in self.settings.flags and self.dbc.layout in spec.names:
                by_role[flag_role][spec.names[self.dbc.layout]] = 1.0
        return [encode_frame(self.dbc, role, signals, mux) for role, signals in by_role.items()]

    def _pack_frames(self, snaps: list[PackSnapshot]) -> list[Frame]:
        sign = self._sign()
        voltage = sum(s.voltage for s in snaps) / len(snaps)  # strings are in parallel
        current = sign * sum(s.current for s in snaps)
        cells = [v for s in snaps for v in s.cell_voltages]
        temps = [t for s in snaps for t in s.temperatures] or [0.0]
        capacity = sum(s.rated_capacity_ah for s in snaps)
        values = {
            "voltage": voltage,
            "bus_voltage": voltage - 0.1,
            "current": current,
            "power": voltage * current / 1000.0,
            "cell_voltage_max_mv": max(cells) * 1000.0,
            "cell_voltage_min_mv": min(cells) * 1000.0,
            "cell_temperature_max": max(temps),
            "cell_temperature_min": min(temps),
            "max_charge_current": capacity * 0.5,
            "max_discharge_current": capacity,
            "max_charge_power_kw": voltage * capacity * 0.5 / 1000.0,
            "max_discharge_power_kw": voltage * capacity / 1000.0,
            "max_battery_voltage": 3.65 * len(snaps[0].cell_voltages),
            "min_battery_voltage": 2.5 * len(snaps[0].cell_voltages),
            "bms_state": _ERROR if "bms_error_state" in self.settings.flags else _NORMAL,
            "connected_strings": sum(1 for s in snaps if s.charge_mos and s.discharge_mos),
            "insulation_resistance_kohm": 10_000,
            "insulation_monitor_kohm": 10_003,
            "system_state": _RUNNING,
        }
        if self.ticks % _SLOW_EVERY == 1:
            soc = [s.soc for s in snaps]
            energy = sum(s.voltage * s.remaining_capacity_ah for s in snaps) / 1000.0
            values.update(soc_min=min(soc), soc_max=max(soc), soe_min=min(soc), soe_max=max(soc))
            values.update(soh=100.0, energy_kwh=energy)
            if "fatal_error" in self.settings.flags:
                values["fatal_error"] = _OVERVOLTAGE_MSL
        frames = self._encode(values, flag_role="bms_state")
        if self.ticks % _SLOW_EVERY == 1 and self.dbc.message("bms_state_details") is not None:
            frames.append(encode_frame(self.dbc, "bms_state_details", {}))  # no timing violations
        return frames

    def _string_frames(self, index: int, snap: PackSnapshot) -> list[Frame]:
        current = self._sign() * snap.current
        values = {
            "voltage": snap.voltage,
            "current": current,
            "power_kw": snap.voltage * current / 1000.0,
            "cell_voltage_max_mv": max(snap.cell_voltages) * 1000.0,
            "cell_voltage_min_mv": min(snap.cell_voltages) * 1000.0,
            "cell_temperature_max": max(snap.temperatures, default=0.0),
            "cell_temperature_min": min(snap.temperatures, default=0.0),
            "energy_counter_wh": snap.voltage * snap.remaining_capacity_ah,
            "connected": float(snap.charge_mos and snap.discharge_mos),
            "balancing": float(bool(snap.balancing)),
        }
        if self.ticks % _SLOW_EVERY == 1:
            values.update(soc_min=snap.soc, soc_max=snap.soc, soh=100.0)
            values["energy_kwh"] = snap.voltage * snap.remaining_capacity_ah / 1000.0
        return self._encode(values, mux=index, flag_role="string_state")

    def _cell_frames(self, snaps: list[PackSnapshot]) -> list[Frame]:
        cycle = self._cells
        if cycle.mux == 0:  # the firmware reads the database at mux 0 (DATA_READ_DATA)
            cycle.values = [v * 1000.0 for s in snaps for v in s.cell_voltages]
            every = self.faults.use(Fault.ALL_CELL_FRAMES)
            cycle.frames = _DBC_CELL_FRAMES if every else math.ceil(len(cycle.values) / 4)
            cycle.junk = self.faults.use(Fault.JUNK_CELLS)
        mux = cycle.mux
        cycle.mux = (mux + 1) % cycle.frames
        if mux == cycle.frames - 1 and self.faults.use(Fault.TRUNCATED):
            return []  # the last multiplexed frame of this cycle never arrives
        values = [float(_JUNK_MV)] * len(cycle.values) if cycle.junk else cycle.values
        return [self._slots_frame("cell_voltages", mux, values, self.settings.invalid_cells)]

    def _temperature_frames(self, snaps: list[PackSnapshot]) -> list[Frame]:
        cycle = self._temps
        if cycle.mux == 0:
            cycle.values = [t for s in snaps for t in s.temperatures]
            cycle.frames = max(1, math.ceil(len(cycle.values) / 6))
        if not cycle.values:
            return []
        mux = cycle.mux
        cycle.mux = (mux + 1) % cycle.frames
        return [self._slots_frame("cell_temperatures", mux, cycle.values, self.settings.invalid_temps)]

    def _slots_frame(self, role: str, mux: int, values: list[float], invalid: frozenset[int]) -> Frame:
        slots = (self.dbc.cell_slots if role == "cell_voltages" else self.dbc.temp_slots).get(mux, ())
        one_valid = self.settings.polarity is FlagPolarity.ONE_MEANS_VALID
        signals: dict[str, float] = {}
        for slot in slots:
            if slot.index >= len(values):
                continue  # unused slots stay 0 with flag 0 (legacy.md §1.5)
            signals[slot.value] = round(values[slot.index])
            if slot.flag is not None:
                signals[slot.flag] = float((slot.index + 1 not in invalid) == one_valid)
        return encode_frame(self.dbc, role, signals, mux)

    def _link_faults(self, frames: list[Frame]) -> list[Frame]:
        if frames and self.faults.use(Fault.BAD_CHECKSUM):
            # A frame with a CRC error is discarded by every receiver: one frame of the cycle is lost.
            frames.pop(self._rng.randrange(len(frames)))
        if self.faults.use(Fault.GARBAGE):
            frames = [*self.garbage(), *frames]
        return frames

    def garbage(self) -> list[Frame]:
        """Another node's traffic: an identifier not in the DBC, and a known one with a short DLC."""
        known = {m.frame_id for m in self.dbc.db.messages}
        foreign = self._rng.choice([i for i in range(0x600, 0x700) if i not in known])
        pack_values = self.dbc.messages["pack_values"].frame_id
        return [(foreign, self._rng.randbytes(8)), (pack_values, self._rng.randbytes(3))]
