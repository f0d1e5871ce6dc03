"""Custom field definitions per tenant and entity, and the tree of clients, sites and batteries."""

from __future__ import annotations

import voluptuous as vol
from aiohttp import web

from hub.storage.tenancy import ENTITIES, NAME_RE, FieldDef, ListQuery
from hub.web.api import Endpoint
from hub.web.envelope import ApiError, envelope
from hub.web.schemas import array
from trackingbms_clients import schemas as s
from trackingbms_clients.access import audited, inputs, need, places, scoped
from trackingbms_clients.tree import Node, build, open_alerts

_ALL = 1_000_000_000  # every row: the tree is read whole


def _field_key(request: web.Request) -> tuple[str, str]:
    entity, name = request.match_info["entity"], request.match_info["name"]
    if entity not in ENTITIES:
        raise ApiError(404, f"no entity {entity!r}: expected one of {', '.join(ENTITIES)}")
    if not NAME_RE.match(name):
        message = "lower-case letters, digits and '_', starting with a letter"
        raise ApiError(422, f"invalid request: path.name: {message}", [{"path": "path.name", "message": message}])
    return entity, name


async def list_fields(request: web.Request) -> web.Response:
    """The tenant's custom field definitions (``entity`` selects one kind)."""
    query, _ = await inputs(request)
    store = await scoped(request)
    return envelope(request, [f.to_dict() for f in await store.fields(query.get("entity"))])


async def save_field(request: web.Request) -> web.Response:
    """Create or replace a custom field definition (values are checked against it on every later write)."""
    _, body = await inputs(request)
    store = await scoped(request)
    entity, name = _field_key(request)
    await need(request, await places(store), "client", None, "field.manage")
    choices = tuple(body["choices"] or ())
    definition = FieldDef(entity, name, body["label"], body["type"], body["required"], choices)
    before = next((f for f in await store.fields(entity) if f.name == name), None)

    async def save() -> FieldDef:
        await store.save_field(definition)
        return definition

    await audited(request, "field.save", f"field:{entity}.{name}", body, before, save)
    return envelope(request, definition.to_dict(), message="created" if before is None else "updated")


async def delete_field(request: web.Request) -> web.Response:
    """Delete a custom field definition and every value of it."""
    await inputs(request)
    store = await scoped(request)
    entity, name = _field_key(request)
    await need(request, await places(store), "client", None, "field.manage")
    before = next((f for f in await store.fields(entity) if f.name == name), None)
    if before is None:
        raise ApiError(404, f"no custom field {entity}.{name}")
    await audited(
        request, "field.delete", f"field:{entity}.{name}", {}, before, lambda: store.delete_field(entity, name)
    )
    return envelope(request, before.to_dict(), message="deleted")


async def get_tree(request: web.Request) -> web.Response:
    """Clients > sites > batteries the caller may see, with counts and the worst open alert per node."""
    await inputs(request)
    store = await scoped(request)
    where = await places(store)
    clients, _ = await store.list_clients(ListQuery(within=where.visible(request, "client", "client.read"), limit=_ALL))
    sites, _ = await store.list_sites(ListQuery(within=where.visible(request, "site", "client.read"), limit=_ALL))
    batteries, _ = await store.list_batteries(
        ListQuery(within=where.visible(request, "battery", "battery.read"), limit=_ALL)
    )
    rows = {
        "client": [(c.id, c.name, c.parent_id) for c in clients],
        "site": [(x.id, x.name, x.client_id) for x in sites],
        "battery": [(b.id, b.name, b.site_id) for b in batteries],
    }
    tenant = Node("tenant", store.tenant_id, store.tenant_id, build(rows, await open_alerts(store)))
    whole = tenant.to_dict()
    data = {"tenant_id": store.tenant_id, "counts": whole["counts"], "worst_alert": whole["worst_alert"]}
    return envelope(request, {**data, "roots": whole["children"]})


_FIELD = "/api/v1/fields/{entity}/{name}"
ENDPOINTS = (
    Endpoint("GET", "/api/v1/fields", list_fields, "Custom field definitions of the tenant", "client.read",
             ("fields",), query={**s.TENANT_QUERY, vol.Optional("entity"): s.ENTITY}, data=array(s.FIELD),
             errors=(404,)),
    Endpoint("PUT", _FIELD, save_field, "Define (or redefine) a custom field", "field.manage", ("fields",),
             query=s.TENANT_QUERY, body=s.FIELD_BODY, data=s.FIELD, errors=(404,)),
    Endpoint("DELETE", _FIELD, delete_field, "Delete a custom field and its values", "field.manage", ("fields",),
             query=s.TENANT_QUERY, data=s.FIELD, errors=(404,)),
    Endpoint("GET", "/api/v1/tree", get_tree, "Clients > sites > batteries with counts and worst open alert",
             "client.read", ("clients",), query=s.TENANT_QUERY, data=s.TREE, errors=(404,)),
)  # fmt: skip
