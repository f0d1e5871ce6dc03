"""The pipeline steps: one per concern, each keeping its per-battery state in the tenant store."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from hub.reading import Reading
from hub.storage.base import TenantStore
from hub.storage.rollups import Sample, from_millis
from trackingbms_energy.board import AnalyticsBoard
from trackingbms_energy.counters import Calculator, CycleCounter, EnergyCounter
from trackingbms_energy.settings import BatterySettings, EnergySettings
from trackingbms_energy.soc import CoulombSoc
from trackingbms_energy.soh import SohEstimator

_LOGGER = logging.getLogger(__name__)
# After a failed load or save, the store is tried again this many seconds later (at most).
RETRY_S = 5.0
# The saved state records the time of the last reading it counted; at the next start the readings
# stored after it (committed, but counted after the last save: a crash, a SIGKILL, a power cut)
# are counted again from storage, so the counters continue exactly from the stored data.
AS_OF = "as_of"

C = TypeVar("C", bound=Calculator)
Restore = Callable[[BatterySettings, Mapping[str, Any] | None], C]


@dataclass(slots=True)
class _Slot(Generic[C]):
    """One battery's calculator with its save bookkeeping."""

    calculator: C
    next_save: float
    pending: int = 0  # readings since the last successful save
    retry_at: float = 0.0
    last_ts: float | None = None  # epoch seconds of the newest reading counted
    results: dict[str, float | None] = field(default_factory=dict)  # the battery's entry on the board


def _reading(battery_id: str, sample: Sample) -> Reading:
    """A stored sample as a reading with the values the calculators integrate."""
    voltage, current, power, soc = sample.values[:4]
    return Reading(battery_id, timestamp=from_millis(sample.ts), voltage=voltage, current=current, power=power, soc=soc)


def _stored_millis(seconds: float) -> int:
    """The millisecond a reading taken at ``seconds`` is stored under: storage truncates
    (hub.storage.packing.to_millis). Rounding instead skipped the reading at ``as_of`` half of the
    time, and with it the first interval after the saved state (seen as a 1 % kWh shortfall after a
    SIGKILL). The guard absorbs float error; timestamps carry whole microseconds."""
    return math.floor(seconds * 1000 + 0.0005)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


class StatefulStep(Generic[C]):
    """Runs a calculator per battery; loads its state on first use and saves it regularly and at close.

    A store that fails is reported on the board and retried; meanwhile readings pass unchanged
    (state not loaded yet) or are counted in memory (state not saved yet).
    """

    def __init__(
        self,
        key: str,
        restore: Restore[C],
        settings: EnergySettings,
        board: AnalyticsBoard,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key  # the processor name and the state key in the store
        self.restore = restore
        self.settings = settings
        self.board = board
        self.clock = clock
        self.store: TenantStore | None = None
        self._slots: dict[str, _Slot[C]] = {}
        self._load_retry: dict[str, float] = {}
        self.closed = False  # after close() (shutdown, or a reload building new steps) nothing more is counted

    def calculator(self, battery_id: str) -> C | None:
        """The battery's calculator (the per-battery results), or None before its first reading."""
        slot = self._slots.get(battery_id)
        return None if slot is None else slot.calculator

    async def attach(self, store: TenantStore) -> None:
        """Keep the store and load the saved state of every known battery (others load on first use)."""
        self.store = store
        try:
            records = await store.batteries()
        except Exception as err:
            _LOGGER.warning("Processor %s could not list batteries: %s", self.key, _describe(err))
            return
        for record in records:
            await self._slot(record.id)

    async def _catch_up(self, battery_id: str, slot: _Slot[C], as_of: float, until: float | None) -> None:
        """Count the stored readings from ``as_of`` (inclusive: it seeds the integration) to ``until``."""
        if self.store is None:
            return
        start = from_millis(_stored_millis(as_of))
        end = None if until is None else from_millis(_stored_millis(until) - 1)
        counted = 0
        async for chunk in self.store.iter_samples(battery_id, start, end):
            for sample in chunk:
                slot.calculator.update(_reading(battery_id, sample))
                slot.last_ts = sample.ts / 1000
            counted += len(chunk)
        if counted > 1:
            slot.pending += counted - 1
            _LOGGER.info("Processor %s: counted %d stored readings of %s again", self.key, counted - 1, battery_id)

    def process(self, reading: Reading) -> Reading | Awaitable[Reading]:
        """Update the battery's calculator, publish its results on the board, save when due.

        Answers at once when the battery's state is loaded and no save is due (nearly every
        reading: no coroutine per reading and step); an awaitable when it loads or saves first.
        """
        if self.closed:
            return reading  # saved for the last time: a reading still in flight during a reload is not counted
        slot = self._slots.get(reading.battery_id)
        if slot is None:
            return self._load_and_count(reading)
        return self._count(slot, reading)

    async def _load_and_count(self, reading: Reading) -> Reading:
        slot = await self._slot(reading.battery_id, reading.timestamp.timestamp())
        if slot is None:
            return reading  # its saved state could not be read yet: counting from zero would lose it
        result = self._count(slot, reading)
        return result if isinstance(result, Reading) else await result

    def _count(self, slot: _Slot[C], reading: Reading) -> Reading | Awaitable[Reading]:
        timestamp, last, calculator = self.board.seconds(reading), slot.last_ts, slot.calculator
        if last is not None and timestamp <= last:
            return self.finish(calculator, reading)  # already counted (from storage at start)
        calculator.update(reading, timestamp)
        slot.last_ts = timestamp
        slot.results.update(calculator.values())  # board.put(), without its lookups
        slot.pending += 1
        now = self.clock()
        due = now >= slot.next_save or 0 < self.settings.save_every <= slot.pending
        if due and now >= slot.retry_at:
            return self._save_and_finish(reading, slot, now)
        return self.finish(calculator, reading)

    async def _save_and_finish(self, reading: Reading, slot: _Slot[C], now: float) -> Reading:
        await self._save(reading.battery_id, slot, now)
        return self.finish(slot.calculator, reading)

    def finish(self, calculator: C, reading: Reading) -> Reading:
        """The reading passed on (unchanged unless a step fills a field)."""
        return reading

    async def close(self) -> None:
        """Save every battery's state that changed since its last save."""
        self.closed = True
        for battery_id, slot in list(self._slots.items()):
            if slot.pending:
                await self._save(battery_id, slot, self.clock())

    async def _slot(self, battery_id: str, until: float | None = None) -> _Slot[C] | None:
        slot = self._slots.get(battery_id)
        if slot is not None:
            return slot
        now = self.clock()
        if now < self._load_retry.get(battery_id, 0.0):
            return None
        try:
            state = None if self.store is None else await self.store.load_state(battery_id, self.key)
            # A battery without saved state saves at its first reading: from then on a crash can
            # only lose what storage lost too (see AS_OF).
            next_save = now + self.settings.save_interval_s if state else now
            slot = _Slot(self._restored(battery_id, state), next_save, results=self.board.results(battery_id))
            as_of = state.get(AS_OF) if state else None
            if isinstance(as_of, int | float):
                slot.last_ts = float(as_of)
                await self._catch_up(battery_id, slot, float(as_of), until)
        except Exception as err:
            self._load_retry[battery_id] = now + RETRY_S
            self._problem(battery_id, f"state not loaded: {_describe(err)}")
            return None
        self._load_retry.pop(battery_id, None)
        self._problem(battery_id, None)
        self._slots[battery_id] = slot
        return slot

    def _restored(self, battery_id: str, state: Mapping[str, Any] | None) -> C:
        settings = self.settings.for_battery(battery_id)
        try:
            return self.restore(settings, state)
        except (ValueError, TypeError) as err:
            _LOGGER.error("Processor %s: saved state of %s is unusable, starting over: %s", self.key, battery_id, err)
            return self.restore(settings, None)

    async def _save(self, battery_id: str, slot: _Slot[C], now: float) -> None:
        if self.store is None:
            slot.pending, slot.next_save = 0, now + self.settings.save_interval_s
            return
        try:
            state = slot.calculator.to_state()
            if slot.last_ts is not None:
                state[AS_OF] = slot.last_ts
            await self.store.save_state(battery_id, self.key, state)
        except Exception as err:
            slot.retry_at = now + min(RETRY_S, self.settings.save_interval_s)
            self._problem(battery_id, f"state not saved: {_describe(err)}")
            return
        slot.pending, slot.next_save = 0, now + self.settings.save_interval_s
        self._problem(battery_id, None)

    def _problem(self, battery_id: str, problem: str | None) -> None:
        source = f"{self.key}/{battery_id}"
        known = self.board.problems.get(source)
        if problem is not None and known is None:
            _LOGGER.warning("Processor %s, battery %s: %s (will retry)", self.key, battery_id, problem)
        elif problem is None and known is not None:
            _LOGGER.info("Processor %s, battery %s: the state store works again", self.key, battery_id)
        if problem is not None or known is not None:
            self.board.report(source, problem)  # again on every retry: the hub may have reset the health


class SohStep(StatefulStep[SohEstimator]):
    """The SOH estimate; also fills ``Reading.soh`` when the BMS gives none."""

    def finish(self, calculator: SohEstimator, reading: Reading) -> Reading:
        """The reading with the estimate as its soh, if it had none."""
        return calculator.fill(reading)


class PublishStep:
    """Runs last: gathers the battery's results into one payload and publishes ``data.bms.analytics``."""

    def __init__(self, board: AnalyticsBoard) -> None:
        self.board = board

    def process(self, reading: Reading) -> Reading:
        """Publish, and pass the reading on unchanged."""
        self.board.publish(reading)
        return reading


# Processor name (also its state key), order, description, and how its step is built.
ENERGY, COULOMB_SOC, CYCLES, SOH, ANALYTICS = "energy", "coulomb_soc", "equivalent_cycles", "soh_estimate", "analytics"


def energy_step(settings: EnergySettings, board: AnalyticsBoard) -> StatefulStep[EnergyCounter]:
    """kWh charged and discharged."""
    return StatefulStep(ENERGY, EnergyCounter.from_state, settings, board)


def soc_step(settings: EnergySettings, board: AnalyticsBoard) -> StatefulStep[CoulombSoc]:
    """Coulomb-counted SOC."""
    return StatefulStep(COULOMB_SOC, CoulombSoc.from_state, settings, board)


def cycles_step(settings: EnergySettings, board: AnalyticsBoard) -> StatefulStep[CycleCounter]:
    """Equivalent full cycles."""
    return StatefulStep(CYCLES, CycleCounter.from_state, settings, board)


def soh_step(settings: EnergySettings, board: AnalyticsBoard) -> SohStep:
    """SOH estimate."""
    return SohStep(SOH, SohEstimator.from_state, settings, board)


def publish_step(settings: EnergySettings, board: AnalyticsBoard) -> PublishStep:
    """The analytics event."""
    return PublishStep(board)
