"""The central side: readings forwarded by edge hubs enter this hub's pipeline as if polled here."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import aiomqtt

from hub.bus import DATA_BMS_LINK_CHANGED, DATA_BMS_RAW
from hub.reading import Reading
from hub.registry import Health
from trackingbms_uplink.settings import UplinkSettings, default_edge_id

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
SERVICE = "uplink.ingest"
# A remote battery's health from the link state its edge reports (as hub.batteries sets it).
_LINK_HEALTH = {
    "online": Health.OK,
    "connecting": Health.STARTING,
    "stopped": Health.STOPPED,
}


class Ingest:
    """Subscribes to every edge's readings and publishes them on the bus as ``data.bms.raw``.

    Readings come through a shared subscription (``$share/<group>/...``): with several central
    hubs on one broker and one database, each message goes to one of them. The batteries an edge
    announces are registered in this hub's tenant before their readings are stored. When the
    recorder holds the pollers back (slow storage), handing readings to the pipeline pauses too;
    the client has acknowledged them already, so they wait in memory meanwhile.
    """

    def __init__(self, hub: Hub, settings: UplinkSettings) -> None:
        self.hub = hub
        self.settings = settings
        self.received = 0
        self.rejected = 0
        self.edges: dict[str, str] = {}  # edge id -> its last status (online / offline)
        self.links: dict[str, str] = {}  # battery id -> the link state its edge reported last
        self._owners: dict[str, str] = {}  # battery id -> the edge that sent it
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.hub.registry.register(SERVICE, "uplink", Health.STARTING)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        delay = self.settings.reconnect_min
        options = self.settings.client_options(self.settings.client_id or f"trackingbms-central-{default_edge_id()}")
        while True:
            try:
                # A persistent session: while this hub is away (a restart), a broker that keeps
                # sessions queues the readings of its share of the subscription for it.
                async with aiomqtt.Client(**options, clean_session=False) as client:
                    for topic in self.settings.subscriptions():
                        await client.subscribe(topic, qos=1)
                    delay = self.settings.reconnect_min
                    self._report(Health.OK, None)
                    async for message in client.messages:
                        await self._handle(str(message.topic), message.payload)
            except aiomqtt.MqttError as err:
                self._report(Health.DEGRADED, f"broker {self.settings.broker} unreachable: {err}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max)

    async def _handle(self, topic: str, payload: Any) -> None:
        edge, _, kind = topic[len(self.settings.base_topic) + 1 :].partition("/")
        if kind == "status":
            self.edges[edge] = payload.decode() if isinstance(payload, bytes) else str(payload)
            self._report(Health.OK, None)
            return
        try:
            data = json.loads(payload)
            if kind == "batteries":
                for battery in data["batteries"]:
                    await self._register(edge, str(battery["id"]), battery.get("name"), battery.get("driver"))
            elif kind == "readings":
                await self._ingest(edge, data["readings"])
            elif kind.startswith("link/"):
                self._link(edge, data)
        except (ValueError, KeyError, TypeError) as err:
            self.rejected += 1
            _LOGGER.warning("Uplink: ignored a %s message from edge %r that is not valid: %s", kind, edge, err)
            self._report(Health.OK, None)

    async def _ingest(self, edge: str, items: list[dict[str, Any]]) -> None:
        for item in items:
            try:
                reading = Reading.from_dict(item)
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                self.rejected += 1
                _LOGGER.warning("Uplink: ignored a reading from edge %r: %s", edge, err)
                continue
            await self._register(edge, reading.battery_id, None, None)
            if self.hub.recorder is not None:
                await self.hub.recorder.wait_for_room()  # as the pollers of a hub do
            self.hub.bus.publish(DATA_BMS_RAW, reading, origin=f"uplink.{edge}")
            self.received += 1
        self._report(Health.OK, None)

    def _link(self, edge: str, link: dict[str, Any]) -> None:
        """An edge battery's link state, on this hub's bus as if its own coordinator had changed."""
        data = {key: link.get(key) for key in ("battery_id", "link_state", "previous", "reason")}
        if not isinstance(data["battery_id"], str) or not isinstance(data["link_state"], str):
            raise ValueError("a link message needs battery_id and link_state")
        battery, state = data["battery_id"], data["link_state"]
        self.links[battery] = state
        # A battery service as a local coordinator keeps one: health, and the state the API lists.
        service = f"battery.{battery}"
        if self.hub.registry.get(service) is None:
            self.hub.registry.register(service, "battery")
        health = _LINK_HEALTH.get(state, Health.DEGRADED)
        self.hub.registry.set_health(service, health, data["reason"], link_state=state, edge=edge)
        self.hub.bus.publish(DATA_BMS_LINK_CHANGED, data, origin=f"uplink.{edge}")

    async def _register(self, edge: str, battery_id: str, name: str | None, driver: str | None) -> None:
        """Make the battery known to storage (named as its edge calls it) before its readings."""
        owner = self._owners.get(battery_id)
        if owner is not None and name is None:
            if owner != edge:
                _LOGGER.warning(
                    "Uplink: battery %r comes from edges %r and %r: ids must be unique", battery_id, owner, edge
                )
                self._owners[battery_id] = edge
            return
        await self.hub.store.ensure_battery(battery_id, name or battery_id, driver or "remote")
        self._owners[battery_id] = edge

    def _report(self, health: Health, reason: str | None) -> None:
        details = {"received": self.received, "rejected": self.rejected, "edges": dict(self.edges)}
        self.hub.registry.set_health(SERVICE, health, reason, **details)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.hub.registry.set_health(SERVICE, Health.STOPPED, None)
