"""Who is calling: the principal an auth provider resolves a token into."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from hub.storage.base import DEFAULT_TENANT
from hub.web.envelope import ApiError

NODE_TYPES = ("tenant", "client", "site")


@dataclass(frozen=True, slots=True)
class Grant:
    """A role on one node of the tenancy tree, inherited by everything below it."""

    node_type: str  # "tenant" | "client" | "site"
    node_id: str
    role: str  # "owner" | "admin" | "technician" | "viewer"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user with the roles it holds, maybe restricted by token scopes."""

    user_id: str
    username: str
    tenant_id: str | None  # None only for a system administrator
    system_admin: bool = False
    grants: tuple[Grant, ...] = ()
    scopes: frozenset[str] | None = None  # API token: the actions it may use (None = all the user's)
    session_id: str | None = None  # refresh-token family of a login session
    via: str = "bearer"  # "bearer" | "cookie" | "api_token" | "local"


PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)


def principal_of(request: web.Request) -> Principal:
    """The request's principal; ApiError(401) when nobody is logged in."""
    if PRINCIPAL not in request:
        raise ApiError(401, "Authentication required")
    return request[PRINCIPAL]


def local_admin() -> Principal:
    """The principal of every request when ``auth.required`` is false (single-user hub)."""
    return Principal(
        user_id="local",
        username="local",
        tenant_id=DEFAULT_TENANT,
        system_admin=True,
        via="local",
    )
