"""Sites and the management view of batteries: create, read, update (move, place), delete, list."""

from __future__ import annotations

import uuid

from aiohttp import web

from hub.web.api import Endpoint
from hub.web.envelope import ApiError, envelope
from hub.web.schemas import array
from trackingbms_clients import schemas as s
from trackingbms_clients.access import audited, inputs, need, need_deletion, places, scoped
from trackingbms_clients.listing import listing


async def list_sites(request: web.Request) -> web.Response:
    """Sites the caller may see; ``client_id``/``top`` select a client's, ``custom.<field>`` filters."""
    return await listing(request, "site", "client_id", "client.read", lambda st, q: st.list_sites(q))


async def create_site(request: web.Request) -> web.Response:
    """A new site of a client (or of the tenant)."""
    _, body = await inputs(request)
    store = await scoped(request)
    await need(request, await places(store), "client", body["client_id"], "client.manage")
    site_id = body.get("id") or uuid.uuid4().hex
    made = await audited(
        request,
        "site.create",
        f"site:{site_id}",
        body,
        None,
        lambda: store.create_site(site_id, body["name"], body["client_id"], body["timezone"], body["custom"]),
    )
    return envelope(request, made.to_dict(), status=201, message="created")


async def get_site(request: web.Request) -> web.Response:
    """One site."""
    await inputs(request)
    store = await scoped(request)
    site_id = request.match_info["site_id"]
    await need(request, await places(store), "site", site_id, "client.read")
    found = await store.get_site(site_id)
    if found is None:
        raise ApiError(404, f"no site {site_id!r}")
    return envelope(request, found.to_dict())


async def update_site(request: web.Request) -> web.Response:
    """Rename a site, set its time zone, move it to another client (``client_id``), change custom fields."""
    _, body = await inputs(request)
    store = await scoped(request)
    site_id = request.match_info["site_id"]
    where = await places(store)
    await need(request, where, "site", site_id, "client.manage")
    if "client_id" in body:
        await need(request, where, "client", body["client_id"], "client.manage")
    before = await store.get_site(site_id)
    done = await audited(
        request, "site.update", f"site:{site_id}", body, before, lambda: store.update_site(site_id, **body)
    )
    return envelope(request, done.to_dict())


async def delete_site(request: web.Request) -> web.Response:
    """Delete a site; one holding batteries only with ``cascade=true``, which unplaces them."""
    query, _ = await inputs(request)
    store = await scoped(request)
    site_id = request.match_info["site_id"]
    await need_deletion(request, await places(store), "site", site_id)
    before = await store.get_site(site_id)
    cascade = query.get("cascade") == "true"
    unplaced = await audited(
        request,
        "site.delete",
        f"site:{site_id}",
        {"cascade": cascade},
        before,
        lambda: store.delete_site(site_id, cascade),
    )
    return envelope(request, {"id": site_id, "unplaced_batteries": unplaced}, message="deleted")


async def list_batteries(request: web.Request) -> web.Response:
    """Batteries the caller may see, with placement and custom fields; ``site_id``/``top`` select."""
    return await listing(request, "battery", "site_id", "battery.read", lambda st, q: st.list_batteries(q))


async def get_battery(request: web.Request) -> web.Response:
    """One battery's management record (its live data stays under /api/v1/bms)."""
    await inputs(request)
    store = await scoped(request)
    battery_id = request.match_info["battery_id"]
    await need(request, await places(store), "battery", battery_id, "battery.read")
    found = await store.get_battery(battery_id)
    if found is None:
        raise ApiError(404, f"no battery {battery_id!r}")
    return envelope(request, found.to_dict())


async def update_battery(request: web.Request) -> web.Response:
    """Place a battery on a site (``site_id``; null unplaces it), rename it, change custom fields."""
    _, body = await inputs(request)
    store = await scoped(request)
    battery_id = request.match_info["battery_id"]
    where = await places(store)
    await need(request, where, "battery", battery_id, "battery.manage")
    if "site_id" in body:
        await need(request, where, "site", body["site_id"], "battery.manage")
    before = await store.get_battery(battery_id)
    done = await audited(
        request,
        "battery.update",
        f"battery:{battery_id}",
        body,
        before,
        lambda: store.update_battery(battery_id, **body),
    )
    return envelope(request, done.to_dict())


_SITE = "/api/v1/sites/{site_id}"
_BATTERY = "/api/v1/batteries/{battery_id}"
ENDPOINTS = (
    Endpoint("GET", "/api/v1/sites", list_sites, "Sites, filtered (custom.<field>=value) and sorted", "client.read",
             ("sites",), query=s.list_query("client_id"), data=array(s.SITE), errors=(404,)),
    Endpoint("POST", "/api/v1/sites", create_site, "Create a site", "client.manage", ("sites",),
             query=s.TENANT_QUERY, body=s.SITE_CREATE, data=s.SITE, status=201, errors=(404, 409)),
    Endpoint("GET", _SITE, get_site, "One site", "client.read", ("sites",), query=s.TENANT_QUERY, data=s.SITE,
             errors=(404,)),
    Endpoint("PATCH", _SITE, update_site, "Change or move a site", "client.manage", ("sites",),
             query=s.TENANT_QUERY, body=s.SITE_UPDATE, data=s.SITE, errors=(404,)),
    Endpoint("DELETE", _SITE, delete_site, "Delete a site (unplacing its batteries with cascade=true)",
             "client.manage", ("sites",), query=s.DELETE_QUERY, data=s.SITE_DELETED, errors=(404, 409)),
    Endpoint("GET", "/api/v1/batteries", list_batteries, "Batteries with placement and custom fields",
             "battery.read", ("batteries",), query=s.list_query("site_id"), data=array(s.BATTERY), errors=(404,)),
    Endpoint("GET", _BATTERY, get_battery, "One battery's management record", "battery.read", ("batteries",),
             query=s.TENANT_QUERY, data=s.BATTERY, errors=(404,)),
    Endpoint("PATCH", _BATTERY, update_battery, "Place a battery on a site, rename it, set custom fields",
             "battery.manage", ("batteries",), query=s.TENANT_QUERY, body=s.BATTERY_UPDATE, data=s.BATTERY,
             errors=(404,)),
)  # fmt: skip
