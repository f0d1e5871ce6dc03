"""Serves the live page, its static files, and front-end packages installed by npm."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import voluptuous as vol
from aiohttp import web

from hub.hookspecs import hookimpl

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
    """The live page, rendered with the configured batteries so it is useful before JS runs."""
    hub: Any = request.app[HUB_KEY]
    batteries = [
        {"id": c.config.id, "name": c.config.name, "driver": c.config.driver}
        for c in (hub.batteries.coordinators.values() if hub.batteries else [])
    ]
    title = (hub.config.data.get("webui") or {}).get("title", "TrackingBMS")
    html = await _ENV.get_template("index.html").render_async(title=title, batteries=batteries)
    return web.Response(text=html, content_type="text/html")


@hookimpl
def config_schema() -> dict[Any, Any]:
    """Page title and where npm put the front-end packages."""
    return CONFIG_SCHEMA


@hookimpl
def register_routes(app: web.Application, hub: Hub) -> None:
    """/ and /static/ from this package, /vendor/uplot/ from node_modules."""
    app[HUB_KEY] = hub
    app.router.add_get("/", index)
    app.router.add_static("/static/", HERE / "static")
    uplot = _node_modules(hub) / "uplot" / "dist"
    if uplot.is_dir():
        app.router.add_static("/vendor/uplot/", uplot)
    else:
        _LOGGER.warning("uPlot not found at %s: run 'make web' (npm ci) for the charts", uplot)
