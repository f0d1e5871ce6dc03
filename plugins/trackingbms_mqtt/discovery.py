"""Home Assistant MQTT discovery: one device per battery, one config message per entity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trackingbms_mqtt.entities import ANALYTICS, AVAILABILITY, LINK, OPEN_ALERTS, STATE, Entity, Layout
from trackingbms_mqtt.settings import MqttSettings
from trackingbms_mqtt.topics import OFFLINE, ONLINE, Topics

ORIGIN_NAME = "TrackingBMS"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The HA device of one battery."""

    battery_id: str
    name: str
    manufacturer: str
    model: str


class Discovery:
    """Builds the discovery topics and payloads of a battery's entities.

    Per-entity discovery (``<prefix>/<component>/<node_id>/<object_id>/config``) works with every
    HA release that has MQTT discovery; each payload carries the full device block so HA groups the
    entities under one device per battery.
    """

    def __init__(self, settings: MqttSettings, topics: Topics, version: str) -> None:
        self.settings = settings
        self.topics = topics
        self.version = version

    def node(self, battery_id: str) -> str:
        """The battery's node id: unique per hub (from the base topic) and battery; ids are already HA-safe."""
        return f"{self.settings.node}_{battery_id}"

    def source_topic(self, battery_id: str, source: str) -> str:
        """The topic an entity reads."""
        return {
            STATE: self.topics.state,
            ANALYTICS: self.topics.analytics,
            OPEN_ALERTS: self.topics.open_alerts,
            AVAILABILITY: self.topics.availability,
            LINK: self.topics.link,
        }[source](battery_id)

    def topic(self, entity: Entity, battery_id: str) -> str:
        """The entity's config topic."""
        return self.topics.discovery(entity.component, self.node(battery_id), entity.key)

    def payload(self, entity: Entity, device: DeviceInfo) -> dict[str, Any]:
        """The entity's config payload."""
        node = self.node(device.battery_id)
        state_topic = self.source_topic(device.battery_id, entity.source)
        availability = [{"topic": self.topics.status, "payload_available": ONLINE, "payload_not_available": OFFLINE}]
        if entity.needs_link:
            availability.append(
                {
                    "topic": self.topics.availability(device.battery_id),
                    "payload_available": ONLINE,
                    "payload_not_available": OFFLINE,
                }
            )
        payload: dict[str, Any] = {
            "name": entity.name,
            "unique_id": f"{node}_{entity.key}",
            "state_topic": state_topic,
            "value_template": entity.template,
            "device_class": entity.device_class,
            "availability": availability,
            "availability_mode": "all",
            "enabled_by_default": entity.enabled,
            "qos": self.settings.qos,
            "device": {
                "identifiers": [node],
                "name": device.name,
                "manufacturer": device.manufacturer,
                "model": device.model,
            },
            "origin": {"name": ORIGIN_NAME, "sw_version": self.version},
        }
        if entity.component == "sensor":
            payload["state_class"] = entity.state_class
            payload["unit_of_measurement"] = entity.unit
        else:
            payload["payload_on"], payload["payload_off"] = "ON", "OFF"
        if entity.options:
            payload["options"] = list(entity.options)
        if entity.category:
            payload["entity_category"] = entity.category
        if entity.icon:
            payload["icon"] = entity.icon
        if entity.attributes:
            payload["json_attributes_topic"] = state_topic
            payload["json_attributes_template"] = entity.attributes
        return payload

    def configs(self, layout: Layout, device: DeviceInfo) -> dict[str, dict[str, Any]]:
        """Every config of a battery, by topic."""
        return {self.topic(e, device.battery_id): self.payload(e, device) for e in layout.entities()}
