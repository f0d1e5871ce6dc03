"""An edge hub forwards its readings through a real Mosquitto to a central hub that stores them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import aiohttp
import aiomqtt
import pytest
from trackingbms_uplink.plugin import BUFFER_FILE, running

from hub.bus import DATA_BMS_LINK_CHANGED, DATA_BMS_RAW, Event
from hub.core import Hub
from hub.registry import Health
from hub.storage.packing import to_millis
from tests.helpers import wait_for
from tests.plugins.trackingbms_mqtt.mqtt_helpers import Mosquitto, free_port, require
from tests.plugins.trackingbms_uplink.uplink_helpers import CENTRAL, EDGE, CuttableLink, start_hub, uplink_section


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    """A private Mosquitto on its own port (the machine's broker is shared with other tests)."""
    require(Mosquitto.available(), "the mosquitto binary is not installed")
    mosquitto = Mosquitto(tmp_path, free_port())
    await mosquitto.start()
    yield mosquitto
    await mosquitto.stop()


def millis(moment: datetime) -> int:
    return to_millis(moment)  # storage keeps times to the millisecond


async def stored_times(hub: Hub, battery: str) -> set[int]:
    return {millis(r.timestamp) for r in await hub.store.history(battery, None, None, 100_000)}


def service(hub: Hub, name: str) -> tuple[Health | None, dict[str, object]]:
    found = hub.registry.get(name)
    return (found.health, dict(found.details)) if found is not None else (None, {})


async def test_readings_polled_while_the_edge_is_offline_all_reach_the_central_hub(
    broker: Mosquitto, tmp_path: Path
) -> None:
    base, link = f"tbms-uplink-{uuid.uuid4().hex[:10]}", CuttableLink(free_port(), broker.port)
    await link.restore()
    central = await start_hub(tmp_path / "central", CENTRAL + uplink_section(broker.port, base))
    edge = await start_hub(tmp_path / "edge", EDGE + uplink_section(link.listen_port, base, "edge_id: shed-pi"))
    polled: list[Event] = []
    edge.bus.subscribe(DATA_BMS_RAW, polled.append, name="test")
    try:
        # The edge only polls and forwards: it processes and stores nothing itself.
        await wait_for(lambda: stored_times(central, "one"), timeout=20)
        assert await edge.store.latest("one") is None
        names = {b.id: (b.name, b.driver) for b in await central.store.batteries()}
        assert names == {"one": ("Pack one", "daly"), "two": ("two", "daly")}  # as the edge announced them
        # The edge's link states come along: the central lists its edge's batteries as online.
        await wait_for(lambda: service(central, "battery.two")[0] == Health.OK, timeout=10)
        async with aiohttp.ClientSession() as http, http.get(f"{central.http_url}/api/v1/bms") as response:
            listing = {b["id"]: b["link_state"] for b in (await response.json())["data"]}
        assert listing == {"one": "online", "two": "online"}

        await link.cut()  # the edge's network goes down; it keeps polling into its buffer
        await wait_for(lambda: service(edge, "uplink.forwarder")[0] == Health.DEGRADED, timeout=10)
        cut_at = len(polled)
        await wait_for(lambda: len(polled) >= cut_at + 10)
        await wait_for(lambda: service(edge, "uplink.forwarder")[1]["buffered"] >= 5)  # type: ignore[operator]
        await link.restore()
        await wait_for(lambda: service(edge, "uplink.forwarder")[0] == Health.OK, timeout=20)
        offline = [e.data for e in polled[cut_at:]]
        for battery in ("one", "two"):
            expected = {millis(r.timestamp) for r in offline if r.battery_id == battery}

            async def arrived(battery: str = battery, expected: set[int] = expected) -> bool:
                return expected <= await stored_times(central, battery)

            await wait_for(arrived, timeout=30)
        # Processed at the central hub: derived values are there, as for a battery polled there.
        latest = await central.store.latest("one")
        assert latest is not None and latest.cell_delta is not None and latest.power is not None
        health, details = service(central, "uplink.ingest")
        assert health == Health.OK and details["rejected"] == 0 and details["edges"] == {"shed-pi": "online"}
    finally:
        await edge.stop()
        await central.stop()
        await link.cut()


async def test_an_edge_restarted_while_offline_sends_its_buffer_later(broker: Mosquitto, tmp_path: Path) -> None:
    base, link = f"tbms-uplink-{uuid.uuid4().hex[:10]}", CuttableLink(free_port(), broker.port)
    config = EDGE + uplink_section(link.listen_port, base, "edge_id: e1")
    edge = await start_hub(tmp_path / "edge", config)  # no link yet: everything stays in the buffer
    polled: list[Event] = []
    edge.bus.subscribe(DATA_BMS_RAW, polled.append, name="test")
    await wait_for(lambda: len(polled) >= 8)
    await edge.stop()
    buffered = {(e.data.battery_id, millis(e.data.timestamp)) for e in polled}
    assert (tmp_path / "edge" / "data" / BUFFER_FILE).stat().st_size > 0

    central = await start_hub(tmp_path / "central", CENTRAL + uplink_section(broker.port, base))
    await wait_for(lambda: service(central, "uplink.ingest")[0] == Health.OK, timeout=10)
    await link.restore()
    edge = await start_hub(tmp_path / "edge", config)
    try:

        async def all_arrived() -> bool:
            stored = {(b, t) for b in ("one", "two") for t in await stored_times(central, b)}
            return buffered <= stored

        await wait_for(all_arrived, timeout=30)
    finally:
        await edge.stop()
        await central.stop()
        await link.cut()


async def test_the_central_hub_lists_remote_batteries_and_survives_bad_messages(
    broker: Mosquitto, tmp_path: Path
) -> None:
    base = f"tbms-uplink-{uuid.uuid4().hex[:10]}"
    central = await start_hub(tmp_path / "central", CENTRAL + uplink_section(broker.port, base))
    try:
        await wait_for(lambda: service(central, "uplink.ingest")[0] == Health.OK, timeout=10)
        reading = {"battery_id": "barn", "timestamp": "2026-11-25T10:00:00Z", "voltage": 52.1, "current": -3.0}
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish(f"{base}/x/readings", b"{not json", qos=1)
            await client.publish(f"{base}/x/readings", json.dumps({"readings": [{"voltage": 1}]}), qos=1)
            await client.publish(f"{base}/x/readings", json.dumps({"edge": "x", "readings": [reading]}), qos=1)
        await wait_for(lambda: central.store.latest("barn"), timeout=10)
        assert service(central, "uplink.ingest")[1]["rejected"] == 2
        async with aiohttp.ClientSession() as http, http.get(f"{central.http_url}/api/v1/bms") as response:
            listing = (await response.json())["data"]
        assert [(b["id"], b["driver"], b["link_state"]) for b in listing] == [("barn", "remote", "remote")]
        # A link change an edge reports: on the central's bus (its live page) and in its listing.
        changes: list[Event] = []
        central.bus.subscribe(DATA_BMS_LINK_CHANGED, changes.append, name="test")
        link = {"battery_id": "barn", "link_state": "offline", "previous": "online", "reason": "no answer"}
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish(f"{base}/x/link/barn", json.dumps(link), qos=1, retain=True)
        await wait_for(lambda: changes, timeout=10)
        assert changes[0].data == link and changes[0].origin == "uplink.x"
        assert service(central, "battery.barn") == (Health.DEGRADED, {"link_state": "offline", "edge": "x"})
        async with aiohttp.ClientSession() as http, http.get(f"{central.http_url}/api/v1/bms") as response:
            assert [b["link_state"] for b in (await response.json())["data"]] == ["offline"]
    finally:
        await central.stop()


async def test_an_edge_or_central_hub_without_a_broker_says_so(tmp_path: Path) -> None:
    edge = await start_hub(tmp_path / "edge", EDGE)
    try:
        found = edge.registry.get("plugin.uplink")
        assert found is not None and found.health == Health.FAILED
        assert "needs uplink.host" in (found.reason or "") and running(edge) is None
    finally:
        await edge.stop()


async def test_a_central_given_its_edges_takes_only_theirs(broker: Mosquitto, tmp_path: Path) -> None:
    base = f"tbms-uplink-{uuid.uuid4().hex[:10]}"
    central = await start_hub(tmp_path / "central", CENTRAL + uplink_section(broker.port, base, "edges: [north]"))
    try:
        await wait_for(lambda: service(central, "uplink.ingest")[0] == Health.OK, timeout=10)
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            for edge, battery in (("south", "s1"), ("north", "n1")):
                reading = {"battery_id": battery, "timestamp": "2026-11-25T10:00:00Z", "voltage": 52.1}
                await client.publish(f"{base}/{edge}/readings", json.dumps({"readings": [reading]}), qos=1)
        await wait_for(lambda: central.store.latest("n1"), timeout=10)
        assert [b.id for b in await central.store.batteries()] == ["n1"]  # south is another central's
    finally:
        await central.stop()
