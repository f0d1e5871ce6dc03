"""Config keys of the gateway in the ``http:`` section: CORS, security headers and request logs."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-ID"]
EXPOSED_HEADERS = ["X-Request-ID", "Retry-After"]


def origin(value: Any) -> str:
    """A browser origin (``https://host[:port]``, no path), or ``*`` for any origin."""
    if not isinstance(value, str):
        raise vol.Invalid("expected an origin such as https://app.example.com, or *")
    if value == "*":
        return value
    scheme, sep, rest = value.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or "/" in rest.rstrip("/"):
        raise vol.Invalid(
            f"expected an origin such as https://app.example.com (scheme and host, no path), not {value!r}"
        )
    return value.rstrip("/")


CORS_SCHEMA: dict[Any, Any] = {
    # Empty: no cross-origin browser access at all (the web UI is same-origin and needs none).
    vol.Optional("origins", default=[]): [origin],
    vol.Optional("methods", default=CORS_METHODS): [vol.All(vol.Upper, vol.In([*CORS_METHODS, "HEAD"]))],
    vol.Optional("headers", default=CORS_HEADERS): [str],
    vol.Optional("expose_headers", default=EXPOSED_HEADERS): [str],
    vol.Optional("allow_credentials", default=False): vol.Boolean(),
    vol.Optional("max_age", default=600): vol.All(vol.Coerce(int), vol.Range(min=0, max=86400)),
}
SECURITY_HEADERS_SCHEMA: dict[Any, Any] = {
    vol.Optional("enabled", default=True): vol.Boolean(),
    # Only behind HTTPS (a reverse proxy): browsers then refuse plain HTTP to this host for a year.
    vol.Optional("hsts", default=False): vol.Boolean(),
    vol.Optional("content_security_policy"): str,
}
# Spread into the ``http:`` section of the core schema.
GATEWAY_KEYS: dict[Any, Any] = {
    vol.Optional("cors", default={}): CORS_SCHEMA,
    vol.Optional("security_headers", default={}): SECURITY_HEADERS_SCHEMA,
    vol.Optional("request_log", default=True): vol.Boolean(),
}
