"""MQTT bridge with Home Assistant discovery: readings, links, analytics and alerts out; commands in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hub.hookspecs import hookimpl
from hub.registry import Health
from trackingbms_mqtt.bridge import SERVICE, Bridge
from trackingbms_mqtt.settings import CONFIG_SCHEMA, MqttSettings

if TYPE_CHECKING:
    from hub.core import Hub

# One bridge per running hub (tests run several hubs in one process).
_BRIDGES: dict[int, Bridge] = {}


def bridge_of(hub: Hub) -> Bridge | None:
    """The running bridge of a hub, or None (not configured, or stopped)."""
    return _BRIDGES.get(id(hub))


@hookimpl
def config_schema() -> Mapping[Any, Any]:
    """Broker, topics, Home Assistant discovery, battery selection, throttling, locale and commands."""
    return CONFIG_SCHEMA


@hookimpl
def hub_started(hub: Hub, config: Mapping[str, Any]) -> None:
    """Start the bridge when the section names a broker (``host``) and is enabled."""
    settings = MqttSettings.from_config(config)
    if not settings.active:
        state = "disabled" if settings.host else "not configured (no host)"
        hub.registry.set_health(SERVICE, Health.OK, None, bridge=state)
        return
    bridge = Bridge(hub, settings)
    _BRIDGES[id(hub)] = bridge
    bridge.start()


@hookimpl
async def hub_stopping(hub: Hub) -> None:
    """Flush, publish the retained ``offline`` status, disconnect."""
    bridge = _BRIDGES.pop(id(hub), None)
    if bridge is not None:
        await bridge.stop()
