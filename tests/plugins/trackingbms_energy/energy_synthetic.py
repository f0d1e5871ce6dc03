"""Synthetic readings and an in-memory state store for the analytics tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.reading import CellExtreme, Reading
from hub.storage.base import BatteryRecord, StorageError
from hub.storage.rollups import Sample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def reading(
    t: float,
    *,
    battery_id: str = "b",
    power: float | None = None,
    voltage: float | None = None,
    current: float | None = None,
    soc: float | None = None,
    soh: float | None = None,
    cell_max: float | None = None,
    cell_min: float | None = None,
    rated: float | None = 100.0,
) -> Reading:
    """A reading ``t`` seconds after T0."""
    return Reading(
        battery_id=battery_id,
        timestamp=T0 + timedelta(seconds=t),
        voltage=voltage,
        current=current,
        power=power,
        soc=soc,
        soh=soh,
        cell_max=None if cell_max is None else CellExtreme(cell_max, 1),
        cell_min=None if cell_min is None else CellExtreme(cell_min, 2),
        rated_capacity_ah=rated,
    )


def full_then_discharge(
    *,
    true_capacity_ah: float,
    rated_ah: float = 100.0,
    current_a: float = -45.0,
    stop_soc: float = 0.0,
    step_s: float = 10.0,
    with_soc: bool = True,
) -> Iterator[Reading]:
    """A full pack at rest, then a constant discharge down to ``stop_soc`` of its true capacity.

    The BMS SOC (when given) follows the true capacity; the lowest cell falls to 2.7 V at empty.
    """
    yield reading(0, current=0.0, soc=100.0 if with_soc else None, cell_max=3.60, cell_min=3.45, rated=rated_ah)
    hours_to_stop = true_capacity_ah * (100.0 - stop_soc) / 100.0 / -current_a
    steps = round(hours_to_stop * 3600 / step_s)
    for i in range(1, steps + 1):
        t = i * step_s
        true_soc = max(0.0, 100.0 - 100.0 * (-current_a * t / 3600.0) / true_capacity_ah)
        cell_min = 2.7 if true_soc <= 0.0 else 3.25
        soc = round(true_soc, 6) if with_soc else None
        yield reading(t, current=current_a, soc=soc, cell_max=3.30, cell_min=cell_min, rated=rated_ah)


def then_charge(last: Reading, *, current_a: float, seconds: float, step_s: float = 10.0) -> Iterator[Reading]:
    """Readings charging at ``current_a`` after ``last`` (SOC and cells left out)."""
    start = (last.timestamp - T0).total_seconds()
    for i in range(1, round(seconds / step_s) + 1):
        yield reading(start + i * step_s, current=current_a, rated=last.rated_capacity_ah)


class MemoryStore:
    """The parts of a tenant store the processors use (battery list, state, stored samples), in
    memory, where a failing load or save can be switched on; it holds no readings."""

    tenant_id = "test"

    def __init__(self, battery_ids: Sequence[str] = ()) -> None:
        self.state: dict[tuple[str, str], dict[str, Any]] = {}
        self.battery_ids = list(battery_ids)
        self.fail_load = False
        self.fail_save = False
        self.saves = 0

    async def load_state(self, battery_id: str, key: str) -> dict[str, Any] | None:
        if self.fail_load:
            raise StorageError("disk on fire")
        value = self.state.get((battery_id, key))
        return None if value is None else dict(value)

    async def save_state(self, battery_id: str, key: str, value: dict[str, Any]) -> None:
        if self.fail_save:
            raise StorageError("disk full")
        self.saves += 1
        self.state[(battery_id, key)] = dict(value)

    async def batteries(self) -> list[BatteryRecord]:
        return [BatteryRecord(b, b, "daly") for b in self.battery_ids]

    async def iter_samples(
        self, battery_id: str, start: datetime | None, end: datetime | None, chunk: int = 5000
    ) -> AsyncIterator[list[Sample]]:
        for _ in ():  # no readings are stored here: nothing to count again at a restart
            yield []
