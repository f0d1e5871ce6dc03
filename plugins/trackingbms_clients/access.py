"""Where each node sits, who may see it, and the request plumbing every client-manager handler shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from hub.auth.policy import NodePath, allowed, require_node, role_allows
from hub.auth.principal import principal_of
from hub.auth.scope import store_for
from hub.storage.base import TenantStore
from hub.storage.tenancy import MAX_DEPTH, FieldError, TenancyError
from hub.web import app as app_module
from hub.web.api import BODY, QUERY, endpoint_for, validate_request
from hub.web.api_control import audit
from hub.web.envelope import ApiError

T = TypeVar("T")
KINDS = ("client", "site", "battery")


@dataclass(frozen=True, slots=True)
class Places:
    """The tenant's tree as parent links: enough to place any node on its NodePath."""

    tenant_id: str
    client_parent: dict[str, str | None]
    site_client: dict[str, str | None]
    battery_site: dict[str, str | None]

    def parents(self, kind: str) -> dict[str, str | None]:
        """The parent links of one kind of node."""
        return {"client": self.client_parent, "site": self.site_client, "battery": self.battery_site}[kind]

    def clients_above(self, client_id: str | None) -> tuple[str, ...]:
        """The client and its ancestors, top-down."""
        chain: list[str] = []
        while client_id is not None and client_id not in chain and len(chain) <= MAX_DEPTH:
            chain.append(client_id)
            client_id = self.client_parent.get(client_id)
        return tuple(reversed(chain))

    def path(self, kind: str, node_id: str | None) -> NodePath:
        """Where a node sits (None: the tenant itself)."""
        if node_id is None:
            return NodePath(self.tenant_id)
        if kind == "client":
            return NodePath(self.tenant_id, self.clients_above(node_id))
        if kind == "site":
            return NodePath(self.tenant_id, self.clients_above(self.site_client.get(node_id)), node_id)
        return self.path("site", self.battery_site.get(node_id))

    def visible(self, request: web.Request, kind: str, action: str) -> frozenset[str] | None:
        """The ids of ``kind`` the caller may ``action``; None when the whole tenant is allowed."""
        principal = principal_of(request)
        if allowed(principal, action, NodePath(self.tenant_id)):
            return None
        return frozenset(i for i in self.parents(kind) if allowed(principal, action, self.path(kind, i)))


async def places(store: TenantStore) -> Places:
    """The tenant's parent links, read now."""
    return Places(
        store.tenant_id, await store.client_parents(), await store.site_clients(), await store.battery_sites()
    )


async def scoped(request: web.Request) -> TenantStore:
    """The request's tenant store; a system admin's ``?tenant=`` must name an existing tenant."""
    store = store_for(request)
    if principal_of(request).system_admin:
        storage = app_module.get_hub(request).storage
        if storage is None or await storage.get_tenant(store.tenant_id) is None:
            raise ApiError(404, f"no tenant {store.tenant_id!r}")
    return store


async def need(request: web.Request, where: Places, kind: str, node_id: str | None, action: str) -> None:
    """404 for an unknown node (or another tenant's), 403 when the action is not granted there."""
    if node_id is not None and node_id not in where.parents(kind):
        raise ApiError(404, f"no {kind} {node_id!r}")
    await require_node(request, action, where.path(kind, node_id))


async def need_deletion(request: web.Request, where: Places, kind: str, node_id: str) -> None:
    """Deleting a node needs client.manage from above it, or the owner role on the node itself: an
    admin of a client manages everything under it but cannot delete the client it was given."""
    await need(request, where, kind, node_id, "client.manage")
    principal = principal_of(request)
    if principal.system_admin:
        return
    path = where.path(kind, node_id)
    for grant in principal.grants:
        from_above = (grant.node_type, grant.node_id) != (kind, node_id)
        if role_allows(grant.role, "client.manage") and path.covers(grant) and (from_above or grant.role == "owner"):
            return
    raise ApiError(403, f"Not allowed: deleting {kind} {node_id!r} takes its owner or a role above it")


async def inputs(request: web.Request) -> tuple[dict[str, Any], Any]:
    """The validated query and body (validated here when the gateway's middleware did not run)."""
    if QUERY not in request and BODY not in request:
        endpoint = endpoint_for(request)
        if endpoint is not None:
            await validate_request(request, endpoint)
    return request.get(QUERY, {}), request.get(BODY)


def api_error(err: TenancyError) -> ApiError:
    """A storage refusal as the API answers it (422 names each bad field as ``body.custom.x``)."""
    if isinstance(err, FieldError):
        errors = [{**e, "path": f"body.{e['path']}"} for e in err.errors]
        return ApiError(422, f"invalid request: {err}", errors)
    return ApiError(err.status, str(err))


def view(value: Any) -> Any:
    """A record's JSON view (None stays None)."""
    return None if value is None else value.to_dict()


async def audited(
    request: web.Request, action: str, target: str, asked: Any, before: Any, write: Callable[[], Awaitable[T]]
) -> T:
    """Run a write and audit it with the target before and after; a refused write is audited too."""
    hub = app_module.get_hub(request)
    request_body = asked if isinstance(asked, dict) else {"value": asked}
    try:
        result = await write()
    except TenancyError as err:
        await audit(hub, request, action, target, "rejected", asked=request_body, before=view(before), error=str(err))
        raise api_error(err) from err
    if hasattr(result, "to_dict"):
        await audit(hub, request, action, target, "ok", asked=request_body, before=view(before), after=view(result))
    else:  # a delete: nothing after it; what went with it is the outcome
        await audit(
            hub, request, action, target, "ok", asked=request_body, before=view(before), after=None, outcome=result
        )
    return result
