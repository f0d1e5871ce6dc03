"""Tenants (system administrators) and clients: create, read, update, move, delete, list."""

from __future__ import annotations

import uuid

from aiohttp import web

from hub.auth.policy import allowed
from hub.auth.principal import principal_of
from hub.storage.base import Storage
from hub.storage.tenancy import ID_RE
from hub.web import app as app_module
from hub.web.api import Endpoint
from hub.web.envelope import ApiError, envelope
from hub.web.schemas import array
from trackingbms_clients import schemas as s
from trackingbms_clients.access import audited, inputs, need, need_deletion, places, scoped
from trackingbms_clients.listing import listing


def _storage(request: web.Request) -> Storage:
    if not allowed(principal_of(request), "tenant.manage"):
        raise ApiError(403, "Not allowed: tenant.manage")
    storage = app_module.get_hub(request).storage
    if storage is None:
        raise ApiError(503, "Storage is not running")
    return storage


async def list_tenants(request: web.Request) -> web.Response:
    """Every tenant."""
    return envelope(request, [t.to_dict() for t in await _storage(request).tenants()])


async def create_tenant(request: web.Request) -> web.Response:
    """A new tenant."""
    storage = _storage(request)
    _, body = await inputs(request)
    made = await audited(
        request,
        "tenant.create",
        f"tenant:{body['id']}",
        body,
        None,
        lambda: storage.create_tenant(body["id"], body["name"]),
    )
    return envelope(request, made.to_dict(), status=201, message="created")


async def rename_tenant(request: web.Request) -> web.Response:
    """Rename a tenant."""
    storage = _storage(request)
    _, body = await inputs(request)
    tenant_id = request.match_info["tenant_id"]
    before = await storage.get_tenant(tenant_id) if ID_RE.match(tenant_id) else None
    if before is None:
        raise ApiError(404, f"no tenant {tenant_id!r}")
    done = await audited(
        request,
        "tenant.rename",
        f"tenant:{tenant_id}",
        body,
        before,
        lambda: storage.rename_tenant(tenant_id, body["name"]),
    )
    return envelope(request, done.to_dict())


async def list_clients(request: web.Request) -> web.Response:
    """Clients the caller may see; ``parent_id``/``top`` select a level, ``custom.<field>`` filters."""
    return await listing(request, "client", "parent_id", "client.read", lambda st, q: st.list_clients(q))


async def create_client(request: web.Request) -> web.Response:
    """A new client, at the top or under another client."""
    _, body = await inputs(request)
    store = await scoped(request)
    await need(request, await places(store), "client", body["parent_id"], "client.manage")
    client_id = body.get("id") or uuid.uuid4().hex
    made = await audited(
        request,
        "client.create",
        f"client:{client_id}",
        body,
        None,
        lambda: store.create_client(client_id, body["name"], body["parent_id"], body["custom"]),
    )
    return envelope(request, made.to_dict(), status=201, message="created")


async def get_client(request: web.Request) -> web.Response:
    """One client."""
    await inputs(request)
    store = await scoped(request)
    client_id = request.match_info["client_id"]
    await need(request, await places(store), "client", client_id, "client.read")
    found = await store.get_client(client_id)
    if found is None:
        raise ApiError(404, f"no client {client_id!r}")
    return envelope(request, found.to_dict())


async def update_client(request: web.Request) -> web.Response:
    """Rename a client or change its custom field values (null removes a value)."""
    _, body = await inputs(request)
    store = await scoped(request)
    client_id = request.match_info["client_id"]
    await need(request, await places(store), "client", client_id, "client.manage")
    before = await store.get_client(client_id)
    done = await audited(
        request,
        "client.update",
        f"client:{client_id}",
        body,
        before,
        lambda: store.update_client(client_id, name=body.get("name"), custom=body.get("custom")),
    )
    return envelope(request, done.to_dict())


async def move_client(request: web.Request) -> web.Response:
    """Put a client under another client (null: top level); a move making a cycle is 409."""
    _, body = await inputs(request)
    store = await scoped(request)
    client_id, parent_id = request.match_info["client_id"], body["parent_id"]
    where = await places(store)
    await need(request, where, "client", client_id, "client.manage")
    await need(request, where, "client", parent_id, "client.manage")
    before = await store.get_client(client_id)
    done = await audited(
        request, "client.move", f"client:{client_id}", body, before, lambda: store.move_client(client_id, parent_id)
    )
    return envelope(request, done.to_dict(), message="moved")


async def delete_client(request: web.Request) -> web.Response:
    """Delete a client; one with clients or sites under it only with ``cascade=true`` (409 otherwise)."""
    query, _ = await inputs(request)
    store = await scoped(request)
    client_id = request.match_info["client_id"]
    await need_deletion(request, await places(store), "client", client_id)
    before = await store.get_client(client_id)
    cascade = query.get("cascade") == "true"
    deleted = await audited(
        request,
        "client.delete",
        f"client:{client_id}",
        {"cascade": cascade},
        before,
        lambda: store.delete_client(client_id, cascade),
    )
    return envelope(request, {"id": client_id, "deleted": deleted}, message="deleted")


TAGS = ("clients",)
_ID = "/api/v1/clients/{client_id}"
ENDPOINTS = (
    Endpoint("GET", "/api/v1/tenants", list_tenants, "Every tenant (system administrators)", "tenant.manage",
             ("tenants",), data=array(s.TENANT)),
    Endpoint("POST", "/api/v1/tenants", create_tenant, "Create a tenant", "tenant.manage", ("tenants",),
             body=s.TENANT_CREATE, data=s.TENANT, status=201, errors=(409,)),
    Endpoint("PATCH", "/api/v1/tenants/{tenant_id}", rename_tenant, "Rename a tenant", "tenant.manage", ("tenants",),
             body=s.TENANT_RENAME, data=s.TENANT, errors=(404,)),
    Endpoint("GET", "/api/v1/clients", list_clients, "Clients, filtered (custom.<field>=value) and sorted",
             "client.read", TAGS, query=s.list_query("parent_id"), data=array(s.CLIENT), errors=(404,)),
    Endpoint("POST", "/api/v1/clients", create_client, "Create a client", "client.manage", TAGS,
             query=s.TENANT_QUERY, body=s.CLIENT_CREATE, data=s.CLIENT, status=201, errors=(404, 409)),
    Endpoint("GET", _ID, get_client, "One client", "client.read", TAGS, query=s.TENANT_QUERY, data=s.CLIENT,
             errors=(404,)),
    Endpoint("PATCH", _ID, update_client, "Rename a client or change its custom fields", "client.manage", TAGS,
             query=s.TENANT_QUERY, body=s.CLIENT_UPDATE, data=s.CLIENT, errors=(404,)),
    Endpoint("POST", _ID + "/move", move_client, "Move a client under another (no cycles)", "client.manage", TAGS,
             query=s.TENANT_QUERY, body=s.MOVE, data=s.CLIENT, errors=(404, 409)),
    Endpoint("DELETE", _ID, delete_client, "Delete a client (its subtree with cascade=true)", "client.manage", TAGS,
             query=s.DELETE_QUERY, data=s.CLIENT_DELETED, errors=(404, 409)),
)  # fmt: skip
