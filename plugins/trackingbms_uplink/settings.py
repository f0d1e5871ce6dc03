"""The ``uplink:`` config section: the broker edges and centrals share, topics and buffering."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import voluptuous as vol

# A topic level: no wildcards, no "/" (the edge id is one level of the topic).
_LEVEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TOPIC = re.compile(r"^[^#+/\x00$][^#+\x00]*(?<!/)$")


def topic_level(value: Any) -> str:
    """One topic level: letters, digits, ``_``, ``.``, ``-`` (an edge id, a share group)."""
    if not isinstance(value, str) or not _LEVEL.match(value):
        raise vol.Invalid("expected 1-64 letters, digits, '_', '.' or '-'")
    return value


def topic_prefix(value: Any) -> str:
    """A topic prefix: no wildcards, no empty levels, not starting with ``$``."""
    if not isinstance(value, str) or not _TOPIC.match(value) or "//" in value:
        raise vol.Invalid("expected a topic such as 'trackingbms/uplink' (no '+', '#', '$', empty levels)")
    return value


def default_edge_id() -> str:
    """The machine's host name, reduced to the characters a topic level may hold."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", socket.gethostname()).strip("-")[:64] or "edge"


CONFIG_SCHEMA: dict[Any, Any] = {
    vol.Optional("host", default=None): vol.Any(None, vol.All(str, vol.Length(min=1))),
    vol.Optional("port", default=1883): vol.All(vol.Coerce(int), vol.Range(min=1, max=65535)),
    vol.Optional("username", default=None): vol.Any(None, str),
    vol.Optional("password", default=None): vol.Any(None, str),
    vol.Optional("ca_file", default=None): vol.Any(None, str),
    vol.Optional("base_topic", default="trackingbms/uplink"): topic_prefix,
    vol.Optional("edge_id", default=None): vol.Any(None, topic_level),
    vol.Optional("group", default="trackingbms-central"): topic_level,
    # A central hub: "all" edges through the shared subscription, or only these (a partition).
    vol.Optional("edges", default="all"): vol.Any("all", vol.All([topic_level], vol.Length(min=1))),
    vol.Optional("client_id", default=None): vol.Any(None, vol.All(str, vol.Length(min=1, max=128))),
    vol.Optional("batch", default=200): vol.All(vol.Coerce(int), vol.Range(min=1, max=5000)),
    vol.Optional("buffer_max", default=1_000_000): vol.All(vol.Coerce(int), vol.Range(min=100)),
    vol.Optional("reconnect_min", default=1.0): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=600)),
    vol.Optional("reconnect_max", default=30.0): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=3600)),
}


@dataclass(frozen=True, slots=True)
class UplinkSettings:
    """The validated section."""

    host: str | None = None
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    base_topic: str = "trackingbms/uplink"
    edge_id: str = "edge"
    group: str = "trackingbms-central"
    client_id: str | None = None
    edges: tuple[str, ...] | None = None  # None: every edge (shared subscription)
    batch: int = 200
    buffer_max: int = 1_000_000
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> UplinkSettings:
        """Build from the section (an empty mapping gives the defaults)."""
        values = dict(vol.Schema(CONFIG_SCHEMA)(dict(config)))
        values["edge_id"] = values["edge_id"] or default_edge_id()
        values["edges"] = None if values["edges"] == "all" else tuple(values["edges"])
        values["reconnect_max"] = max(values["reconnect_max"], values["reconnect_min"])
        return cls(**values)

    @property
    def broker(self) -> str:
        """host:port, for logs and health."""
        return f"{self.host}:{self.port}"

    def topic(self, edge: str, kind: str) -> str:
        """``<base>/<edge>/<kind>``: readings, batteries or status."""
        return f"{self.base_topic}/{edge}/{kind}"

    def subscriptions(self) -> list[str]:
        """What a central hub subscribes to: every edge through the shared subscription, or its
        own edges' topics (each central then sees every reading of its edges' batteries)."""
        base = self.base_topic
        if self.edges is None:
            return [
                f"{base}/+/batteries",
                f"{base}/+/status",
                f"{base}/+/link/+",
                f"$share/{self.group}/{base}/+/readings",
            ]
        kinds = ("batteries", "status", "link/+", "readings")
        return [f"{base}/{edge}/{kind}" for edge in self.edges for kind in kinds]

    def client_options(self, client_id: str) -> dict[str, Any]:
        """aiomqtt.Client keyword arguments for this broker."""
        import aiomqtt

        tls = aiomqtt.TLSParameters(self.ca_file) if self.ca_file else None
        return {
            "hostname": self.host or "",
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "identifier": client_id,
            "tls_params": tls,
        }
