"""Shared pieces of the accounts routes: the provider of a request, cookies, request metadata."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from hub.auth.middleware import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from hub.auth.principal import Principal, principal_of
from hub.web.api import Endpoint, add_endpoints
from hub.web.app import get_hub
from hub.web.envelope import ApiError
from trackingbms_accounts.provider import DatabaseProvider, IssuedSession

AUTH_PATH = "/api/v1/auth"


def add_account_endpoints(app: web.Application, *endpoints: Endpoint) -> None:
    """add_endpoints, documenting the 404 every accounts route answers when accounts are off."""
    add_endpoints(app, *(dataclasses.replace(e, errors=tuple(sorted({*e.errors, 404}))) for e in endpoints))


def provider(request: web.Request) -> DatabaseProvider:
    """The running database provider; 404 when accounts are not in use on this hub."""
    found = get_hub(request).auth_provider
    if not isinstance(found, DatabaseProvider):
        raise ApiError(404, "Accounts are not in use on this hub (auth.required is false or another provider)")
    return found


def person(request: web.Request) -> Principal:
    """The logged-in user itself: API tokens cannot manage the account (profile, sessions, tokens)."""
    principal = principal_of(request)
    if principal.via == "api_token":
        raise ApiError(403, "API tokens cannot manage accounts; log in as the user")
    if principal.via == "local":
        raise ApiError(404, "Accounts are not in use on this hub (auth.required is false)")
    return principal


def path_id(request: web.Request, name: str, what: str) -> str:
    """An id from the URL; 404 for one no database could hold (NUL, broken UTF-8)."""
    value = request.match_info[name]
    if "\x00" in value or not value.isprintable():
        raise ApiError(404, f"{what} not found")
    return value


def meta(request: web.Request) -> dict[str, str | None]:
    """Where a session was opened from, shown in the sessions list."""
    return {"ip": request.remote, "user_agent": request.headers.get("User-Agent", "")[:200] or None}


def _secure(request: web.Request, setting: Any) -> bool:
    if setting == "auto":
        return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    return bool(setting)


def set_cookies(request: web.Request, response: web.StreamResponse, issued: IssuedSession, csrf: str) -> None:
    """The browser's session: HttpOnly access and refresh cookies and a readable CSRF cookie."""
    config = provider(request).config
    common: dict[str, Any] = {
        "secure": _secure(request, config["cookie_secure"]),
        "samesite": config["cookie_samesite"],
        "domain": config["cookie_domain"],
    }
    refresh_age = int(config["refresh_ttl"])
    response.set_cookie(ACCESS_COOKIE, issued.access_token, httponly=True, path="/", max_age=refresh_age, **common)
    response.set_cookie(
        REFRESH_COOKIE, issued.refresh_token, httponly=True, path=AUTH_PATH, max_age=refresh_age, **common
    )
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, path="/", max_age=refresh_age, **common)


def clear_cookies(response: web.StreamResponse) -> None:
    """Forget the browser's session."""
    response.del_cookie(ACCESS_COOKIE, path="/")
    response.del_cookie(REFRESH_COOKIE, path=AUTH_PATH)
    response.del_cookie(CSRF_COOKIE, path="/")
