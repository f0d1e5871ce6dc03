"""Tests for the reading pipeline: step order, dropping, failing steps, async steps, bus in and out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from hub.bus import DATA_BMS_NEW, DATA_BMS_RAW, Event, EventBus
from hub.pipeline import Pipeline
from hub.reading import Reading
from hub.registry import Health, ServiceRegistry
from hub.specs import ProcessorSpec, Registry


class Step:
    """A processor that records its name and applies a change."""

    def __init__(self, name: str, calls: list[str], change: Callable[[Reading], Reading | None]) -> None:
        self.name = name
        self.calls = calls
        self.change = change

    def process(self, reading: Reading) -> Reading | None:
        self.calls.append(self.name)
        return self.change(reading)


class AsyncStep(Step):
    async def process(self, reading: Reading) -> Reading | None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.calls.append(self.name)
        return self.change(reading)


def keep(reading: Reading) -> Reading:
    return reading


class Specs:
    """A processor registry filled as plugins would fill it."""

    def __init__(self) -> None:
        self.registry: Registry[ProcessorSpec] = Registry("processor")
        self.calls: list[str] = []

    def add(
        self,
        name: str,
        order: int,
        change: Callable[[Reading], Reading | None] = keep,
        *,
        kind: type[Step] = Step,
        plugin: str = "plug",
    ) -> None:
        self.registry.current_plugin = plugin
        self.registry.add(ProcessorSpec(name, lambda config: kind(name, self.calls, change), order=order))


@pytest.fixture
async def bus() -> AsyncIterator[EventBus]:
    bus = EventBus()
    yield bus
    bus.close()


@pytest.fixture
def registry(bus: EventBus) -> ServiceRegistry:
    return ServiceRegistry(bus)


@pytest.fixture
def specs() -> Specs:
    return Specs()


@pytest.fixture
def pipeline(bus: EventBus, registry: ServiceRegistry) -> Pipeline:
    return Pipeline(bus, registry)


async def test_steps_run_in_order_then_name(pipeline: Pipeline, specs: Specs) -> None:
    specs.add("stats", 300)
    specs.add("validate", 100)
    specs.add("b-derive", 200)
    specs.add("a-derive", 200)
    pipeline.build(specs.registry, {})
    assert [name for name, _ in pipeline.steps] == ["validate", "a-derive", "b-derive", "stats"]
    await pipeline.run(Reading("pack"))
    assert specs.calls == ["validate", "a-derive", "b-derive", "stats"]


async def test_each_step_sees_the_previous_steps_result(pipeline: Pipeline, specs: Specs) -> None:
    specs.add("double", 200, lambda r: r.replace(voltage=(r.voltage or 0) * 2))
    specs.add("add-one", 100, lambda r: r.replace(voltage=(r.voltage or 0) + 1))
    pipeline.build(specs.registry, {})
    result = await pipeline.run(Reading("pack", voltage=10.0))
    assert result is not None
    assert result.voltage == 22.0


async def test_step_returning_none_drops_the_reading(pipeline: Pipeline, specs: Specs) -> None:
    specs.add("validate", 100, lambda r: None if (r.soc or 0) > 100 else r)
    specs.add("derive", 200, lambda r: r.with_derived())
    pipeline.build(specs.registry, {})
    assert await pipeline.run(Reading("pack", soc=150.0)) is None
    assert specs.calls == ["validate"]  # later steps never see a dropped reading
    assert await pipeline.run(Reading("pack", soc=50.0)) is not None


async def test_raising_step_is_skipped_and_marked_degraded(
    pipeline: Pipeline, specs: Specs, registry: ServiceRegistry
) -> None:
    def explode(reading: Reading) -> Reading:
        raise ZeroDivisionError("no cells")

    specs.add("first", 100, lambda r: r.replace(soc=10.0))
    specs.add("broken", 200, explode)
    specs.add("last", 300, lambda r: r.replace(soh=99.0))
    pipeline.build(specs.registry, {})
    for _ in range(2):
        result = await pipeline.run(Reading("pack"))
        assert result is not None
        assert (result.soc, result.soh) == (10.0, 99.0)
    broken = registry.get("processor.broken")
    assert broken is not None
    assert (broken.health, broken.reason) == (Health.DEGRADED, "ZeroDivisionError: no cells")
    assert registry.get("processor.first").health == Health.OK  # type: ignore[union-attr]
    assert registry.get("processor.last").health == Health.OK  # type: ignore[union-attr]


async def test_a_degraded_step_is_ok_again_once_it_succeeds(
    pipeline: Pipeline, specs: Specs, registry: ServiceRegistry
) -> None:
    def fussy(reading: Reading) -> Reading:
        if reading.soc is None:
            raise ValueError("no soc")
        return reading

    specs.add("fussy", 100, fussy)
    pipeline.build(specs.registry, {})
    await pipeline.run(Reading("pack"))
    assert registry.get("processor.fussy").health == Health.DEGRADED  # type: ignore[union-attr]
    assert await pipeline.run(Reading("pack", soc=50.0)) is not None
    assert registry.get("processor.fussy").health == Health.OK  # type: ignore[union-attr]


async def test_processor_that_cannot_be_built_is_failed_and_left_out(
    pipeline: Pipeline, specs: Specs, registry: ServiceRegistry
) -> None:
    def no_factory(config: Mapping[str, Any]) -> Any:
        raise ValueError("missing model file")

    specs.add("good", 100)
    specs.registry.add(ProcessorSpec("unbuildable", no_factory, order=50))
    pipeline.build(specs.registry, {})
    assert [name for name, _ in pipeline.steps] == ["good"]
    failed = registry.get("processor.unbuildable")
    assert failed is not None
    assert (failed.health, failed.reason) == (Health.FAILED, "ValueError: missing model file")
    assert await pipeline.run(Reading("pack")) is not None


async def test_factory_gets_its_plugins_config_section(pipeline: Pipeline) -> None:
    received: dict[str, Mapping[str, Any]] = {}
    registry: Registry[ProcessorSpec] = Registry("processor")
    for plugin, step in (("derive", "derive-step"), ("stats", "stats-step")):
        registry.current_plugin = plugin

        def factory(config: Mapping[str, Any], step: str = step) -> Any:
            received[step] = config
            return Step(step, [], keep)

        registry.add(ProcessorSpec(step, factory))
    pipeline.build(registry, {"derive": {"max_pack_voltage": 60.0}, "http": {"port": 1}})
    assert received == {"derive-step": {"max_pack_voltage": 60.0}, "stats-step": {}}


async def test_async_steps_are_awaited(pipeline: Pipeline, specs: Specs) -> None:
    specs.add("sync-first", 100, lambda r: r.replace(voltage=1.0))
    specs.add("async-middle", 200, lambda r: r.replace(voltage=(r.voltage or 0) + 1), kind=AsyncStep)
    specs.add("async-drop", 300, lambda r: None if r.battery_id == "drop" else r, kind=AsyncStep)
    pipeline.build(specs.registry, {})
    result = await pipeline.run(Reading("pack"))
    assert result is not None
    assert result.voltage == 2.0
    assert await pipeline.run(Reading("drop")) is None


async def test_raw_readings_come_out_as_new(pipeline: Pipeline, specs: Specs, bus: EventBus) -> None:
    specs.add("validate", 100, lambda r: None if r.voltage is None else r)
    specs.add("derive", 200, lambda r: r.with_derived(), kind=AsyncStep)
    pipeline.build(specs.registry, {})
    out: list[Event] = []
    bus.subscribe(DATA_BMS_NEW, out.append)
    pipeline.start()
    readings = [Reading("pack", voltage=float(v), current=2.0) for v in range(50, 55)]
    bus.publish(DATA_BMS_RAW, readings[0], origin="battery.pack")
    bus.publish(DATA_BMS_RAW, Reading("pack"), origin="battery.pack")  # dropped by validate
    for item in readings[1:]:
        bus.publish(DATA_BMS_RAW, item, origin="battery.pack")
    await pipeline.drain()
    await bus.drain()
    assert [e.data for e in out] == [r.with_derived() for r in readings]
    assert {e.origin for e in out} == {"core.pipeline"}
    pipeline.stop()
    bus.publish(DATA_BMS_RAW, readings[0])
    await bus.drain()
    assert len(out) == len(readings)


class FailingAsyncStep(Step):
    async def process(self, reading: Reading) -> Reading | None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.calls.append(self.name)
        raise RuntimeError("async boom")


async def test_steps_after_an_awaited_or_failing_step_still_run(
    pipeline: Pipeline, specs: Specs, bus: EventBus, registry: ServiceRegistry
) -> None:
    """Plain steps run at once, an awaitable answer is awaited, and the steps after it go on."""
    specs.add("plain", 100, lambda r: r.replace(voltage=1.0))
    specs.add("awaited", 200, lambda r: r.replace(voltage=(r.voltage or 0) + 1), kind=AsyncStep)
    specs.add("broken", 300, kind=FailingAsyncStep)
    specs.add("after", 400, lambda r: r.replace(current=(r.voltage or 0) * 10))
    specs.add("sync-only", 500)
    pipeline.build(specs.registry, {})
    out: list[Event] = []
    bus.subscribe(DATA_BMS_NEW, out.append)
    pipeline.start()
    bus.publish(DATA_BMS_RAW, Reading("pack"), origin="battery.pack")
    await pipeline.drain()
    await bus.drain()
    assert [(e.data.voltage, e.data.current) for e in out] == [(2.0, 20.0)]
    assert specs.calls == ["plain", "awaited", "broken", "after", "sync-only"]
    service = registry.get("processor.broken")
    assert service is not None and service.health == Health.DEGRADED
    result = await pipeline.run(Reading("pack"))
    assert result is not None and (result.voltage, result.current) == (2.0, 20.0)


async def test_plain_steps_come_out_as_new_in_order(pipeline: Pipeline, specs: Specs, bus: EventBus) -> None:
    specs.add("validate", 100, lambda r: None if r.voltage is None else r)
    specs.add("derive", 200, lambda r: r.with_derived())
    pipeline.build(specs.registry, {})
    out: list[Event] = []
    bus.subscribe(DATA_BMS_NEW, out.append)
    pipeline.start()
    for voltage in (50.0, None, 51.0, 52.0):
        bus.publish(DATA_BMS_RAW, Reading("pack", voltage=voltage, current=2.0), origin="battery.pack")
    await pipeline.drain()
    await bus.drain()
    assert [(e.data.voltage, e.data.power) for e in out] == [(50.0, 100.0), (51.0, 102.0), (52.0, 104.0)]
