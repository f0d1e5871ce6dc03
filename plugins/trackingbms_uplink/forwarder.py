"""The edge side: every polled reading goes to the disk buffer, then to the broker in batches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

import aiomqtt

from hub.bus import DATA_BMS_LINK_CHANGED, DATA_BMS_RAW, Event, Subscription
from hub.registry import Health
from trackingbms_uplink.buffer import DiskBuffer
from trackingbms_uplink.settings import UplinkSettings

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
SERVICE = "uplink.forwarder"
STORE_EVERY_S = 0.2  # readings reach the disk this soon after their poll
IDLE_WAIT_S = 1.0


class Forwarder:
    """Buffers the edge's raw readings on disk and publishes them (QoS 1) until acknowledged.

    Two tasks: one commits polled readings to the buffer every STORE_EVERY_S, the other sends
    the oldest buffered readings, ``batch`` per message, removing them once the broker has
    acknowledged the message. A broker that is down only delays them; a duplicate (an
    acknowledgement lost with the connection) is written again at the central hub, which keeps
    one reading per battery and time.
    """

    def __init__(self, hub: Hub, settings: UplinkSettings, buffer: DiskBuffer) -> None:
        self.hub = hub
        self.settings = settings
        self.buffer = buffer
        self.sent = 0
        self._pending: list[str] = []
        self._stored = asyncio.Event()
        self._sub: Subscription | None = None
        self._links: Subscription | None = None
        self._client: aiomqtt.Client | None = None  # while connected
        self._tasks: list[asyncio.Task[None]] = []
        self._topic = settings.topic(settings.edge_id, "readings")

    async def start(self) -> None:
        await self.buffer.open()
        self.hub.registry.register(SERVICE, "uplink", Health.STARTING)
        self._sub = self.hub.bus.subscribe(DATA_BMS_RAW, self._on_reading, maxsize=100_000, name=SERVICE)
        self._links = self.hub.bus.subscribe(DATA_BMS_LINK_CHANGED, self._on_link, name=f"{SERVICE}.links")
        self._tasks = [asyncio.create_task(self._store_loop()), asyncio.create_task(self._send_loop())]
        if len(self.buffer):
            _LOGGER.info("Uplink: %d readings left from the last run will be sent first", len(self.buffer))

    def _on_reading(self, event: Event) -> None:
        self._pending.append(json.dumps(event.data.to_dict()))

    async def _on_link(self, event: Event) -> None:
        """A battery's link state, retained per battery: the newest one is what a central needs,
        so it is sent when connected and otherwise at the next connection (not buffered)."""
        client = self._client
        if client is None:
            return
        with contextlib.suppress(aiomqtt.MqttError):
            await self._publish_link(client, event.data)

    async def _publish_link(self, client: aiomqtt.Client, link: dict[str, Any]) -> None:
        topic = f"{self.settings.topic(self.settings.edge_id, 'link')}/{link['battery_id']}"
        await client.publish(topic, json.dumps(link), qos=1, retain=True)

    async def _store(self) -> None:
        items, self._pending = self._pending, []
        if not items:
            return
        try:
            await self.buffer.append(items)
        except Exception:
            # Kept in memory for the next try, up to the buffer's bound (oldest dropped beyond).
            self._pending = items + self._pending
            excess = len(self._pending) - self.buffer.limit
            if excess > 0:
                del self._pending[:excess]
                self.buffer.dropped += excess
            raise
        self._stored.set()

    async def _store_loop(self) -> None:
        while True:
            await asyncio.sleep(STORE_EVERY_S)
            try:
                await self._store()
            except Exception as err:  # a full disk: keep them in memory and say so
                _LOGGER.error("Uplink buffer write failed: %s", err)
                self._report(Health.DEGRADED, f"buffer write failed: {err}")

    async def _send_loop(self) -> None:
        delay = self.settings.reconnect_min
        status = self.settings.topic(self.settings.edge_id, "status")
        will = aiomqtt.Will(status, "offline", qos=1, retain=True)
        options = self.settings.client_options(self.settings.client_id or f"trackingbms-edge-{self.settings.edge_id}")
        while True:
            try:
                async with aiomqtt.Client(**options, will=will, clean_session=True) as client:
                    await client.publish(status, "online", qos=1, retain=True)
                    self._client = client  # before the announcement: a change during it is sent too
                    await self._announce(client)
                    delay = self.settings.reconnect_min
                    self._report(Health.OK, None)
                    await self._drain(client)
            except aiomqtt.MqttError as err:
                self._client = None
                self._report(Health.DEGRADED, f"broker {self.settings.broker} unreachable: {err}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max)

    async def _announce(self, client: aiomqtt.Client) -> None:
        """The edge's batteries (retained), so a central hub names them before their first reading."""
        coordinators = list(self.hub.batteries.coordinators.values() if self.hub.batteries else [])
        batteries = [{"id": c.config.id, "name": c.config.name, "driver": c.config.driver} for c in coordinators]
        payload = json.dumps({"edge": self.settings.edge_id, "batteries": batteries})
        await client.publish(self.settings.topic(self.settings.edge_id, "batteries"), payload, qos=1, retain=True)
        for coordinator in coordinators:  # the link states as they are now (changes while away were not sent)
            link = {"battery_id": coordinator.config.id, "link_state": coordinator.link_state().value}
            await self._publish_link(client, {**link, "previous": None, "reason": None})

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Send the buffer's oldest readings for as long as the connection lasts."""
        edge = json.dumps(self.settings.edge_id)
        while True:
            self._stored.clear()
            batch = await self.buffer.oldest(self.settings.batch)
            if not batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_WAIT_S):
                        await self._stored.wait()
                continue
            # The buffered items are JSON already: joined, not decoded and encoded again.
            payload = '{"edge": ' + edge + ', "readings": [' + ",".join(item for _, item in batch) + "]}"
            await client.publish(self._topic, payload, qos=1)  # returns once the broker acknowledged it
            await self.buffer.remove_through(batch[-1][0])
            self.sent += len(batch)
            self._report(Health.OK, None)

    def _report(self, health: Health, reason: str | None) -> None:
        details: dict[str, Any] = {"sent": self.sent, "buffered": len(self.buffer), "dropped": self.buffer.dropped}
        if self.buffer.dropped and health is Health.OK:
            health, reason = Health.DEGRADED, f"{self.buffer.dropped} oldest readings dropped: the buffer was full"
        self.hub.registry.set_health(SERVICE, health, reason, **details)

    async def stop(self) -> None:
        """Stop sending; what was polled and not yet sent stays in the buffer for the next run."""
        for subscription in (self._sub, self._links):
            if subscription is not None:
                subscription.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self._store()
        finally:
            await self.buffer.close()
        self.hub.registry.set_health(SERVICE, Health.STOPPED, None)
