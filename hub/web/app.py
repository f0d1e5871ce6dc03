"""Builds the aiohttp application: middlewares, core and BMS routes, plugin routes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

from hub.registry import Health
from hub.web import api_bms, api_control, api_core, stream
from hub.web.envelope import envelope_middleware

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
HUB: web.AppKey[Hub] = web.AppKey("hub")


def build_app(hub: Hub) -> web.Application:
    """The application with every route; a plugin whose routes fail is marked failed."""
    app = web.Application(middlewares=[envelope_middleware], client_max_size=1024**2)
    app[HUB] = hub
    api_core.setup(app)
    api_bms.setup(app)
    api_control.setup(app)
    stream.setup(app)
    for name, plugin in hub.plugins.loaded():
        try:
            hub.plugins.call_one(plugin, "register_routes", app=app, hub=hub)
        except Exception as err:
            _LOGGER.exception("Plugin %s failed to register routes", name)
            hub.registry.set_health(f"plugin.{name}", Health.FAILED, f"routes: {type(err).__name__}: {err}")
    return app


def get_hub(request: web.Request) -> Hub:
    """The hub serving this request."""
    return request.app[HUB]
