"""Broker outages: the hub keeps reading, the bridge shows degraded, and it reconnects and catches up."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable
from pathlib import Path

from trackingbms_mqtt.plugin import bridge_of

from hub.core import Hub
from hub.registry import Health
from tests.helpers import SIMULATED_CONFIG, HubFactory, wait_for, write_config
from tests.plugins.trackingbms_mqtt.conftest import mqtt_section
from tests.plugins.trackingbms_mqtt.mqtt_helpers import (
    Mosquitto,
    Watcher,
    clear_retained,
    free_port,
    require,
    retained,
    retained_when,
)


def health(hub: Hub) -> Health | None:
    service = hub.registry.get("plugin.mqtt")
    return service.health if service is not None else None


async def newer_reading(hub: Hub, battery: str, than: str | None) -> bool:
    latest = await hub.store.latest(battery)
    stamp = latest.to_dict()["timestamp"] if latest is not None else None
    return stamp is not None and (than is None or stamp > than)


async def test_the_bridge_rides_out_a_broker_that_is_down_then_restarts(start_hub: HubFactory, tmp_path: Path) -> None:
    require(Mosquitto.available(), "the mosquitto binary is not installed")
    port, base = free_port(), f"tbms-test-{uuid.uuid4().hex[:12]}"
    broker = Mosquitto(tmp_path, port)
    hub = await start_hub(SIMULATED_CONFIG + mqtt_section(base, f"ha-{base}", port=port))
    watcher = Watcher(port=port)
    try:
        # Nothing listens yet: degraded with the reason, while readings are still stored.
        await wait_for(lambda: health(hub) == Health.DEGRADED)
        service = hub.registry.get("plugin.mqtt")
        assert service is not None and f"127.0.0.1:{port}" in (service.reason or "")
        assert service.details["connected"] is False and service.details["last_error"]
        await wait_for(lambda: newer_reading(hub, "one", None))
        assert hub.registry.overall() == Health.DEGRADED

        await broker.start()
        await wait_for(lambda: health(hub) == Health.OK, timeout=30)
        await watcher.start([f"{base}/#"])
        await watcher.wait(f"{base}/one/state")
        online = {f"{base}/status": b"online", f"{base}/one/availability": b"online"}
        await retained_when([f"{base}/#"], lambda found: online.items() <= found.items(), port=port)

        # The broker dies: the Last Will is gone with it, the bridge degrades, the hub keeps storing.
        await watcher.stop()
        await broker.stop()
        await wait_for(lambda: health(hub) == Health.DEGRADED, timeout=30)
        before = (await hub.store.latest("one")).to_dict()["timestamp"]  # type: ignore[union-attr]
        await wait_for(lambda: newer_reading(hub, "one", before))

        # Back on the same port (empty, no persistence): everything retained is published again.
        await broker.start()
        await wait_for(lambda: health(hub) == Health.OK, timeout=30)
        wanted = {f"{base}/one/state", f"{base}/one/alerts/open", f"ha-{base}/sensor/{base}_one/voltage/config"}
        snapshot = await retained_when(
            [f"{base}/#", f"ha-{base}/#"],
            lambda found: wanted <= set(found) and found.get(f"{base}/two/availability") == b"online",
            port=port,
        )
        assert snapshot[f"{base}/status"] == b"online" and snapshot[f"{base}/two/availability"] == b"online"
        bridge = bridge_of(hub)
        assert bridge is not None and bridge.link.connects == 2
    finally:
        await watcher.stop()
        await hub.stop()
        await broker.stop()


async def test_the_last_will_marks_the_bridge_offline_when_the_hub_dies(broker: object, tmp_path: Path) -> None:
    """A hub process killed with SIGKILL sends no DISCONNECT: the broker publishes its retained will."""
    base = f"tbms-test-{uuid.uuid4().hex[:12]}"
    filters = [f"{base}/#", f"ha-{base}/#"]
    config = write_config(tmp_path, SIMULATED_CONFIG + mqtt_section(base, f"ha-{base}"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "run", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:

        async def status() -> bytes | None:
            return (await retained([f"{base}/status"])).get(f"{base}/status")

        await wait_for(lambda: _is(status(), b"online"), timeout=60)
        process.kill()
        await process.wait()
        await wait_for(lambda: _is(status(), b"offline"), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await clear_retained(filters)


async def _is(value: Awaitable[bytes | None], expected: bytes) -> bool:
    return await value == expected
