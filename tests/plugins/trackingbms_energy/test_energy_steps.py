"""The processors around the calculators: state loaded on first use, saved regularly and at close, failing stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from trackingbms_energy import plugin
from trackingbms_energy.board import ANALYTICS_EVENT, AnalyticsBoard
from trackingbms_energy.counters import EnergyCounter
from trackingbms_energy.settings import EnergySettings
from trackingbms_energy.steps import RETRY_S, StatefulStep

from hub.bus import Event, EventBus
from hub.pipeline import Pipeline
from hub.reading import Reading
from hub.registry import Health, ServiceRegistry
from hub.specs import ProcessorSpec, Registry
from hub.storage.sqlite import SQLiteStorage
from tests.plugins.trackingbms_energy.energy_synthetic import MemoryStore, full_then_discharge, reading


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def feed(step: StatefulStep[EnergyCounter], item: Reading) -> Reading:
    """One reading through a step, which answers at once or with an awaitable (loading, saving)."""
    result = step.process(item)
    return result if isinstance(result, Reading) else await result


def energy_step(store_settings: EnergySettings | None = None) -> tuple[StatefulStep[EnergyCounter], Clock]:
    clock = Clock()
    settings = store_settings or EnergySettings.from_config({"save_interval_s": 60})
    return StatefulStep("energy", EnergyCounter.from_state, settings, AnalyticsBoard(), clock), clock


async def test_state_is_loaded_at_attach_and_saved_by_time_and_at_close() -> None:
    store = MemoryStore(["b"])
    store.state[("b", "energy")] = {"version": 1, "charged_kwh": 5.0, "discharged_kwh": 2.0}
    step, clock = energy_step()
    await step.attach(store)
    assert step.calculator("b") is not None and step.calculator("b").charged_kwh == 5.0  # type: ignore[union-attr]
    for t in range(0, 3601, 30):
        await feed(step, reading(t, power=1000.0))
        clock.now += 1  # 30 readings per minute of the clock
    assert store.saves == 2  # after 60 and 120 s of clock time, at the readings of 1800 s and 3600 s
    assert store.state[("b", "energy")]["charged_kwh"] == pytest.approx(6.0)
    await feed(step, reading(3630, power=1000.0))  # not due: kept in memory until close
    assert store.saves == 2
    await step.close()
    assert store.state[("b", "energy")]["charged_kwh"] == pytest.approx(6.0 + 1 / 120)
    assert step.board.values("b")["energy_charged_kwh"] == pytest.approx(6.0 + 1 / 120)
    await step.close()
    assert store.saves == 3  # nothing new: no second save at close
    late = reading(3660, power=1000.0)  # a reading still in flight while a reload replaces the step
    assert await feed(step, late) is late
    assert step.board.values("b")["energy_charged_kwh"] == pytest.approx(6.0 + 1 / 120)  # not counted after close


async def test_a_loaded_battery_is_counted_at_once_and_a_due_save_is_awaited() -> None:
    """No coroutine per reading: only loading and saving make the step answer with an awaitable."""
    store = MemoryStore(["b"])
    step, clock = energy_step()
    await step.attach(store)
    first = step.process(reading(0, power=1000.0))
    assert not isinstance(first, Reading)  # no saved state yet: saved at its first reading
    assert await first == reading(0, power=1000.0) and store.saves == 1
    second = reading(36, power=1000.0)
    assert step.process(second) is second  # answered at once: nothing to load or save
    assert step.board.values("b")["energy_charged_kwh"] == pytest.approx(0.01)
    clock.now += 60
    due = step.process(reading(72, power=1000.0))
    assert not isinstance(due, Reading)
    await due
    assert store.saves == 2 and store.state[("b", "energy")]["charged_kwh"] == pytest.approx(0.02)


async def test_save_every_n_readings() -> None:
    store = MemoryStore()
    step, _ = energy_step(EnergySettings.from_config({"save_interval_s": 3600, "save_every": 10}))
    await step.attach(store)
    for t in range(25):
        await feed(step, reading(t, power=100.0))
    assert store.saves == 3  # at the first reading (no saved state yet), then after 10 and 20 more


async def test_a_battery_seen_first_at_runtime_loads_its_state_then() -> None:
    store = MemoryStore()  # the battery row did not exist when the step was attached
    step, _ = energy_step()
    await step.attach(store)
    store.state[("new", "energy")] = {"charged_kwh": 1.5, "discharged_kwh": 0.5}
    await feed(step, reading(0, battery_id="new", power=10.0))
    assert step.board.values("new") == {"energy_charged_kwh": 1.5, "energy_discharged_kwh": 0.5}


async def test_unusable_saved_state_starts_over(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore(["b"])
    store.state[("b", "energy")] = {"charged_kwh": "lots"}
    step, _ = energy_step()
    await step.attach(store)
    assert step.calculator("b") is not None and step.calculator("b").charged_kwh == 0.0  # type: ignore[union-attr]
    assert "unusable" in caplog.text


async def test_a_failing_save_is_reported_counted_in_memory_and_retried() -> None:
    store = MemoryStore(["b"])
    step, clock = energy_step()
    await step.attach(store)
    store.fail_save = True
    clock.now += 61
    for t in range(0, 601, 60):
        out = await feed(step, reading(t, power=3600.0))
        assert out.battery_id == "b"
    assert set(step.board.problems) == {"energy/b"} and "disk full" in step.board.problems["energy/b"]
    assert step.board.values("b")["energy_charged_kwh"] == pytest.approx(0.6)  # still counting
    store.fail_save = False
    await feed(step, reading(660, power=3600.0))  # the retry waits
    assert store.saves == 0
    clock.now += RETRY_S
    await feed(step, reading(720, power=3600.0))
    assert store.saves == 1 and step.board.problems == {}
    assert store.state[("b", "energy")]["charged_kwh"] == pytest.approx(0.72)


async def test_a_failing_load_passes_readings_unchanged_until_the_store_answers() -> None:
    store = MemoryStore(["b"])
    store.state[("b", "energy")] = {"charged_kwh": 9.0, "discharged_kwh": 0.0}
    store.fail_load = True
    step, clock = energy_step()
    await step.attach(store)
    first = reading(0, power=1000.0)
    assert await feed(step, first) is first
    assert step.calculator("b") is None and "state not loaded" in step.board.problems["energy/b"]
    store.fail_load = False
    clock.now += RETRY_S
    await feed(step, reading(60, power=1000.0))
    assert step.board.problems == {}
    assert step.board.values("b")["energy_charged_kwh"] == 9.0  # never restarted from zero


@pytest.fixture
async def bus() -> AsyncIterator[EventBus]:
    bus = EventBus()
    yield bus
    bus.close()


def processor_registry() -> Registry[ProcessorSpec]:
    processors: Registry[ProcessorSpec] = Registry("processor")
    processors.current_plugin = "energy"
    plugin.register_processors(processors)
    return processors


async def test_the_pipeline_keeps_running_on_a_failing_store(bus: EventBus) -> None:
    registry = ServiceRegistry(bus)
    pipeline = Pipeline(bus, registry)
    processors = processor_registry()
    assert [s.order for s in sorted(processors, key=lambda s: s.order)] == [300, 310, 320, 330, 340]
    pipeline.build(processors, {"energy": {"save_interval_s": 0.001}})
    store = MemoryStore(["b"])
    store.fail_save = True
    await pipeline.attach(store)
    readings = list(full_then_discharge(true_capacity_ah=90.0))
    out = [await pipeline.run(r) for r in readings]
    assert all(r is not None for r in out)
    assert all(registry.get(f"processor.{s.name}").health == Health.OK for s in processors)  # type: ignore[union-attr]
    board = plugin.find_board(processors)
    assert board is not None and {k.split("/")[0] for k in board.problems} == {
        "energy",
        "coulomb_soc",
        "equivalent_cycles",
        "soh_estimate",
    }
    payload = board.latest("b")
    assert payload is not None and payload["soh_estimate"] == pytest.approx(90.0, abs=0.2)
    assert out[-1] is not None and out[-1].soh == pytest.approx(90.0, abs=0.2)  # filled: the BMS gave none
    store.fail_save = False
    await pipeline.close()
    assert {key for _, key in store.state} == {"energy", "coulomb_soc", "equivalent_cycles", "soh_estimate"}


async def test_the_board_publishes_one_event_per_reading_once_it_has_a_hub(bus: EventBus) -> None:
    class FakeHub:
        def __init__(self) -> None:
            self.bus = bus
            self.registry = ServiceRegistry(bus)

    events: list[Event] = []
    bus.subscribe(ANALYTICS_EVENT, events.append)
    board = AnalyticsBoard()
    board.put("b", {"energy_charged_kwh": 1.23456789, "soc_coulomb": 55.55555})
    board.publish(reading(0))  # no hub yet: kept, not published
    board.hub = FakeHub()  # type: ignore[assignment]
    payload = board.publish(reading(1))
    await bus.drain()
    assert [e.origin for e in events] == ["plugin.energy"]
    assert (
        events[0].data
        == payload
        == {
            "battery_id": "b",
            "timestamp": "2026-01-01T00:00:01Z",
            "energy_charged_kwh": 1.234568,
            "energy_discharged_kwh": None,
            "soc_coulomb": 55.556,
            "equivalent_cycles": None,
            "soh_estimate": None,
            "capacity_measured_ah": None,
        }
    )
    board.report("energy/b", "state not saved: disk full")
    assert board.hub.registry.get("plugin.energy").health == Health.DEGRADED  # type: ignore[union-attr]
    board.report("energy/b", None)
    assert board.hub.registry.get("plugin.energy").health == Health.OK  # type: ignore[union-attr]


async def test_readings_stored_after_the_last_save_are_counted_again_at_start(tmp_path: Path) -> None:
    """A crash between two saves: the next start counts the committed readings the state missed."""
    storage = SQLiteStorage(tmp_path / "crash.db")
    await storage.open()
    try:
        store = storage.for_tenant("default")
        await store.ensure_battery("b", "B", "daly")
        first, _ = energy_step()
        await first.attach(store)
        hour = [reading(t, power=1000.0) for t in range(0, 3601, 60)]
        for item in hour[:31]:  # half an hour counted and saved...
            await feed(first, item)
        await first.close()
        await store.write_readings(hour)  # ...but the whole hour was stored before the crash
        assert (await store.load_state("b", "energy") or {})["charged_kwh"] == pytest.approx(0.5)

        second, _ = energy_step()
        await second.attach(store)  # the restart
        calculator = second.calculator("b")
        assert calculator is not None
        assert calculator.charged_kwh == pytest.approx(1.0)  # continues from the stored data
        assert await feed(second, hour[-1]) is hour[-1]  # already counted: not twice
        await feed(second, reading(3660, power=1000.0))
        assert calculator.charged_kwh == pytest.approx(1.0 + 1 / 60)
    finally:
        await storage.close()


@pytest.mark.parametrize("sub_ms", [0.0, 0.0003, 0.0007, 0.000999])
async def test_the_reading_at_the_saved_time_seeds_the_catch_up(tmp_path: Path, sub_ms: float) -> None:
    """Storage keeps whole milliseconds (truncated): the reading the state was saved at must seed
    the catch-up whatever its sub-millisecond part, or the first interval after it is lost."""
    storage = SQLiteStorage(tmp_path / "crash.db")
    await storage.open()
    try:
        store = storage.for_tenant("default")
        await store.ensure_battery("b", "B", "daly")
        first, _ = energy_step(EnergySettings.from_config({"save_interval_s": 3600}))
        await first.attach(store)
        minutes = [reading(t + 0.227 + sub_ms, power=1000.0) for t in range(0, 601, 60)]
        await feed(first, minutes[0])  # no state yet: saved at once, as of this reading
        await store.write_readings(minutes)  # then ten minutes stored, and a crash before any save

        second, _ = energy_step()
        await second.attach(store)  # the restart counts the stored readings after the saved one
        calculator = second.calculator("b")
        assert calculator is not None
        assert calculator.charged_kwh == pytest.approx(1000 * 600 / 3600 / 1000)  # every interval
    finally:
        await storage.close()


def test_the_board_works_out_a_readings_seconds_once_for_every_step() -> None:
    board = AnalyticsBoard()
    first = reading(1.5)
    assert board.seconds(first) == first.timestamp.timestamp()
    assert board.seconds(reading(1.5, power=2.0)) == first.timestamp.timestamp()  # an equal time, another object
    assert board.seconds(reading(7.25)) == reading(7.25).timestamp.timestamp()
    results = board.results("b")
    results["soc_coulomb"] = 50.0  # what a step writes in place is what the board publishes
    assert board.values("b") == {"soc_coulomb": 50.0} and board.publish(first)["soc_coulomb"] == 50.0
