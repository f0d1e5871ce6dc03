"""Listings of clients, sites and batteries: the caller's visible rows, filtered, sorted, paginated."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hub.storage.base import TenantStore
from hub.storage.tenancy import FieldDef, ListQuery, TenancyError
from hub.web.envelope import ApiError, envelope
from hub.web.params import pagination
from trackingbms_clients.access import api_error, inputs, places, scoped
from trackingbms_clients.schemas import UNSTORABLE

Lister = Callable[[TenantStore, ListQuery], Awaitable[tuple[list[Any], int]]]


def custom_filters(request: web.Request, definitions: list[FieldDef]) -> dict[str, Any]:
    """The ``custom.<name>=value`` query parameters, converted to their fields' types."""
    specs = {d.name: d for d in definitions}
    found: dict[str, Any] = {}
    errors = []
    for key, value in request.query.items():
        if not key.startswith("custom."):
            continue
        name = key.removeprefix("custom.")
        spec = specs.get(name)
        if spec is None:
            errors.append({"path": f"query.{key}", "message": "no such custom field"})
        elif UNSTORABLE.search(value):
            errors.append({"path": f"query.{key}", "message": "must not contain NUL characters or lone surrogates"})
        elif spec.type == "number":
            try:
                found[name] = float(value)
            except ValueError:
                errors.append({"path": f"query.{key}", "message": "expected a number"})
        else:
            found[name] = value
    if errors:
        raise ApiError(422, f"invalid request: {errors[0]['path']}: {errors[0]['message']}", errors)
    return found


async def listing(request: web.Request, kind: str, parent_key: str, action: str, lister: Lister) -> web.Response:
    """Answer a listing of ``kind`` restricted to the nodes where the caller holds ``action``."""
    query, _ = await inputs(request)
    store = await scoped(request)
    within = (await places(store)).visible(request, kind, action)
    sort = str(query.get("sort", "name"))
    page, per_page = int(query.get("page", 1)), int(query.get("per_page", 100))
    selection = ListQuery(
        parent=query.get(parent_key),
        top=query.get("top") == "true",
        custom=custom_filters(request, await store.fields(kind)),
        search=query.get("q"),
        sort=sort.removeprefix("-"),
        descending=sort.startswith("-"),
        within=within,
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    try:
        items, total = await lister(store, selection)
    except TenancyError as err:
        error = api_error(err)
        error.details = [{**e, "path": e["path"].replace("body.", "query.", 1)} for e in error.details or []]
        raise error from err
    return envelope(request, [i.to_dict() for i in items], meta={"pagination": pagination(page, per_page, total)})
