"""The core ``auth`` config section: whether login is required, the provider, token lifetimes, cookies."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

AUTH_SCHEMA: dict[Any, Any] = {
    # false: every request acts as the local system administrator (single-user hub on 127.0.0.1).
    vol.Optional("required", default=True): vol.Boolean(),
    vol.Optional("provider", default="database"): str,
    # Seconds an access JWT is valid; refresh tokens rotate on every use and expire after refresh_ttl.
    vol.Optional("access_ttl", default=900): vol.All(vol.Coerce(int), vol.Range(min=10, max=86400)),
    vol.Optional("refresh_ttl", default=14 * 86400): vol.All(vol.Coerce(int), vol.Range(min=60, max=365 * 86400)),
    vol.Optional("issuer", default="trackingbms"): str,
    # The HS256 signing secret: generated on first start (0600), relative to hub.data_dir. Never in the config.
    vol.Optional("secret_file", default="auth/jwt_secret"): str,
    # auto: Secure cookies when the request came over HTTPS (directly or via X-Forwarded-Proto).
    vol.Optional("cookie_secure", default="auto"): vol.Any(vol.Boolean(), "auto"),
    vol.Optional("cookie_samesite", default="Strict"): vol.In(["Strict", "Lax"]),
    vol.Optional("cookie_domain", default=None): vol.Any(None, str),
}
