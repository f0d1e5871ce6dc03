"""The audit log: recording writes (who, tenant, before/after, address, request id), reading and exporting it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import web

from hub.auth.policy import NodePath, require_node
from hub.auth.principal import PRINCIPAL, principal_of
from hub.auth.scope import store_for, tenant_of
from hub.reading import utc_now
from hub.storage.audit import AuditQuery
from hub.storage.base import DEFAULT_TENANT, AuditEntry
from hub.web import app as app_module
from hub.web.api import QUERY, Endpoint, add_endpoints
from hub.web.audit_export import FORMATS, csv_chunk, csv_header, jsonl_chunk
from hub.web.envelope import REQUEST_ID, ApiError, envelope
from hub.web.params import iso_time, page_query, pagination
from hub.web.schemas import ANY, INT, N_STR, OBJECT, STR, TIME, array, obj

if TYPE_CHECKING:
    from hub.core import Hub
    from hub.storage.base import Storage, TenantStore

_LOGGER = logging.getLogger(__name__)
ANONYMOUS = "anonymous"  # the actor of a write made without any principal
AUDITED = web.RequestKey("audited", bool)  # this request's outcome is in the audit log already
EXPORT_CHUNK = 500


def _who(request: web.Request) -> tuple[str, str | None, str]:
    """(actor, user id, tenant) of the request; a system administrator writes into the tenant it works in."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        return ANONYMOUS, None, DEFAULT_TENANT
    tenant = tenant_of(request)
    if principal.system_admin and tenant != (principal.tenant_id or DEFAULT_TENANT):
        # Another tenant's administrators read this entry: the id of a user of another tenant is not theirs to see.
        return principal.username, None, tenant
    return principal.username, principal.user_id, tenant


async def record(
    hub: Hub,
    request: web.Request,
    action: str,
    target: str,
    result: str,
    asked: dict[str, Any] | None = None,
    *,
    before: Any = None,
    after: Any = None,
    tenant: str | None = None,
    as_user: tuple[str, str | None] | None = None,
    **details: Any,
) -> None:
    """Append an audit entry for a write made by this request; a failing store is logged and raised.
    ``as_user`` (username, user id) names the actor of a request that has no principal yet (a login)."""
    actor, user_id, own_tenant = _who(request)
    if as_user is not None:
        actor, user_id = as_user
    entry = AuditEntry(
        actor=actor,
        user_id=user_id,
        source_ip=request.remote,
        request_id=request.get(REQUEST_ID),
        action=action,
        target=target,
        result=result,
        request=asked or {},
        details=details,
        before=before,
        after=after,
    )
    if hub.storage is None:
        raise ApiError(503, "Storage is not running")
    request[AUDITED] = True
    try:
        await hub.storage.for_tenant(tenant or own_tenant).add_audit(entry)
    except Exception:
        _LOGGER.exception("Could not write the audit entry for %s on %s", action, target)
        raise


FILTERS: dict[Any, Any] = {
    vol.Optional("actor"): vol.All(str, vol.Length(min=1, max=200)),
    vol.Optional("action"): vol.All(str, vol.Length(min=1, max=200)),
    vol.Optional("target"): vol.All(str, vol.Length(min=1, max=500)),
    vol.Optional("result"): vol.In(["ok", "failed", "rejected"]),
    vol.Optional("from"): iso_time,
    vol.Optional("to"): iso_time,
    vol.Optional("tenant"): vol.All(str, vol.Length(min=1, max=64)),
}


async def tenant_store(request: web.Request) -> TenantStore:
    """The audit store of the tenant the request works in, once the caller may read its audit log."""
    principal = principal_of(request)
    if not principal.system_admin:
        await require_node(request, "audit.read", NodePath(principal.tenant_id or ""))
    return store_for(request)


async def _scope(request: web.Request) -> tuple[Storage, AuditQuery]:
    """The storage and the query of the request, restricted to what the principal may read: a tenant
    administrator (audit.read on the tenant) reads its tenant, a system administrator every tenant or
    the one ``?tenant=`` names."""
    principal = principal_of(request)
    params = request[QUERY]
    tenant: str | None = params.get("tenant")
    if not principal.system_admin:
        if tenant not in (None, principal.tenant_id):
            raise ApiError(403, "Not allowed: audit.read on another tenant")
        tenant = principal.tenant_id or ""
        await require_node(request, "audit.read", NodePath(tenant))
    storage = app_module.get_hub(request).storage
    if storage is None:
        raise ApiError(503, "Storage is not running")
    query = AuditQuery(
        tenant=tenant,
        actor=params.get("actor"),
        action=params.get("action"),
        target=params.get("target"),
        result=params.get("result"),
        start=params.get("from"),
        end=params.get("to"),
    )
    if query.start is not None and query.end is not None and query.start > query.end:
        raise ApiError(422, "from must not be after to", [{"path": "query.from", "message": "after to"}])
    return storage, query


async def list_audit(request: web.Request) -> web.Response:
    """Audited writes, newest first, filtered and paginated."""
    storage, query = await _scope(request)
    page, per_page = request[QUERY]["page"], request[QUERY]["per_page"]
    entries, total = await storage.audit_entries(query, per_page, (page - 1) * per_page)
    meta = {"pagination": pagination(page, per_page, total)}
    return envelope(request, [e.to_dict() for e in entries], meta=meta)


async def export_audit(request: web.Request) -> web.StreamResponse:
    """Every matching entry as CSV or JSON lines, newest first, streamed chunk by chunk."""
    storage, query = await _scope(request)
    kind = request[QUERY]["format"]
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{FORMATS[kind]}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="audit-{utc_now():%Y%m%dT%H%M%SZ}.{kind}"',
        }
    )
    response.headers["X-Request-ID"] = request.get(REQUEST_ID, "")
    await response.prepare(request)
    async for text in _chunks(storage, query, kind):
        await response.write(text.encode("utf-8"))
    await response.write_eof()
    return response


async def _chunks(storage: Storage, query: AuditQuery, kind: str) -> AsyncIterator[str]:
    if kind == "csv":
        yield csv_header()
    async for entries in storage.iter_audit_entries(query, EXPORT_CHUNK):
        yield csv_chunk(entries) if kind == "csv" else jsonl_chunk(entries)


AUDIT_RECORD = obj(
    id=INT,
    timestamp=TIME,
    tenant_id=STR,
    actor=STR,
    user_id=N_STR,
    source_ip=N_STR,
    request_id=N_STR,
    action=STR,
    target=STR,
    request=OBJECT,
    result=STR,
    details=OBJECT,
    before=ANY,
    after=ANY,
)
TAGS = ("audit",)
ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/audit",
        list_audit,
        "Audited writes, newest first: filter by actor, action (prefix with *), target, result, time",
        "audit.read",
        TAGS,
        query={**page_query(), **FILTERS},
        data=array(AUDIT_RECORD),
    ),
    Endpoint(
        "GET",
        "/api/v1/audit/export",
        export_audit,
        "Export the matching audited writes as CSV or JSON lines (streamed)",
        "audit.read",
        TAGS,
        query={vol.Required("format"): vol.In(list(FORMATS)), **FILTERS},
        raw=True,
    ),
)


def setup(app: web.Application) -> None:
    """Add the audit routes."""
    add_endpoints(app, *ENDPOINTS)
