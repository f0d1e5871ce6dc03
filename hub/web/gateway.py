"""Gateway middlewares: one log line per request, security headers and CORS."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from hub.auth.principal import PRINCIPAL
from hub.web.api import Handler
from hub.web.envelope import REQUEST_ID

_LOGGER = logging.getLogger("hub.web.requests")
# The web UI and Swagger UI load scripts and styles from this origin only; style-src allows inline
# style attributes (the page's bars and Swagger UI use them), never inline scripts.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
MAX_REQUEST_ID = 128


def _request_id(request: web.Request) -> str:
    """The caller's X-Request-ID when it is short printable text, else a new one."""
    given = request.headers.get("X-Request-ID", "")
    if given and len(given) <= MAX_REQUEST_ID and given.isprintable():
        return given
    return uuid.uuid4().hex


def _user(request: web.Request) -> str:
    principal = request.get(PRINCIPAL)
    return principal.username if principal is not None else "-"


def request_log_middleware() -> Middleware:
    """One INFO line per request: method, path, status, duration, request id and user when known."""

    @web.middleware
    async def log_request(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[REQUEST_ID] = _request_id(request)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as err:
            status = err.status
            raise
        finally:
            duration = (time.perf_counter() - started) * 1000
            _LOGGER.info(
                "%s %s %d %.1fms request_id=%s user=%s",
                request.method,
                request.path,
                status,
                duration,
                request[REQUEST_ID],
                _user(request),
                extra={
                    "request_id": request[REQUEST_ID],
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "duration_ms": round(duration, 2),
                    "user": _user(request),
                },
            )

    return log_request


def security_headers(config: Mapping[str, Any]) -> dict[str, str]:
    """The headers every answer carries, from ``http.security_headers``."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        "Content-Security-Policy": config.get("content_security_policy") or DEFAULT_CSP,
    }
    if config.get("hsts"):
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


def security_headers_middleware(config: Mapping[str, Any]) -> Middleware:
    """Adds the security headers to every answer, errors included (not to a WebSocket once open)."""
    headers = security_headers(config)

    @web.middleware
    async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as err:
            err.headers.update(headers)
            raise
        if not response.prepared:
            response.headers.update(headers)
        return response

    return add_headers


def _allowed_origin(origins: list[str], origin: str) -> str | None:
    if "*" in origins:
        return origin
    return origin if origin in origins else None


def cors_middleware(config: Mapping[str, Any]) -> Middleware:
    """CORS for ``http.cors.origins``: preflights answered here, Allow-Origin added to answers."""
    origins: list[str] = list(config.get("origins", []))
    methods = ", ".join(config.get("methods", []))
    allow_headers = ", ".join(config.get("headers", []))
    expose = ", ".join(config.get("expose_headers", []))
    credentials = bool(config.get("allow_credentials"))
    max_age = str(config.get("max_age", 600))

    def common(origin: str) -> dict[str, str]:
        if "*" in origins:  # any origin: never with credentials, whatever the config says
            return {"Access-Control-Allow-Origin": "*"}
        headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        if credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        allowed = _allowed_origin(origins, origin) if origin else None
        preflight = request.method == "OPTIONS" and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
        if preflight and allowed is not None:
            headers = {
                **common(allowed),
                "Access-Control-Allow-Methods": methods,
                "Access-Control-Allow-Headers": allow_headers,
                "Access-Control-Max-Age": max_age,
            }
            return web.Response(status=204, headers=headers)
        if preflight:
            return web.Response(status=403, text="CORS origin not allowed")
        try:
            response = await handler(request)
        except web.HTTPException as err:
            if allowed is not None:
                err.headers.update(common(allowed))
            raise
        if allowed is not None and not response.prepared:
            response.headers.update({**common(allowed), "Access-Control-Expose-Headers": expose})
        return response

    return cors
