"""Writes refused with 403 go into the audit log: who tried what, where, and why it was refused."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.auth.principal import PRINCIPAL
from hub.storage.base import DEFAULT_TENANT
from hub.web import api_audit
from hub.web import app as app_module
from hub.web.envelope import ApiError

_LOGGER = logging.getLogger(__name__)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DENIED = "request.denied"


@web.middleware
async def denied_write_audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Audit an API write refused with 403 (a role, a grant, the CSRF check), once: a handler that
    audited its own refusal (battery control with control switched off) is not recorded twice.
    The body is not kept: a refused request may carry a password."""
    try:
        return await handler(request)
    except ApiError as err:
        if _refused_write(request, err) and not request.get(api_audit.AUDITED):
            await _record(request, err)
        raise


def _refused_write(request: web.Request, err: ApiError) -> bool:
    return err.status_code == 403 and request.method in UNSAFE and request.path.startswith("/api/")


async def _record(request: web.Request, err: ApiError) -> None:
    principal = request.get(PRINCIPAL)
    tenant = DEFAULT_TENANT if principal is None else principal.tenant_id or DEFAULT_TENANT
    target = f"{request.method} {request.path}"
    try:  # the refusal stands whether or not it could be recorded
        await api_audit.record(
            app_module.get_hub(request), request, DENIED, target, "rejected", tenant=tenant, reason=err.message
        )
    except Exception:
        _LOGGER.warning("The refused request %s was not audited", target)
