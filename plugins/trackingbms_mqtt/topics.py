"""The topic tree under the base topic, and the parsing of command topics."""

from __future__ import annotations

from dataclasses import dataclass

ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic the bridge publishes or listens to (see docs/mqtt.md for the payloads)."""

    base: str
    discovery_prefix: str = "homeassistant"

    @property
    def status(self) -> str:
        """Retained ``online``/``offline`` of the bridge; also its Last Will."""
        return f"{self.base}/status"

    def battery(self, battery_id: str, leaf: str) -> str:
        """``<base>/<battery_id>/<leaf>``."""
        return f"{self.base}/{battery_id}/{leaf}"

    def state(self, battery_id: str) -> str:
        """The latest reading as JSON."""
        return self.battery(battery_id, "state")

    def availability(self, battery_id: str) -> str:
        """Retained ``online``/``offline`` of the battery's link."""
        return self.battery(battery_id, "availability")

    def link(self, battery_id: str) -> str:
        """Retained JSON of the latest link change."""
        return self.battery(battery_id, "link")

    def analytics(self, battery_id: str) -> str:
        """The energy plugin's analytics as JSON."""
        return self.battery(battery_id, "analytics")

    def alert_event(self, battery_id: str) -> str:
        """One message per alert event (not retained)."""
        return self.battery(battery_id, "alerts/event")

    def open_alerts(self, battery_id: str) -> str:
        """Retained summary of the battery's open alerts."""
        return self.battery(battery_id, "alerts/open")

    def command(self, battery_id: str, action: str) -> str:
        """Where a control command is sent."""
        return self.battery(battery_id, f"set/{action}")

    def command_result(self, battery_id: str, action: str) -> str:
        """Where the outcome of a command is published (not retained)."""
        return self.battery(battery_id, f"set/{action}/result")

    @property
    def command_filter(self) -> str:
        """The subscription that receives every command (``<base>/+/set/+``; results are one level deeper)."""
        return f"{self.base}/+/set/+"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/will topic: ``online`` after HA (re)starts."""
        return f"{self.discovery_prefix}/status"

    def discovery(self, component: str, node: str, object_id: str) -> str:
        """``<prefix>/<component>/<node_id>/<object_id>/config`` (HA MQTT discovery topic format)."""
        return f"{self.discovery_prefix}/{component}/{node}/{object_id}/config"

    def parse_command(self, topic: str) -> tuple[str, str] | None:
        """(battery_id, action) of a command topic, or None for any other topic."""
        prefix = f"{self.base}/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 3 or parts[1] != "set" or not parts[0] or not parts[2]:
            return None
        return parts[0], parts[2]
