"""A physical battery-pack model shared by every device simulator."""

from __future__ import annotations

import argparse
import bisect
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.faults import Fault

# LiFePO4 open-circuit voltage per cell against state of charge (%). Typical published
# figures for LFP cells at 25 °C; the flat plateau between 20 % and 90 % is the point.
_LFP_OCV: tuple[tuple[float, float], ...] = (
    (0.0, 2.50),
    (5.0, 3.00),
    (10.0, 3.16),
    (20.0, 3.22),
    (30.0, 3.25),
    (40.0, 3.27),
    (50.0, 3.29),
    (60.0, 3.30),
    (70.0, 3.31),
    (80.0, 3.33),
    (90.0, 3.35),
    (95.0, 3.40),
    (100.0, 3.55),
)
_OCV_SOC = [p[0] for p in _LFP_OCV]
# Internal resistance per cell (ohm): turns current into the voltage lift/sag under load.
_CELL_RESISTANCE = 0.0008


def ocv(soc: float) -> float:
    """Open-circuit cell voltage (V) for a state of charge (%), linearly interpolated."""
    soc = min(100.0, max(0.0, soc))
    i = bisect.bisect_right(_OCV_SOC, soc)
    if i >= len(_LFP_OCV):
        return _LFP_OCV[-1][1]
    (s0, v0), (s1, v1) = _LFP_OCV[i - 1], _LFP_OCV[i]
    return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)


def solar_day_current(t: float, period_s: float = 600.0, peak_a: float = 40.0) -> float:
    """A compressed solar day: charge in the first half of the period, discharge after."""
    phase = (t % period_s) / period_s
    return peak_a * math.sin(2 * math.pi * phase)


@dataclass(frozen=True, slots=True)
class PackSnapshot:
    """The pack's physical state at one instant; current is positive while charging."""

    cell_voltages: tuple[float, ...]
    current: float
    soc: float
    temperatures: tuple[float, ...]
    mos_temperature: float
    charge_mos: bool
    discharge_mos: bool
    balancing: tuple[int, ...]
    cycles: int
    remaining_capacity_ah: float
    rated_capacity_ah: float

    @property
    def voltage(self) -> float:
        """Pack voltage (V): the sum of the cell voltages."""
        return sum(self.cell_voltages)


class PackModel:
    """A pack of series cells with SOC that follows the current and heat that follows I²R."""

    def __init__(
        self,
        cells: int = 16,
        temps: int = 2,
        capacity_ah: float = 100.0,
        soc: float = 60.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        current_profile: Callable[[float], float] = solar_day_current,
        phase: float | None = None,
    ) -> None:
        if not 1 <= cells <= 48:
            raise ValueError("cells must be between 1 and 48")
        if not 0 <= temps <= 16:
            raise ValueError("temps must be between 0 and 16")
        self.cells = cells
        self.temps = temps
        self.capacity_ah = capacity_ah
        self._rng = random.Random(seed)
        self._clock = clock
        self._profile = current_profile
        # Each pack starts at its own point of the day, so two simulated packs differ.
        self._phase = self._rng.uniform(0.0, 600.0) if phase is None else phase
        self._start = clock()
        self._last = self._start
        self._soc = soc
        self._throughput_ah = 0.0
        self._temperature = 22.0
        # Manufacturing spread: each cell holds a slightly different capacity and offset.
        self._cell_offsets = [self._rng.uniform(-0.006, 0.006) for _ in range(cells)]
        self._sensor_offsets = [self._rng.uniform(-0.8, 0.8) for _ in range(temps)]
        self.charge_mos = True
        self.discharge_mos = True

    def set_soc(self, soc: float) -> None:
        """Recalibrate the state of charge (%), as a BMS 'set SOC' command does."""
        if not 0.0 <= soc <= 100.0:
            raise ValueError("soc must be between 0 and 100")
        self._soc = soc

    def _current_now(self, elapsed: float) -> float:
        current = self._profile(elapsed + self._phase)
        if current > 0 and (not self.charge_mos or self._soc >= 100.0):
            return 0.0
        if current < 0 and (not self.discharge_mos or self._soc <= 0.0):
            return 0.0
        return current

    def _advance(self, now: float) -> float:
        dt = max(0.0, now - self._last)
        self._last = now
        current = self._current_now(now - self._start)
        delta_ah = current * dt / 3600.0
        self._soc = min(100.0, max(0.0, self._soc + 100.0 * delta_ah / self.capacity_ah))
        self._throughput_ah += abs(delta_ah)
        # First-order thermal model: I²R heating against cooling towards 22 °C ambient.
        heating = (current**2) * _CELL_RESISTANCE * self.cells * 0.02
        self._temperature += dt * (heating - (self._temperature - 22.0) * 0.01)
        return current

    def snapshot(self) -> PackSnapshot:
        """Advance the model to the clock's current time and return its state."""
        current = self._advance(self._clock())
        base = ocv(self._soc) + current * _CELL_RESISTANCE
        cells = tuple(round(base + off + self._rng.uniform(-0.001, 0.001), 3) for off in self._cell_offsets)
        top = max(cells)
        balancing = tuple(i + 1 for i, v in enumerate(cells) if current > 0 and v - min(cells) > 0.008 and v == top)
        temps = tuple(round(self._temperature + off, 1) for off in self._sensor_offsets)
        return PackSnapshot(
            cell_voltages=cells,
            current=round(current, 1),
            soc=round(self._soc, 1),
            temperatures=temps,
            mos_temperature=round(self._temperature + 3.0, 1),
            charge_mos=self.charge_mos,
            discharge_mos=self.discharge_mos,
            balancing=balancing,
            cycles=int(self._throughput_ah / (2 * self.capacity_ah)),
            remaining_capacity_ah=round(self.capacity_ah * self._soc / 100.0, 1),
            rated_capacity_ah=self.capacity_ah,
        )


def packs_for(options: Mapping[str, Any], count: int) -> list[PackModel]:
    """One pack per simulated board from the keys every simulator shares (seeds differ per board)."""
    seed = options.get("seed")
    return [
        PackModel(
            cells=options.get("cells", 16),
            temps=options.get("temps", 2),
            capacity_ah=options.get("capacity_ah", 100.0),
            soc=options.get("soc", 60.0),
            seed=None if seed is None else seed + index,
        )
        for index in range(count)
    ]


def add_pack_arguments(parser: argparse.ArgumentParser, cells: str, temps: str) -> None:
    """The simulator options every device simulator shares (pack, pacing, faults)."""
    parser.add_argument("--cells", type=int, default=16, help=f"cells in series ({cells})")
    parser.add_argument("--temps", type=int, default=2, help=f"temperature sensors ({temps})")
    parser.add_argument("--capacity", type=float, default=100.0, help="capacity in Ah")
    parser.add_argument("--soc", type=float, default=60.0, help="initial state of charge in %%")
    parser.add_argument("--seed", type=int, help="random seed for reproducible packs")
    parser.add_argument("--pace", action="store_true", help="send answers at the 9600 baud line rate")
    parser.add_argument("--invert-current", action="store_true", help="send discharge as positive current")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="FAULT",
        help=f"inject a fault for every answer; one of: {', '.join(f.value for f in Fault)}",
    )


def pack_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The shared options as ``simulators`` entry keys (see add_pack_arguments)."""
    entry: dict[str, Any] = {
        "cells": args.cells,
        "temps": args.temps,
        "capacity_ah": args.capacity,
        "soc": args.soc,
        "pace": args.pace,
        "invert_current": args.invert_current,
        "faults": args.fault,
    }
    if args.seed is not None:
        entry["seed"] = args.seed
    return entry
