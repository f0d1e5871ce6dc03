"""Serves the live page, its static files, and front-end packages installed by npm."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import voluptuous as vol
from aiohttp import web

from hub.auth.principal import PRINCIPAL
from hub.hookspecs import hookimpl
from trackingbms_webui import apidocs

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
HERE = Path(__file__).parent
# npm installs front-end packages under web/ (package.json + lock file); never a CDN.
DEFAULT_NODE_MODULES = HERE.parent.parent / "web" / "node_modules"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, enable_async=True)
CONFIG_SCHEMA: dict[Any, Any] = {
    vol.Optional("title", default="TrackingBMS"): str,
    vol.Optional("node_modules"): str,
}
HUB_KEY = web.AppKey("webui_hub", object)


def _node_modules(hub: Hub) -> Path:
    configured = (hub.config.data.get("webui") or {}).get("node_modules")
    return Path(configured) if configured else DEFAULT_NODE_MODULES


async def index(request: web.Request) -> web.Response:
    """The live page, rendered with the configured batteries so it is useful before JS runs.

    When the hub requires login, a visitor without a session goes to the login page first: the
    cards name the batteries, which only logged-in users may see.
    """
    hub: Any = request.app[HUB_KEY]
    if hub.auth_required and PRINCIPAL not in request:
        raise web.HTTPFound("/login")
    batteries = [
        {"id": c.config.id, "name": c.config.name, "driver": c.config.driver}
        for c in (hub.batteries.coordinators.values() if hub.batteries else [])
    ]
    title = (hub.config.data.get("webui") or {}).get("title", "TrackingBMS")
    template = _ENV.get_template("index.html")
    html = await template.render_async(title=title, batteries=batteries, logout=hub.auth_required)
    return web.Response(text=html, content_type="text/html")


async def _plain_page(request: web.Request, template: str) -> web.Response:
    hub: Any = request.app[HUB_KEY]
    title = (hub.config.data.get("webui") or {}).get("title", "TrackingBMS")
    html = await _ENV.get_template(template).render_async(title=title)
    return web.Response(text=html, content_type="text/html")


async def login_page(request: web.Request) -> web.Response:
    """The login form (static/login.js logs in through the API and sets the session cookies)."""
    return await _plain_page(request, "login.html")


async def invite_page(request: web.Request) -> web.Response:
    """Accepting an invitation link (static/invite.js)."""
    return await _plain_page(request, "invite.html")


@hookimpl
def config_schema() -> dict[Any, Any]:
    """Page title and where npm put the front-end packages."""
    return CONFIG_SCHEMA


@hookimpl
def register_routes(app: web.Application, hub: Hub) -> None:
    """/ and /static/ from this package, /vendor/uplot/ from node_modules."""
    app[HUB_KEY] = hub
    app.router.add_get("/", index)
    app.router.add_get("/login", login_page)
    app.router.add_get("/invite", invite_page)
    app.router.add_static("/static/", HERE / "static")
    uplot = _node_modules(hub) / "uplot" / "dist"
    if uplot.is_dir():
        app.router.add_static("/vendor/uplot/", uplot)
    else:
        _LOGGER.warning("uPlot not found at %s: run 'make web' (npm ci) for the charts", uplot)
    apidocs.register(app, _node_modules(hub))
