"""The bridge: bus events to MQTT topics and HA discovery, HA restarts and commands from MQTT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiomqtt

from hub.bus import DATA_BMS_LINK_CHANGED, DATA_BMS_NEW, Event, Subscription
from hub.reading import Reading, utc_now
from hub.registry import Health
from hub.storage.records import AlertRecord
from trackingbms_mqtt.alerts import OpenAlerts, event_payload, record_event
from trackingbms_mqtt.commands import CommandHandler, Outcome
from trackingbms_mqtt.discovery import DeviceInfo, Discovery
from trackingbms_mqtt.entities import Layout
from trackingbms_mqtt.link import BrokerLink
from trackingbms_mqtt.outbox import Outbox, OutMessage
from trackingbms_mqtt.settings import MqttSettings
from trackingbms_mqtt.throttle import Throttle, to_json
from trackingbms_mqtt.topics import OFFLINE, ONLINE, Topics

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
SERVICE = "plugin.mqtt"
ANALYTICS_EVENT = "data.bms.analytics"  # published by the energy plugin (plugins/trackingbms_energy/board.py)
ALERT_PATTERN = "data.alert.*"
MAX_COMMANDS = 16  # commands in flight; more are refused rather than queued behind a slow BMS


class Bridge:
    """One hub's MQTT bridge; lives from ``hub_started`` to ``hub_stopping``."""

    def __init__(self, hub: Hub, settings: MqttSettings) -> None:
        self.hub = hub
        self.settings = settings
        self.topics = Topics(settings.base_topic, settings.discovery_prefix)
        self.outbox = Outbox(settings.queue_size)
        self.discovery = Discovery(settings, self.topics, hub.version)
        self.layouts: dict[str, Layout] = {}
        self.alerts = OpenAlerts(settings.locale)
        self.throttle = Throttle(settings.publish_interval, self._emit_json)
        self.commands = CommandHandler(hub, settings.selects)
        self._latest: dict[str, OutMessage] = {}  # what a reconnect or an HA restart sends again
        self._configs: dict[str, str] = {}  # discovery payloads sent, by topic
        self._subs: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._seeding: asyncio.Task[None] | None = None
        subscriptions = [self.topics.ha_status] if settings.discovery else []
        if settings.commands:
            subscriptions.append(self.topics.command_filter)
        self.link = BrokerLink(
            settings, self.topics, self.outbox, subscriptions, self._resync, self._on_message, self._report
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to the bus, queue the current state of every battery, start connecting."""
        bus = self.hub.bus
        self._subs = [
            bus.subscribe(DATA_BMS_NEW, self._on_reading, name="mqtt.readings"),
            bus.subscribe(DATA_BMS_LINK_CHANGED, self._on_link, name="mqtt.links"),
            bus.subscribe(ANALYTICS_EVENT, self._on_analytics, name="mqtt.analytics"),
            bus.subscribe(ALERT_PATTERN, self._on_alert, name="mqtt.alerts"),
        ]
        batteries = self.hub.batteries
        for battery_id, coordinator in (batteries.coordinators if batteries else {}).items():
            if not self.settings.selects(battery_id):
                continue
            state = coordinator.link_state().value
            self._link_changed({"battery_id": battery_id, "link_state": state, "previous": None, "reason": None})
            self._put_retained(self.topics.open_alerts(battery_id), to_json(self.alerts.summary(battery_id)))
            reading = batteries.latest.get(battery_id) if batteries else None
            if reading is not None:
                self._reading(reading)
        self.link.start()
        self._report(Health.OK, None)
        self._seeding = asyncio.get_running_loop().create_task(self._load_open_alerts(), name="mqtt.open-alerts")

    async def _load_open_alerts(self) -> None:
        """Seed the retained ``alerts/open`` summaries with the alerts already open in storage: their
        events went out before this bridge subscribed (plugins start in name order; a reload)."""
        found: list[AlertRecord] = []
        try:
            while True:
                page, total = await self.hub.store.alerts(state="open", limit=500, offset=len(found))
                found += page
                if not page or len(found) >= total:
                    break
        except Exception as err:  # storage down: the summaries fill from the events alone
            _LOGGER.warning("MQTT: open alerts not loaded from storage: %s", err)
        changed = {
            r.battery_id for r in found if self.settings.selects(r.battery_id) and self.alerts.seed(record_event(r))
        }
        for battery_id in sorted(changed):
            self._put_retained(self.topics.open_alerts(battery_id), to_json(self.alerts.summary(battery_id)))

    async def stop(self) -> None:
        """Publish what the bus still holds for us, then an ``offline`` status, and disconnect."""
        for sub in self._subs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.drain(), 1.0)  # e.g. the batteries' "stopped" link changes
            sub.cancel()
        self._subs = []
        self.throttle.close()
        if self._seeding is not None:
            self._seeding.cancel()
            await asyncio.gather(self._seeding, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.link.stop()

    # -- bus handlers (never wait: they only queue) -----------------------------------------------

    def _on_reading(self, event: Event) -> None:
        reading: Reading = event.data
        if self.settings.selects(reading.battery_id):
            self._reading(reading)
            self._refresh_details()

    def _reading(self, reading: Reading) -> None:
        layout = self.layouts.setdefault(reading.battery_id, Layout())
        if layout.add_reading(reading):
            self._announce(reading.battery_id)
        self.throttle.offer(self.topics.state(reading.battery_id), reading.to_dict())

    def _on_link(self, event: Event) -> None:
        data: Mapping[str, Any] = event.data
        if self.settings.selects(str(data["battery_id"])):
            self._link_changed(data)

    def _link_changed(self, data: Mapping[str, Any]) -> None:
        battery_id = str(data["battery_id"])
        online = data["link_state"] == "online"
        self._put_retained(self.topics.availability(battery_id), ONLINE if online else OFFLINE)
        payload = {**data, "timestamp": utc_now().isoformat().replace("+00:00", "Z")}
        self._put_retained(self.topics.link(battery_id), to_json(payload))

    def _on_analytics(self, event: Event) -> None:
        data: dict[str, Any] = dict(event.data)
        battery_id = str(data.get("battery_id"))
        if not self.settings.selects(battery_id):
            return
        if self.layouts.setdefault(battery_id, Layout()).add_analytics():
            self._announce(battery_id)
        self.throttle.offer(self.topics.analytics(battery_id), data)

    def _on_alert(self, event: Event) -> None:
        data = event.data
        if not isinstance(data, Mapping) or "id" not in data or not self.settings.selects(str(data.get("battery_id"))):
            return
        battery_id = str(data["battery_id"])
        text = to_json(event_payload(event.name, data, self.settings.locale))
        self.outbox.put(OutMessage(self.topics.alert_event(battery_id), text, False, self.settings.qos), coalesce=False)
        if self.alerts.apply(event.name, data):
            self._put_retained(self.topics.open_alerts(battery_id), to_json(self.alerts.summary(battery_id)))

    # -- publishing ---------------------------------------------------------------------------------

    def _emit_json(self, topic: str, payload: dict[str, Any]) -> None:
        message = OutMessage(topic, to_json(payload), self.settings.retain, self.settings.qos)
        self._latest[topic] = message
        self.outbox.put(message)

    def _put_retained(self, topic: str, payload: str) -> None:
        message = OutMessage(topic, payload, True, self.settings.qos)
        self._latest[topic] = message
        self.outbox.put(message)

    def _announce(self, battery_id: str, force: bool = False) -> None:
        """Queue the battery's new or changed discovery configs, or all with ``force`` (retained: HA reads
        them at its next start too)."""
        layout = self.layouts.get(battery_id)
        if not self.settings.discovery or layout is None:
            return
        for topic, payload in self.discovery.configs(layout, self.device(battery_id)).items():
            text = to_json(payload)
            if force or self._configs.get(topic) != text:
                self._configs[topic] = text
                self.outbox.put(OutMessage(topic, text, True, self.settings.qos))

    def device(self, battery_id: str) -> DeviceInfo:
        """The HA device of a battery: its name, and its driver as manufacturer and model (config overrides)."""
        override = self.settings.devices.get(battery_id, {})
        coordinator = self.hub.batteries.coordinators.get(battery_id) if self.hub.batteries else None
        name = coordinator.config.name if coordinator else battery_id
        driver = coordinator.config.driver if coordinator else "unknown"
        spec = self.hub.plugins.drivers.get(driver)
        return DeviceInfo(
            battery_id,
            override.get("name", name),
            override.get("manufacturer", driver.split("_")[0].capitalize()),
            override.get("model", spec.description if spec else driver),
        )

    def _resync(self) -> None:
        """After (re)connecting or an HA restart: discovery first, then the latest value of every topic."""
        for battery_id in list(self.layouts):
            self._announce(battery_id, force=True)
        for message in list(self._latest.values()):
            self.outbox.put(message)

    # -- incoming -----------------------------------------------------------------------------------

    def _on_message(self, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        if self.settings.discovery and topic == self.topics.ha_status:
            # A retained birth arrives with every (re)subscription, which already resyncs: only a live one counts.
            if not message.retain and payload.strip().lower() == ONLINE.encode():
                _LOGGER.info("Home Assistant is online: publishing discovery again")
                self._resync()
            return
        parsed = self.topics.parse_command(topic) if self.settings.commands else None
        if parsed is None or not payload:
            return  # an empty payload is how a retained message is deleted: never a command
        if len(self._tasks) >= MAX_COMMANDS:
            outcome = Outcome(parsed[0], parsed[1], None, "rejected", 429, "too many commands in progress")
            self._start(self._answer_busy(outcome))
            return
        self._start(self._command(parsed[0], parsed[1], payload, bool(message.retain)))

    def _start(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine, name="mqtt.command")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, battery_id: str, action: str, payload: bytes, retained: bool) -> None:
        outcome = await self.commands.handle(battery_id, action, payload, retained)
        _LOGGER.info("MQTT command %s on %s: %s (%s)", action, battery_id, outcome.result, outcome.message)
        # A command published with retain would replay at every reconnect: delete any retained copy (an
        # empty retained payload), which this bridge then ignores. A live message shows retain=False even
        # when published retained (MQTT 3.1.1 §3.3.1.3), so this is done after every command.
        self.outbox.put(
            OutMessage(self.topics.command(battery_id, action), "", True, self.settings.qos), coalesce=False
        )
        self._answer(outcome)

    async def _answer_busy(self, outcome: Outcome) -> None:
        await self.commands.audit(outcome, {"action": outcome.action, "value": None})
        self._answer(outcome)

    def _answer(self, outcome: Outcome) -> None:
        topic = self.topics.command_result(outcome.battery_id, outcome.action)
        message = OutMessage(topic, to_json(outcome.to_dict()), False, self.settings.qos)
        self.outbox.put(message, coalesce=False)

    # -- health -------------------------------------------------------------------------------------

    def details(self) -> dict[str, Any]:
        """Counters shown with the plugin's service (``GET /api/v1/core/services``)."""
        return {
            "broker": self.settings.broker,
            "base_topic": self.settings.base_topic,
            "connected": self.link.connected,
            "connects": self.link.connects,
            "published": self.link.published,
            "queued": len(self.outbox),
            "dropped": self.outbox.dropped + sum(sub.dropped for sub in self._subs),
            "last_error": self.link.last_error,
            "retry_in": self.link.retry_in,
        }

    def _report(self, health: Health, reason: str | None) -> None:
        self.hub.registry.set_health(SERVICE, health, reason, **self.details())

    def _refresh_details(self) -> None:
        service = self.hub.registry.get(SERVICE)
        if service is not None:
            service.details.update(self.details())
