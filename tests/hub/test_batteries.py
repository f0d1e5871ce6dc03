"""Tests for battery coordinators (link states, failures, reconnects) and the battery manager."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.batteries import BatteryManager, Coordinator, LinkState
from hub.bus import DATA_BMS_LINK_CHANGED, DATA_BMS_NEW, DATA_BMS_RAW, SYSTEM_MODULE_HEALTH_CHANGED, Event, EventBus
from hub.reading import Reading, utc_now
from hub.registry import Health, ServiceRegistry
from hub.specs import BatteryConfig, DataError, DriverContext, DriverSpec, LinkError, Registry
from tests.helpers import wait_for

POLL = 0.05
TIMEOUT = 15.0


Step = Reading | Exception


class FakeDriver:
    """A BatteryDriver whose answers the test scripts; it logs every call it gets."""

    def __init__(self, polls: list[Step] | None = None, connects: list[Exception | None] | None = None) -> None:
        self.polls: deque[Step] = deque(polls or [])
        self.connects: deque[Exception | None] = deque(connects or [])
        self.log: list[str] = []
        self.is_open = False
        self.connected_while_open = 0

    def good(self) -> Reading:
        # The driver does not know the configured id; the coordinator sets it.
        return Reading("driver-side", voltage=52.0, current=3.0)

    async def connect(self) -> None:
        error = self.connects.popleft() if self.connects else None
        if error is not None:
            self.log.append("connect:fail")
            raise error
        if self.is_open:
            self.connected_while_open += 1
        self.is_open = True
        self.log.append("connect")

    async def poll(self) -> Reading:
        step = self.polls.popleft() if self.polls else self.good()
        if isinstance(step, Exception):
            self.log.append(f"poll:{type(step).__name__}")
            raise step
        self.log.append("poll")
        return step

    async def close(self) -> None:
        self.is_open = False
        self.log.append("close")

    def count(self, entry: str) -> int:
        return self.log.count(entry)


class Events:
    """What the bus carried about one battery."""

    def __init__(self, bus: EventBus, service: str) -> None:
        self.bus = bus
        self.raw: list[Event] = []
        self.links: list[dict[str, Any]] = []
        self.health: list[tuple[str, str | None]] = []
        bus.subscribe(DATA_BMS_RAW, self.raw.append)
        bus.subscribe(DATA_BMS_LINK_CHANGED, lambda e: self.links.append(e.data))
        bus.subscribe(
            SYSTEM_MODULE_HEALTH_CHANGED,
            lambda e: self.health.append((e.data["health"], e.data["reason"])) if e.data["name"] == service else None,
        )

    def transitions(self) -> list[tuple[str, str]]:
        return [(link["previous"], link["link_state"]) for link in self.links]


@pytest.fixture
async def bus() -> AsyncIterator[EventBus]:
    bus = EventBus()
    yield bus
    bus.close()


@pytest.fixture
def registry(bus: EventBus) -> ServiceRegistry:
    return ServiceRegistry(bus)


@pytest.fixture
async def events(bus: EventBus) -> Events:
    return Events(bus, "battery.pack")


@pytest.fixture
async def start(bus: EventBus, registry: ServiceRegistry) -> AsyncIterator[Callable[[FakeDriver], Coordinator]]:
    """Start coordinators for battery 'pack'; all are stopped at the end."""
    started: list[Coordinator] = []

    def run(driver: FakeDriver, poll_interval: float = POLL) -> Coordinator:
        config = BatteryConfig("pack", "Pack", "fake", poll_interval)
        coordinator = Coordinator(config, driver, bus, registry)
        coordinator.start()
        started.append(coordinator)
        return coordinator

    yield run
    for coordinator in started:
        await asyncio.wait_for(coordinator.stop(), TIMEOUT)


async def test_connects_goes_online_and_publishes_raw_readings(
    start: Callable[[FakeDriver], Coordinator], events: Events, registry: ServiceRegistry, bus: EventBus
) -> None:
    driver = FakeDriver()
    coordinator = start(driver)
    await wait_for(lambda: len(events.raw) >= 3)
    await bus.drain()
    assert all(e.data.battery_id == "pack" and e.origin == "battery.pack" for e in events.raw)
    assert events.raw[0].data.voltage == 52.0
    assert events.links[0] == {"battery_id": "pack", "link_state": "online", "previous": "connecting", "reason": None}
    assert coordinator.state == coordinator.link_state() == LinkState.ONLINE
    assert registry.get("battery.pack").health == Health.OK  # type: ignore[union-attr]
    assert driver.count("connect") == 1  # connect once, poll many times
    assert coordinator.last_reading is not None
    assert coordinator.last_reading.battery_id == "pack"

    await coordinator.stop()
    await bus.drain()
    assert driver.log[-1] == "close"
    assert events.transitions()[-1] == ("online", "stopped")
    assert registry.get("battery.pack").health == Health.STOPPED  # type: ignore[union-attr]


async def test_three_link_errors_in_a_row_go_offline_then_reconnect(
    start: Callable[[FakeDriver], Coordinator], events: Events, bus: EventBus
) -> None:
    no_answer = LinkError("no answer")
    driver = FakeDriver([FakeDriver().good(), no_answer, no_answer, no_answer])
    coordinator = start(driver)
    await wait_for(lambda: len(events.links) >= 3)
    await bus.drain()
    assert events.transitions() == [("connecting", "online"), ("online", "offline"), ("offline", "online")]
    assert events.links[1]["reason"] == "no answer"
    # The link is closed when it goes offline and opened again before polling resumes.
    assert driver.log[:8] == [
        "connect",
        "poll",
        "poll:LinkError",
        "poll:LinkError",
        "poll:LinkError",
        "close",
        "connect",
        "poll",
    ]
    assert events.health[:4] == [("ok", None), ("degraded", "no answer"), ("failed", "no answer"), ("ok", None)]
    assert coordinator.state == LinkState.ONLINE


async def test_two_link_errors_only_degrade(
    start: Callable[[FakeDriver], Coordinator], events: Events, bus: EventBus
) -> None:
    no_answer = LinkError("no answer")
    driver = FakeDriver([FakeDriver().good(), no_answer, no_answer])
    start(driver)
    await wait_for(lambda: driver.log.count("poll") >= 3)
    await bus.drain()
    assert events.transitions() == [("connecting", "online")]
    assert "close" not in driver.log
    assert events.health == [("ok", None), ("degraded", "no answer"), ("ok", None)]


async def test_connect_failure_is_offline_until_the_port_opens(
    start: Callable[[FakeDriver], Coordinator], events: Events, bus: EventBus, registry: ServiceRegistry
) -> None:
    driver = FakeDriver(connects=[LinkError("port busy")])
    start(driver)
    await wait_for(lambda: len(events.links) >= 2)
    await bus.drain()
    assert events.links[0] == {
        "battery_id": "pack",
        "link_state": "offline",
        "previous": "connecting",
        "reason": "cannot connect: port busy",
    }
    assert events.transitions()[1] == ("offline", "online")
    assert events.health[:2] == [("failed", "cannot connect: port busy"), ("ok", None)]
    assert driver.log[:3] == ["connect:fail", "connect", "poll"]


@pytest.mark.parametrize("error", [LinkError("no answer"), DataError("bad checksum")], ids=["link", "data"])
async def test_failed_first_poll_never_connects_an_open_driver_again(
    start: Callable[[FakeDriver], Coordinator], events: Events, error: Exception
) -> None:
    # BatteryDriver contract: connect once, poll many times, close at the end.
    driver = FakeDriver([error])
    coordinator = start(driver)
    await wait_for(lambda: coordinator.state == LinkState.ONLINE)
    assert driver.connected_while_open == 0
    assert driver.count("connect") == driver.count("close") + 1


async def test_one_bad_answer_is_not_reported(
    start: Callable[[FakeDriver], Coordinator], events: Events, bus: EventBus
) -> None:
    driver = FakeDriver([FakeDriver().good(), DataError("bad checksum")])
    start(driver)
    await wait_for(lambda: driver.count("poll") >= 3)
    await bus.drain()
    assert driver.count("poll:DataError") == 1
    assert events.health == [("ok", None)]
    assert events.transitions() == [("connecting", "online")]


async def test_two_bad_answers_in_a_row_degrade_until_a_good_one(
    start: Callable[[FakeDriver], Coordinator], events: Events, bus: EventBus, registry: ServiceRegistry
) -> None:
    bad = DataError("bad checksum")
    driver = FakeDriver([FakeDriver().good(), bad, bad])
    start(driver)
    await wait_for(lambda: driver.count("poll") >= 3)
    await bus.drain()
    assert events.health == [("ok", None), ("degraded", "bad data: bad checksum"), ("ok", None)]
    # Bad data is not a link problem: the link stays online and is not reopened.
    assert events.transitions() == [("connecting", "online")]
    assert driver.count("connect") == 1


@pytest.mark.parametrize(
    ("poll_interval", "age", "expected"),
    [
        (1.0, 5, LinkState.ONLINE),
        (1.0, 60, LinkState.STALE),  # at least 15 s even for fast polling
        (60.0, 100, LinkState.ONLINE),  # within three poll intervals
        (60.0, 400, LinkState.STALE),
    ],
)
async def test_online_link_with_an_old_last_reading_is_stale(
    bus: EventBus, registry: ServiceRegistry, poll_interval: float, age: float, expected: LinkState
) -> None:
    old = Reading("pack", timestamp=utc_now() - timedelta(seconds=age), voltage=52.0)
    coordinator = Coordinator(BatteryConfig("pack", "Pack", "fake", poll_interval), FakeDriver([old]), bus, registry)
    assert await coordinator.poll_once() is not None
    assert coordinator.state == LinkState.ONLINE
    assert coordinator.link_state() == expected


# --- the manager ---------------------------------------------------------------------------------


class Factory:
    """A driver factory that remembers what it built."""

    def __init__(self) -> None:
        self.built: list[tuple[BatteryConfig, DriverContext, FakeDriver]] = []

    def __call__(self, config: BatteryConfig, context: DriverContext) -> FakeDriver:
        driver = FakeDriver()
        self.built.append((config, context, driver))
        return driver


@pytest.fixture
async def manager(
    bus: EventBus, registry: ServiceRegistry, tmp_path: Path
) -> AsyncIterator[tuple[BatteryManager, Factory]]:
    factory = Factory()
    drivers: Registry[DriverSpec] = Registry("driver")
    drivers.add(DriverSpec("fake", "fake driver", factory))  # type: ignore[arg-type]
    manager = BatteryManager(bus, registry, drivers, DriverContext(tmp_path))
    yield manager, factory
    await asyncio.wait_for(manager.stop(), TIMEOUT)


def entry(battery_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": battery_id, "driver": "fake", "poll_interval": POLL, "port": f"/dev/{battery_id}", **extra}


def battery_services(registry: ServiceRegistry) -> list[str]:
    return [s.name for s in registry.all() if s.name.startswith("battery.")]


async def test_apply_adds_keeps_restarts_and_removes(
    manager: tuple[BatteryManager, Factory], registry: ServiceRegistry, tmp_path: Path
) -> None:
    batteries, factory = manager
    await batteries.apply([entry("a"), entry("b", name="Shed")])
    assert sorted(batteries.coordinators) == ["a", "b"]
    config, context, _ = factory.built[0]
    assert (config.id, config.name, config.poll_interval) == ("a", "a", POLL)
    assert config.options == {"port": "/dev/a"}
    assert context.data_dir == tmp_path
    assert batteries.coordinators["b"].config.name == "Shed"
    await wait_for(lambda: all(c.state == LinkState.ONLINE for c in batteries.coordinators.values()))
    a, b = batteries.coordinators["a"], batteries.coordinators["b"]

    await batteries.apply(
        [entry("a"), entry("b", name="Shed", poll_interval=0.1), entry("c"), entry("d", enabled=False)]
    )
    assert sorted(batteries.coordinators) == ["a", "b", "c"]
    assert batteries.coordinators["a"] is a  # unchanged: not restarted
    assert batteries.coordinators["b"] is not b  # changed: restarted with the new settings
    assert batteries.coordinators["b"].config.poll_interval == 0.1
    assert b.state == LinkState.STOPPED
    assert b.driver.log[-1] == "close"  # type: ignore[attr-defined]
    assert "close" not in a.driver.log  # type: ignore[attr-defined]
    assert battery_services(registry) == ["battery.a", "battery.b", "battery.c"]

    await batteries.apply([entry("a", enabled=False)])
    assert batteries.coordinators == {}
    assert battery_services(registry) == []
    assert all(driver.log[-1] == "close" for _, _, driver in factory.built)


async def test_add_refuses_unknown_driver_and_duplicate_id(manager: tuple[BatteryManager, Factory]) -> None:
    batteries, _ = manager
    batteries.add(BatteryConfig("a", "A", "fake", POLL))
    with pytest.raises(KeyError, match="exists"):
        batteries.add(BatteryConfig("a", "A", "fake", POLL))
    with pytest.raises(KeyError, match="unknown driver"):
        batteries.add(BatteryConfig("b", "B", "jbd", POLL))
    assert sorted(batteries.coordinators) == ["a"]


async def test_latest_tracks_processed_readings_of_known_batteries(
    manager: tuple[BatteryManager, Factory], bus: EventBus
) -> None:
    batteries, _ = manager
    batteries.start_listening()
    await batteries.apply([entry("a", poll_interval=3600)])
    processed = Reading("a", voltage=51.2)
    bus.publish(DATA_BMS_NEW, processed)
    bus.publish(DATA_BMS_NEW, Reading("ghost", voltage=1.0))
    await bus.drain()
    assert batteries.latest == {"a": processed}
    await batteries.remove("a")
    assert batteries.latest == {}


async def test_a_closed_gate_holds_polling_back(bus: EventBus, registry: ServiceRegistry) -> None:
    """The recorder's back-pressure: while the gate is closed no poll happens, then polling resumes."""
    gate = asyncio.Event()
    driver = FakeDriver()
    coordinator = Coordinator(BatteryConfig("pack", "Pack", "fake", POLL), driver, bus, registry, gate=gate.wait)
    coordinator.start()
    try:
        await wait_for(lambda: driver.count("connect") == 1)
        for _ in range(20):
            await asyncio.sleep(0)
        assert driver.count("poll") == 0
        gate.set()
        await wait_for(lambda: driver.count("poll") >= 3)
    finally:
        await asyncio.wait_for(coordinator.stop(), TIMEOUT)
