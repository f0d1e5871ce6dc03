"""The accounts plugin's hooks: the "database" auth provider and the auth, token and user routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.hookspecs import hookimpl
from hub.specs import AuthProviderSpec, Registry
from trackingbms_accounts import api_auth, api_invitations, api_tokens, api_users
from trackingbms_accounts.provider import DatabaseProvider

if TYPE_CHECKING:
    from aiohttp import web

    from hub.core import Hub


@hookimpl
def register_auth_providers(providers: Registry[AuthProviderSpec]) -> None:
    """Users and tokens in the hub's own database."""
    providers.add(AuthProviderSpec("database", DatabaseProvider, "Users with argon2 passwords in the hub's database"))


@hookimpl
def register_routes(app: web.Application, hub: Hub) -> None:
    """``/api/v1/auth/...`` and ``/api/v1/users...``."""
    api_auth.setup(app)
    api_tokens.setup(app)
    api_invitations.setup(app)  # before the users: /users/invitations is not a user id
    api_users.setup(app)
