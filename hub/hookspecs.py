"""The hook specifications: how a plugin contributes to the hub (see docs/hooks.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from aiohttp import web

    from hub.core import Hub
    from hub.specs import (
        AuthProviderSpec,
        DriverSpec,
        NotifierSpec,
        ProcessorSpec,
        Registry,
        SimulatorSpec,
    )

PROJECT = "trackingbms"
ENTRY_POINT_GROUP = "trackingbms.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def config_schema() -> Mapping[Any, Any] | None:
    """Return the voluptuous schema (a dict) of this plugin's own config section.

    Sync. Called once after plugins load, before the config is validated. The section is
    named after the plugin's entry-point name (``daly:`` for the ``daly`` plugin). Return
    None when the plugin has no settings.
    """


@hookspec
def register_drivers(drivers: Registry[DriverSpec]) -> None:
    """Add BMS drivers with ``drivers.add(DriverSpec(...))``.

    Sync. Called once after plugins load, before the config is validated (battery entries
    are checked against the registered drivers' schemas).
    """


@hookspec
def register_simulators(simulators: Registry[SimulatorSpec]) -> None:
    """Add device simulators (``trackingbms simulate NAME`` and the ``simulators`` section).

    Sync. Called once after plugins load.
    """


@hookspec
def register_processors(processors: Registry[ProcessorSpec]) -> None:
    """Add reading-pipeline steps. Each runs on every reading, in ``order``.

    Sync. Called once after plugins load; the processors are built when the hub starts.
    """


@hookspec
def register_notifiers(notifiers: Registry[NotifierSpec]) -> None:
    """Add notification channels (email, SMS, webhook, MQTT).

    Sync. Called once after plugins load.
    """


@hookspec
def register_auth_providers(providers: Registry[AuthProviderSpec]) -> None:
    """Add sources of user identities.

    Sync. Called once after plugins load.
    """


@hookspec
def register_routes(app: web.Application, hub: Hub) -> None:
    """Add HTTP routes, static files or middlewares to the aiohttp application.

    Sync. Called once while the web application is built, before it starts serving. A
    failure here marks the plugin failed; the rest of the application is still served.
    """


@hookspec
def hub_started(hub: Hub, config: Mapping[str, Any]) -> Awaitable[None] | None:
    """Start the plugin's runtime work (subscribe to the bus, start tasks).

    Sync or async (return a coroutine and the hub awaits it). Called once per start and
    again after the plugin's section is reloaded, with the plugin's own validated section.
    Each plugin is called on its own: an exception marks that plugin failed in
    ``/api/v1/core/services`` and the hub keeps running.
    """


@hookspec
def hub_stopping(hub: Hub) -> Awaitable[None] | None:
    """Stop what ``hub_started`` started (cancel tasks, close connections).

    Sync or async. Called once per plugin at shutdown and before a reload of its section.
    Exceptions are logged and ignored.
    """
