"""The ``mqtt:`` config section: broker, topics, Home Assistant discovery, throttling and commands."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import voluptuous as vol

from hub.config.schema import battery_id

# MQTT topic levels may hold anything but the wildcards; a leading or trailing "/" makes empty levels.
_TOPIC = re.compile(r"^[^#+/\x00][^#+\x00]*(?<!/)$")
# Home Assistant: node and object ids of a discovery topic use only [a-zA-Z0-9_-] (the MQTT discovery docs).
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")


def topic_prefix(value: Any) -> str:
    """A topic prefix: no wildcards, no empty levels."""
    if not isinstance(value, str) or not _TOPIC.match(value) or "//" in value:
        raise vol.Invalid("expected a topic such as 'trackingbms' or 'site/bms' (no '+', '#', empty levels)")
    return value


def node_id(text: str) -> str:
    """``text`` reduced to the characters Home Assistant accepts in discovery ids."""
    return _UNSAFE.sub("_", text).strip("_") or "trackingbms"


_DEVICE = {vol.Optional("name"): str, vol.Optional("manufacturer"): str, vol.Optional("model"): str}
_SECONDS = vol.All(vol.Coerce(float), vol.Range(min=0))

CONFIG_SCHEMA: dict[Any, Any] = {
    vol.Optional("enabled", default=True): vol.Boolean(),
    # No host: the bridge stays off (the plugin is loaded in every hub, most have no broker).
    vol.Optional("host", default=None): vol.Any(None, vol.All(str, vol.Length(min=1))),
    vol.Optional("port", default=1883): vol.All(vol.Coerce(int), vol.Range(min=1, max=65535)),
    vol.Optional("username", default=None): vol.Any(None, str),
    vol.Optional("password", default=None): vol.Any(None, str),
    vol.Optional("tls", default=False): vol.Boolean(),
    vol.Optional("ca_file", default=None): vol.Any(None, str),
    vol.Optional("cert_file", default=None): vol.Any(None, str),
    vol.Optional("key_file", default=None): vol.Any(None, str),
    vol.Optional("tls_insecure", default=False): vol.Boolean(),
    vol.Optional("client_id", default=None): vol.Any(None, vol.All(str, vol.Length(min=1, max=128))),
    vol.Optional("keepalive", default=60): vol.All(vol.Coerce(int), vol.Range(min=5, max=3600)),
    vol.Optional("base_topic", default="trackingbms"): topic_prefix,
    vol.Optional("qos", default=1): vol.All(vol.Coerce(int), vol.In([0, 1, 2])),
    vol.Optional("retain", default=True): vol.Boolean(),
    vol.Optional("discovery", default=True): vol.Boolean(),
    vol.Optional("discovery_prefix", default="homeassistant"): topic_prefix,
    vol.Optional("batteries", default="all"): vol.Any("all", [battery_id]),
    vol.Optional("publish_interval", default=0.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=86400)),
    vol.Optional("locale", default="en"): vol.All(str, vol.Length(min=2, max=16)),
    vol.Optional("commands", default=True): vol.Boolean(),
    vol.Optional("queue_size", default=2000): vol.All(vol.Coerce(int), vol.Range(min=50, max=1_000_000)),
    vol.Optional("reconnect_min", default=1.0): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=600)),
    vol.Optional("reconnect_max", default=60.0): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=3600)),
    vol.Optional("stop_timeout", default=3.0): _SECONDS,
    vol.Optional("devices", default={}): {battery_id: _DEVICE},
}


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """The validated section."""

    host: str | None = None
    enabled: bool = True
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    client_id: str | None = None
    keepalive: int = 60
    base_topic: str = "trackingbms"
    qos: int = 1
    retain: bool = True
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    batteries: tuple[str, ...] | None = None  # None: every battery
    publish_interval: float = 0.0
    locale: str = "en"
    commands: bool = True
    queue_size: int = 2000
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    stop_timeout: float = 3.0
    devices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MqttSettings:
        """Build from the validated section (an empty mapping gives the defaults)."""
        values = dict(vol.Schema(CONFIG_SCHEMA)(dict(config)))
        chosen = values.pop("batteries")
        values["batteries"] = None if chosen == "all" else tuple(chosen)
        values["reconnect_max"] = max(values["reconnect_max"], values["reconnect_min"])
        return cls(**values)

    @property
    def active(self) -> bool:
        """The bridge runs only when enabled and given a broker."""
        return self.enabled and self.host is not None

    @property
    def uses_tls(self) -> bool:
        """TLS is on when asked for, or implied by a CA or client certificate."""
        return self.tls or any((self.ca_file, self.cert_file, self.key_file))

    @property
    def node(self) -> str:
        """This hub's id in discovery topics and unique ids, from the base topic."""
        return node_id(self.base_topic)

    @property
    def broker(self) -> str:
        """host:port, for logs and health."""
        return f"{self.host}:{self.port}"

    def selects(self, battery: str) -> bool:
        """Whether this battery is bridged."""
        return self.batteries is None or battery in self.batteries
