"""The client manager plugin: its routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.hookspecs import hookimpl
from hub.web.api import add_endpoints
from trackingbms_clients import api_clients, api_fields, api_nodes

if TYPE_CHECKING:
    from aiohttp import web

    from hub.core import Hub


@hookimpl
def register_routes(app: web.Application, hub: Hub) -> None:
    """``/api/v1/tenants``, ``clients``, ``sites``, ``batteries``, ``fields`` and ``tree``."""
    add_endpoints(app, *api_clients.ENDPOINTS, *api_nodes.ENDPOINTS, *api_fields.ENDPOINTS)
