"""One bank reading per round of member updates, none while a member is stale."""

from __future__ import annotations

from datetime import timedelta

from trackingbms_banks.plugin import Bank

from hub.bus import EventBus
from hub.reading import Reading, utc_now
from hub.registry import Health, ServiceRegistry


def fresh(battery_id: str, voltage: float, age: float = 0.0) -> Reading:
    return Reading(battery_id, timestamp=utc_now() - timedelta(seconds=age), voltage=voltage, current=1.0)


def make_bank() -> tuple[Bank, ServiceRegistry]:
    bus = EventBus()
    registry = ServiceRegistry(bus)
    entry = {"topology": "series", "members": ["a", "b"], "max_age": 10.0}
    return Bank("bank", entry, bus, registry), registry


def health(registry: ServiceRegistry) -> Health | None:
    service = registry.get("bank.bank")
    return None if service is None else service.health


def test_one_bank_reading_per_update_of_the_slowest_member() -> None:
    bank, registry = make_bank()
    assert bank.offer(fresh("a", 26.0)) is None  # b has not reported: stale
    assert health(registry) == Health.DEGRADED
    assert bank.offer(fresh("a", 26.1)) is None
    first = bank.offer(fresh("b", 26.2))
    assert first is not None and first.voltage == 52.3 and first.battery_id == "bank"
    assert health(registry) == Health.OK
    assert bank.offer(fresh("b", 26.3)) is None  # a has not been updated since
    second = bank.offer(fresh("a", 26.0))
    assert second is not None and second.voltage == 52.3
    assert bank.offer(fresh("other", 1.0)) is None
    assert bank.published == 2


def test_a_stale_member_stops_bank_readings_and_degrades() -> None:
    bank, registry = make_bank()
    assert bank.offer(fresh("a", 26.0)) is None
    assert bank.offer(fresh("b", 26.0, age=60)) is None
    service = registry.get("bank.bank")
    assert service is not None and service.health == Health.DEGRADED and service.reason == "stale members: b"
    assert bank.offer(fresh("b", 26.0)) is not None  # b is back: every member updated and fresh
    assert health(registry) == Health.OK
