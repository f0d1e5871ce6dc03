"""Shared fixtures of the foxBMS tests: the bundled DBCs, virtual-bus simulators, drivers and a recorder."""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import can
import pytest
import voluptuous as vol
from trackingbms_foxbms import simulator
from trackingbms_foxbms.config import BATTERY_SCHEMA
from trackingbms_foxbms.dbc import BUNDLED, FoxbmsDbc, Layout, load_dbc
from trackingbms_foxbms.driver import FoxbmsDriver

from hub.batteries import battery_config
from hub.specs import DriverContext

FIXTURES = Path(__file__).parents[2] / "fixtures" / "foxbms"
Factory = Callable[..., Any]
_channels = itertools.count()


@pytest.fixture(scope="session")
def current() -> FoxbmsDbc:
    """The bundled v1.7+ DBC."""
    return load_dbc(BUNDLED[Layout.CURRENT], Layout.CURRENT)


@pytest.fixture(scope="session")
def old() -> FoxbmsDbc:
    """The bundled v1.6.0 DBC."""
    return load_dbc(BUNDLED[Layout.V1_6], Layout.V1_6)


@pytest.fixture
def channel() -> str:
    """A virtual channel no other test uses (virtual buses are shared process-wide)."""
    return f"foxbms-test-{next(_channels)}"


@pytest.fixture
async def simulators(channel: str) -> AsyncIterator[Factory]:
    """Start foxBMS simulators on the test's channel (fast 20 ms cycle unless given)."""
    started: list[simulator.FoxbmsSimulator] = []

    async def start(**options: Any) -> simulator.FoxbmsSimulator:
        entry = vol.Schema(simulator.SIMULATOR_SCHEMA)({"channel": channel, "seed": 7, "period": 0.02, **options})
        sim = simulator.create(entry, Path("/"))
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await sim.stop()


@pytest.fixture
async def drivers(channel: str) -> AsyncIterator[Factory]:
    """Connected foxBMS drivers on the test's channel."""
    made: list[FoxbmsDriver] = []

    async def make(**options: Any) -> FoxbmsDriver:
        entry = vol.Schema(BATTERY_SCHEMA)({"interface": "virtual", "channel": channel, "timeout": 5, **options})
        config = battery_config({"id": f"pack{len(made)}", "driver": "foxbms", **entry})
        driver = FoxbmsDriver(config, DriverContext(Path("/")))
        made.append(driver)
        await driver.connect()
        return driver

    yield make
    for driver in made:
        await driver.close()


class Recorder(can.Listener):
    """A second client on the virtual bus that keeps every frame anybody else sends."""

    def __init__(self) -> None:
        self.frames: list[can.Message] = []
        self._lock = threading.Lock()

    def on_message_received(self, msg: can.Message) -> None:
        with self._lock:
            self.frames.append(msg)

    def ids(self) -> set[int]:
        """Identifiers seen so far."""
        with self._lock:
            return {m.arbitration_id for m in self.frames}

    def with_id(self, can_id: int) -> list[can.Message]:
        """Frames seen with one identifier."""
        with self._lock:
            return [m for m in self.frames if m.arbitration_id == can_id]


@pytest.fixture
def recorder(channel: str) -> Iterator[Recorder]:
    """Record the channel's traffic from a separate python-can client."""
    bus = can.Bus(interface="virtual", channel=channel)
    listener = Recorder()
    notifier = can.Notifier(bus, [listener], timeout=0.05)
    yield listener
    notifier.stop()
    bus.shutdown()
