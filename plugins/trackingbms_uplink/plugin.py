"""Edge and central hubs: ``hub.role: edge`` forwards readings over MQTT, ``central`` ingests them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hub.hookspecs import hookimpl
from trackingbms_uplink.buffer import DiskBuffer
from trackingbms_uplink.forwarder import Forwarder
from trackingbms_uplink.ingest import Ingest
from trackingbms_uplink.settings import CONFIG_SCHEMA, UplinkSettings

if TYPE_CHECKING:
    from hub.core import Hub

BUFFER_FILE = "uplink-buffer.db"
# One forwarder or ingest per running hub (tests run several hubs in one process).
_RUNNING: dict[int, Forwarder | Ingest] = {}


def running(hub: Hub) -> Forwarder | Ingest | None:
    """The hub's forwarder (edge) or ingest (central), or None."""
    return _RUNNING.get(id(hub))


@hookimpl
def config_schema() -> Mapping[Any, Any]:
    """The broker edges and centrals share, the topic tree, the edge id and the buffer's bound."""
    return CONFIG_SCHEMA


@hookimpl
async def hub_started(hub: Hub, config: Mapping[str, Any]) -> None:
    """On an edge, forward every polled reading; on a central hub, ingest them; else nothing."""
    if hub.role == "all":
        return
    settings = UplinkSettings.from_config(config)
    if settings.host is None:
        raise ValueError(f"a hub with hub.role: {hub.role} needs uplink.host (the MQTT broker it shares)")
    if hub.role == "edge":
        forwarder = Forwarder(hub, settings, DiskBuffer(hub.data_dir / BUFFER_FILE, settings.buffer_max))
        await forwarder.start()
        _RUNNING[id(hub)] = forwarder
    else:
        ingest = Ingest(hub, settings)
        ingest.start()
        _RUNNING[id(hub)] = ingest


@hookimpl
async def hub_stopping(hub: Hub) -> None:
    """Stop; an edge keeps what it has not sent in its buffer for the next start."""
    found = _RUNNING.pop(id(hub), None)
    if found is not None:
        await found.stop()
