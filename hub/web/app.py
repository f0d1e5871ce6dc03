"""Builds the aiohttp application: middlewares, core and BMS routes, plugin routes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from hub.auth.middleware import auth_middleware
from hub.registry import Health
from hub.web import api_audit, api_bms, api_control, api_core, openapi, ratelimit, stream
from hub.web.api import validation_middleware
from hub.web.denied_audit import denied_write_audit_middleware
from hub.web.envelope import envelope_middleware
from hub.web.gateway import cors_middleware, request_log_middleware, security_headers_middleware

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
HUB: web.AppKey[Hub] = web.AppKey("hub")


def build_app(hub: Hub) -> web.Application:
    """The application with every route; a plugin whose routes fail is marked failed."""
    app = web.Application(middlewares=middlewares(hub.config.data.get("http") or {}), client_max_size=1024**2)
    app[HUB] = hub
    api_core.setup(app)
    api_bms.setup(app)
    api_control.setup(app)
    api_audit.setup(app)
    ratelimit.setup(app)  # http.rate_limit: the limits the two rate-limit middlewares apply
    stream.setup(app)
    openapi.setup(app)
    for name, plugin in hub.plugins.loaded():
        try:
            hub.plugins.call_one(plugin, "register_routes", app=app, hub=hub)
        except Exception as err:
            _LOGGER.exception("Plugin %s failed to register routes", name)
            hub.registry.set_health(f"plugin.{name}", Health.FAILED, f"routes: {type(err).__name__}: {err}")
    return app


def middlewares(http: dict[str, Any]) -> list[Middleware]:
    """Outermost first: the request log sees every answer, headers and CORS apply to errors too,
    the envelope turns errors into answers, auth (401/403) comes before validation (422)."""
    chain: list[Middleware] = []
    if http.get("request_log", True):
        chain.append(request_log_middleware())
    headers = http.get("security_headers") or {}
    if headers.get("enabled", True):
        chain.append(security_headers_middleware(headers))
    chain.append(cors_middleware(http.get("cors") or {}))
    # Per address before auth (bad tokens count too), per user after it (the principal is known).
    chain += [envelope_middleware, denied_write_audit_middleware, ratelimit.ip_rate_limit_middleware, auth_middleware]
    chain += [ratelimit.user_rate_limit_middleware, validation_middleware]
    return chain


def get_hub(request: web.Request) -> Hub:
    """The hub serving this request."""
    return request.app[HUB]
