"""The auth provider interface and the hub's start of the configured provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from hub.auth.principal import Principal

if TYPE_CHECKING:
    from hub.core import Hub


class AuthProvider(Protocol):
    """A source of identities: turns a presented token into a principal."""

    async def start(self, hub: Hub) -> None:
        """Open what the provider needs (after storage is open)."""

    async def stop(self) -> None:
        """Release it."""

    async def authenticate(self, token: str) -> Principal | None:
        """The principal of an access JWT or API token; None rejects it."""


class AuthUnavailableError(RuntimeError):
    """Auth is required but the configured provider does not exist or failed to start."""


async def start_provider(hub: Hub, config: dict[str, Any]) -> AuthProvider:
    """Build and start the configured provider."""
    spec = hub.plugins.auth_providers.get(config["provider"])
    if spec is None:
        known = ", ".join(hub.plugins.auth_providers.names()) or "none"
        raise AuthUnavailableError(f"auth provider {config['provider']!r} is not installed (known: {known})")
    provider: AuthProvider = spec.factory(config)
    await provider.start(hub)
    return provider


def provider_of(app: web.Application) -> AuthProvider | None:
    """The running provider of the hub serving ``app``."""
    from hub.web.app import HUB  # the app module imports the auth middleware

    return app[HUB].auth_provider
