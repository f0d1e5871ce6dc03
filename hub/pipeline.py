"""The reading pipeline: raw readings pass the registered processors, in order, then go out as new."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from hub.bus import DATA_BMS_NEW, DATA_BMS_RAW, Event, EventBus, Subscription
from hub.reading import Reading
from hub.registry import Health, ServiceRegistry
from hub.specs import Processor, ProcessorSpec, Registry
from hub.storage.base import TenantStore

_LOGGER = logging.getLogger(__name__)
Steps = list[tuple[str, Processor]]


class Pipeline:
    """Subscribes to data.bms.raw and publishes data.bms.new; a failing step is skipped, not fatal."""

    def __init__(self, bus: EventBus, registry: ServiceRegistry) -> None:
        self._bus = bus
        self._registry = registry
        self.steps: list[tuple[str, Processor]] = []
        self._sub: Subscription | None = None
        self._degraded: set[str] = set()  # steps this pipeline marked DEGRADED, until one succeeds

    def build(self, specs: Registry[ProcessorSpec], config: Mapping[str, Any]) -> None:
        """Instantiate the processors, ordered; one that fails to build is reported and left out."""
        self.steps = []
        for spec in sorted(specs, key=lambda s: (s.order, s.name)):
            service = f"processor.{spec.name}"
            self._registry.register(service, "processor")
            try:
                # A processor is configured by its plugin's section.
                self.steps.append((spec.name, spec.factory(config.get(specs.owners.get(spec.name, "")) or {})))
                self._registry.set_health(service, Health.OK)
            except Exception as err:
                _LOGGER.exception("Processor %s could not be built", spec.name)
                self._registry.set_health(service, Health.FAILED, f"{type(err).__name__}: {err}")

    async def attach(self, store: TenantStore) -> None:
        """Give processors that keep state across restarts (an ``attach(store)`` method) their store."""
        for name, processor in list(self.steps):
            attach = getattr(processor, "attach", None)
            if attach is None:
                continue
            try:
                await attach(store)
            except Exception as err:
                _LOGGER.exception("Processor %s could not load its state", name)
                self._registry.set_health(f"processor.{name}", Health.FAILED, f"{type(err).__name__}: {err}")
                self.steps.remove((name, processor))

    async def close(self) -> None:
        """Let processors save their state (an optional ``close()`` method)."""
        for name, processor in self.steps:
            close = getattr(processor, "close", None)
            if close is None:
                continue
            try:
                await close()
            except Exception:
                _LOGGER.exception("Processor %s could not save its state", name)

    def start(self) -> None:
        """Start consuming raw readings."""
        self._sub = self._bus.subscribe(DATA_BMS_RAW, self._on_raw, name="core.pipeline")

    def _on_raw(self, event: Event) -> Awaitable[None] | None:
        # Plain (synchronous) steps run right here: a coroutine only when a step answers with one.
        steps = self.steps
        current, index, pending = self._advance(steps, event.data, event.data, 0)
        if pending is not None:
            return self._finish(steps, event.data, current, index, pending)
        if current is not None:
            self._bus.publish(DATA_BMS_NEW, current, origin="core.pipeline")
        return None

    async def _finish(
        self, steps: Steps, reading: Reading, current: Reading | None, index: int, pending: Awaitable[Any]
    ) -> None:
        result = await self._resume(steps, reading, current, index, pending)
        if result is not None:
            self._bus.publish(DATA_BMS_NEW, result, origin="core.pipeline")

    async def run(self, reading: Reading) -> Reading | None:
        """Run one reading through every step; None means a step dropped it."""
        steps = self.steps
        current, index, pending = self._advance(steps, reading, reading, 0)
        if pending is None:
            return current
        return await self._resume(steps, reading, current, index, pending)

    async def _resume(
        self, steps: Steps, reading: Reading, current: Reading | None, index: int, pending: Awaitable[Any] | None
    ) -> Reading | None:
        """Await a step's answer, then run the steps after it (the same way), until the last."""
        while pending is not None:
            name = steps[index][0]
            try:
                current = await pending
                if self._degraded:
                    self._recovered(name)
            except Exception as err:
                self._failed(name, reading, err)  # the reading goes on as it was before the step
            current, index, pending = self._advance(steps, reading, current, index + 1)
        return current

    def _advance(
        self, steps: Steps, reading: Reading, current: Reading | None, start: int
    ) -> tuple[Reading | None, int, Awaitable[Any] | None]:
        """Run steps from ``start`` while they answer plainly; stop at one that gives an awaitable."""
        degraded = self._degraded  # a set changed in place, never replaced
        index = start
        for name, processor in steps[start:] if start else steps:
            if current is None:
                return None, index, None
            try:
                result = processor.process(current)
                # Per reading and step: the plain (synchronous) result is checked first, cheaply.
                if result is not None and not isinstance(result, Reading) and inspect.isawaitable(result):
                    return current, index, result
                current = result
                if degraded:
                    self._recovered(name)
            except Exception as err:
                self._failed(name, reading, err)
            index += 1
        return current, index, None

    def _failed(self, name: str, reading: Reading, err: Exception) -> None:
        _LOGGER.exception("Processor %s failed on a reading of %s", name, reading.battery_id, exc_info=err)
        self._registry.set_health(f"processor.{name}", Health.DEGRADED, f"{type(err).__name__}: {err}")
        self._degraded.add(name)

    def _recovered(self, name: str) -> None:
        if name not in self._degraded:
            return
        self._degraded.discard(name)
        service = self._registry.get(f"processor.{name}")
        if service is not None and service.health == Health.DEGRADED:
            self._registry.set_health(service.name, Health.OK, None)

    async def drain(self) -> None:
        """Wait until queued raw readings are processed."""
        if self._sub is not None:
            await self._sub.drain()

    def stop(self) -> None:
        """Stop consuming."""
        if self._sub is not None:
            self._sub.cancel()
