"""Tests for the service registry: health-change events and the hub's overall health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.bus import SYSTEM_MODULE_HEALTH_CHANGED, Event, EventBus
from hub.registry import Health, ServiceRegistry


@pytest.fixture
async def bus() -> AsyncIterator[EventBus]:
    bus = EventBus()
    yield bus
    bus.close()


@pytest.fixture
async def changes(bus: EventBus) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    def on_change(event: Event) -> None:
        got.append(event.data)

    bus.subscribe(SYSTEM_MODULE_HEALTH_CHANGED, on_change)
    return got


async def test_health_change_is_published_with_previous_state(bus: EventBus, changes: list[dict[str, Any]]) -> None:
    registry = ServiceRegistry(bus)
    registry.register("core.recorder", "core")
    registry.set_health("core.recorder", Health.OK)
    registry.set_health("core.recorder", Health.FAILED, "disk full")
    await bus.drain()
    assert changes == [
        {"name": "core.recorder", "kind": "core", "health": "ok", "previous": "starting", "reason": None},
        {"name": "core.recorder", "kind": "core", "health": "failed", "previous": "ok", "reason": "disk full"},
    ]
    service = registry.get("core.recorder")
    assert service is not None
    assert (service.health, service.reason) == (Health.FAILED, "disk full")


async def test_setting_the_same_health_again_publishes_nothing(bus: EventBus, changes: list[dict[str, Any]]) -> None:
    registry = ServiceRegistry(bus)
    registry.register("battery.one", "battery")
    registry.set_health("battery.one", Health.DEGRADED, "slow answers")
    registry.set_health("battery.one", Health.DEGRADED, "slow answers")
    registry.set_health("battery.one", Health.DEGRADED, "slow answers", polls=3)
    await bus.drain()
    assert [c["health"] for c in changes] == ["degraded"]
    service = registry.get("battery.one")
    assert service is not None
    assert service.details == {"polls": 3}  # details are kept even without a health change


async def test_a_new_reason_with_the_same_health_is_a_change(bus: EventBus, changes: list[dict[str, Any]]) -> None:
    registry = ServiceRegistry(bus)
    registry.set_health("battery.one", Health.FAILED, "cannot connect")
    registry.set_health("battery.one", Health.FAILED, "no answer")
    await bus.drain()
    assert [(c["health"], c["reason"]) for c in changes] == [
        ("failed", "cannot connect"),
        ("failed", "no answer"),
    ]


async def test_unknown_service_is_registered_on_first_health(bus: EventBus) -> None:
    registry = ServiceRegistry(bus)
    registry.set_health("plugin.extra", Health.OK)
    service = registry.get("plugin.extra")
    assert service is not None
    assert (service.kind, service.health) == ("module", Health.OK)
    assert service.to_dict()["since"].endswith("Z")


async def test_all_is_sorted_and_remove_forgets(bus: EventBus) -> None:
    registry = ServiceRegistry(bus)
    for name in ("zeta", "alpha", "mid"):
        registry.register(name, "module", Health.OK)
    assert [s.name for s in registry.all()] == ["alpha", "mid", "zeta"]
    registry.remove("mid")
    registry.remove("never-there")
    assert [s.name for s in registry.all()] == ["alpha", "zeta"]


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        ([], Health.OK),
        ([("core.web", "core", Health.OK), ("battery.a", "battery", Health.OK)], Health.OK),
        ([("core.web", "core", Health.STARTING), ("battery.a", "battery", Health.STOPPED)], Health.OK),
        ([("core.web", "core", Health.OK), ("battery.a", "battery", Health.DEGRADED)], Health.DEGRADED),
        ([("core.web", "core", Health.OK), ("battery.a", "battery", Health.FAILED)], Health.DEGRADED),
        ([("core.web", "core", Health.DEGRADED), ("battery.a", "battery", Health.OK)], Health.DEGRADED),
        ([("core.recorder", "core", Health.FAILED), ("battery.a", "battery", Health.OK)], Health.FAILED),
        ([("core.recorder", "core", Health.FAILED), ("battery.a", "battery", Health.DEGRADED)], Health.FAILED),
        ([("plugin.x", "plugin", Health.DISABLED), ("core.web", "core", Health.OK)], Health.OK),
    ],
    ids=[
        "empty",
        "all-ok",
        "starting-and-stopped-count-as-ok",
        "degraded-battery",
        "failed-battery-only-degrades",
        "degraded-core",
        "failed-core",
        "failed-core-wins-over-degraded",
        "disabled-ignored",
    ],
)
async def test_overall_health(bus: EventBus, services: list[tuple[str, str, Health]], expected: Health) -> None:
    registry = ServiceRegistry(bus)
    for name, kind, health in services:
        registry.register(name, kind, health)
    assert registry.overall() == expected
