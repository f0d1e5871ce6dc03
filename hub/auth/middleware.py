"""The auth middleware: resolves the caller's token (Bearer header or session cookie) into a principal."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub.auth.policy import holds_anywhere
from hub.auth.principal import PRINCIPAL, Principal, local_admin
from hub.web.envelope import ApiError

ACCESS_COOKIE = "trackingbms_access"
REFRESH_COOKIE = "trackingbms_refresh"
CSRF_COOKIE = "trackingbms_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def check_csrf(request: web.Request) -> None:
    """Double-submit check for cookie-authenticated unsafe requests: header == cookie, else 403."""
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise ApiError(403, "CSRF token missing or wrong")


async def _authenticate(request: web.Request, protected: bool) -> Principal | None:
    """The principal of the request's token; a header wins over the cookie (scripts, not browsers).

    A cookie-authenticated unsafe request without the matching CSRF header is refused (403)."""
    from hub.auth.provider import provider_of

    token = bearer_token(request)
    via_cookie = token is None
    if via_cookie:
        token = request.cookies.get(ACCESS_COOKIE)
    if not token:
        return None
    provider = provider_of(request.app)
    if provider is None:
        if not protected:
            return None  # a public route (health, login) still answers while auth is down
        raise ApiError(503, "Authentication is unavailable: the auth provider did not start")
    principal = await provider.authenticate(token)
    if principal is None or not via_cookie:
        return principal
    check_csrf(request)
    return dataclasses.replace(principal, via="cookie")


def _protected(request: web.Request) -> tuple[bool, str | None]:
    """(needs a principal, coarse action); unrecorded /api/ routes need a login, UI pages do not."""
    from hub.web.api import endpoint_for  # the gateway module; imported late like the app

    endpoint = endpoint_for(request)
    if endpoint is not None:
        return endpoint.action is not None, endpoint.action
    return request.path.startswith("/api/"), None


def auth_required(request: web.Request) -> bool:
    """The ``auth.required`` setting the hub serving the request started with."""
    from hub.web.app import HUB

    return request.app[HUB].auth_required


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sets request[PRINCIPAL]; 401 without a valid token on protected routes, 403 when the route's
    action is held nowhere. With auth.required false every request is the local administrator."""
    if not auth_required(request):
        request[PRINCIPAL] = local_admin()
        return await handler(request)
    protected, action = _protected(request)
    principal = await _authenticate(request, protected) if protected or _has_token(request) else None
    if principal is not None:
        request[PRINCIPAL] = principal
    elif protected:
        raise ApiError(401, "Authentication required")
    if action is not None and principal is not None and not holds_anywhere(principal, action):
        raise ApiError(403, f"Not allowed: {action}")
    return await handler(request)


def _has_token(request: web.Request) -> bool:
    return bearer_token(request) is not None or ACCESS_COOKIE in request.cookies
