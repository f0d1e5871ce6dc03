"""The tenant scope of a request: handlers read and write request data only through it."""

from __future__ import annotations

from aiohttp import web

from hub.auth.principal import principal_of
from hub.storage.base import DEFAULT_TENANT, TenantStore
from hub.web.envelope import ApiError


def tenant_of(request: web.Request) -> str:
    """The tenant a request works in: the principal's, or for a system admin ``?tenant=`` (default
    tenant when absent)."""
    principal = principal_of(request)
    if principal.system_admin:
        chosen = request.query.get("tenant")
        if chosen is not None and not chosen.isprintable():
            raise ApiError(404, "Tenant not found")  # NUL or control characters: no tenant has such an id
        return chosen or principal.tenant_id or DEFAULT_TENANT
    if principal.tenant_id is None:
        raise ApiError(403, "No tenant")
    return principal.tenant_id


def store_for(request: web.Request) -> TenantStore:
    """The tenant-scoped store of the request's principal."""
    from hub.web.app import get_hub  # the app module imports the auth middleware

    storage = get_hub(request).storage
    if storage is None:
        raise ApiError(503, "Storage is not running")
    return storage.for_tenant(tenant_of(request))
