"""Serves the live, history and alerts pages, their static files, and front-end packages installed by npm."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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


def _title(hub: Any) -> str:
    return str((hub.config.data.get("webui") or {}).get("title", "TrackingBMS"))


def _logged_in_hub(request: web.Request) -> Any:
    """The hub, once the visitor may see its pages: without a session (when the hub requires
    login) the visitor goes to the login page first, as the pages name the batteries."""
    hub: Any = request.app[HUB_KEY]
    if hub.auth_required and PRINCIPAL not in request:
        raise web.HTTPFound("/login" if request.path == "/" else f"/login?next={quote(request.path_qs)}")
    return hub


def _batteries(hub: Any) -> list[dict[str, str]]:
    coordinators = hub.batteries.coordinators.values() if hub.batteries else []
    return [{"id": c.config.id, "name": c.config.name, "driver": c.config.driver} for c in coordinators]


async def _page(hub: Any, template: str, **context: Any) -> web.Response:
    html = await _ENV.get_template(template).render_async(title=_title(hub), logout=hub.auth_required, **context)
    return web.Response(text=html, content_type="text/html")


async def index(request: web.Request) -> web.Response:
    """The live page, rendered with the configured batteries so it is useful before JS runs."""
    hub = _logged_in_hub(request)
    return await _page(hub, "index.html", batteries=_batteries(hub))


async def history_page(request: web.Request) -> web.Response:
    """A battery's stored history over a range (static/history.js draws it from the API): the
    polled batteries first, then those only storage knows (banks, batteries no longer polled)."""
    hub = _logged_in_hub(request)
    polled = _batteries(hub)
    known = {b["id"] for b in polled}
    records = await hub.store.batteries()
    stored = [{"id": b.id, "name": b.name, "driver": b.driver} for b in records if b.id not in known]
    return await _page(hub, "history.html", batteries=polled + stored)


async def alerts_page(request: web.Request) -> web.Response:
    """The alerts list with acknowledgement (static/alerts.js)."""
    return await _page(_logged_in_hub(request), "alerts.html")


async def _plain_page(request: web.Request, template: str) -> web.Response:
    html = await _ENV.get_template(template).render_async(title=_title(request.app[HUB_KEY]))
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
    """/, /history, /alerts and /static/ from this package, /vendor/uplot/ from node_modules."""
    app[HUB_KEY] = hub
    app.router.add_get("/", index)
    app.router.add_get("/history", history_page)
    app.router.add_get("/alerts", alerts_page)
    app.router.add_get("/login", login_page)
    app.router.add_get("/invite", invite_page)
    app.router.add_static("/static/", HERE / "static")
    uplot = _node_modules(hub) / "uplot" / "dist"
    if uplot.is_dir():
        app.router.add_static("/vendor/uplot/", uplot)
    else:
        _LOGGER.warning("uPlot not found at %s: run 'make web' (npm ci) for the charts", uplot)
    apidocs.register(app, _node_modules(hub))
