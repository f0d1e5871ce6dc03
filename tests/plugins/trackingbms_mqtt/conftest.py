"""Fixtures: a hub bridged to the real Mosquitto under a unique base topic, cleaned up afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from hub.core import Hub
from tests.helpers import SIMULATED_CONFIG, HubFactory
from tests.plugins.trackingbms_mqtt.mqtt_helpers import (
    BROKER_HOST,
    BROKER_PORT,
    Watcher,
    clear_retained,
    port_open,
    require,
)


def mqtt_section(base: str, prefix: str, port: int = BROKER_PORT, extra: str = "") -> str:
    """An ``mqtt:`` section for the test broker; ``extra`` lines are indented under it."""
    lines = [
        "mqtt:",
        f"  host: {BROKER_HOST}",
        f"  port: {port}",
        f"  base_topic: {base}",
        f"  discovery_prefix: {prefix}",
        "  reconnect_min: 0.2",
        "  reconnect_max: 1",
    ]
    lines += [f"  {line}" for line in extra.strip("\n").splitlines() if line.strip()]
    return "\n" + "\n".join(lines) + "\n"


@dataclass
class BridgeEnv:
    """Unique topics, a watcher on them, and the hubs a test started."""

    start_hub: HubFactory
    base: str = field(default_factory=lambda: f"tbms-test-{uuid.uuid4().hex[:12]}")
    prefix: str = field(default_factory=lambda: f"ha-test-{uuid.uuid4().hex[:12]}")
    watcher: Watcher = field(default_factory=Watcher)
    hubs: list[Hub] = field(default_factory=list)

    @property
    def filters(self) -> list[str]:
        return [f"{self.base}/#", f"{self.prefix}/#"]

    async def start(self, batteries: str = SIMULATED_CONFIG, extra: str = "") -> Hub:
        """Start a hub with these batteries and the mqtt section (plus ``extra`` mqtt keys)."""
        hub = await self.start_hub(batteries + mqtt_section(self.base, self.prefix, extra=extra))
        self.hubs.append(hub)
        return hub


@pytest.fixture
def broker() -> tuple[str, int]:
    """The real Mosquitto; missing fails under CI=true, else skips."""
    require(port_open(BROKER_HOST, BROKER_PORT), f"Mosquitto is not reachable at {BROKER_HOST}:{BROKER_PORT}")
    return BROKER_HOST, BROKER_PORT


@pytest.fixture
async def env(broker: tuple[str, int], start_hub: HubFactory) -> AsyncIterator[BridgeEnv]:
    """Watch the test's topics; at the end stop its hubs first, then delete every retained message they left."""
    bridge_env = BridgeEnv(start_hub)
    await bridge_env.watcher.start(bridge_env.filters)
    yield bridge_env
    for hub in bridge_env.hubs:
        await hub.stop()  # idempotent; start_hub's own teardown comes after this one
    await bridge_env.watcher.stop()
    await clear_retained(bridge_env.filters)
