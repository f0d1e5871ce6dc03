"""Audit entries of the accounts routes: who did what to which account, never a password, hash or token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.auth.principal import Grant
from hub.storage.accounts import UserRecord
from hub.storage.base import DEFAULT_TENANT
from hub.web import api_audit
from hub.web.app import get_hub

# Keys whose values must never reach the audit log, whatever record they come from.
SECRET_KEYS = frozenset(
    {"password", "current_password", "password_hash", "token", "token_hash", "access_token", "refresh_token", "url"}
)


def scrub(value: Any) -> Any:
    """The value with every secret-bearing key removed (defence in depth: the views hold none already)."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def user_view(user: UserRecord, grants: tuple[Grant, ...] | None = None) -> dict[str, Any]:
    """A user as the audit log keeps it: the public fields and, when known, the role grants."""
    view = user.to_dict()
    if grants is not None:
        view["grants"] = [{"node_type": g.node_type, "node_id": g.node_id, "role": g.role} for g in grants]
    return dict(scrub(view))


def tenant_of_user(user: UserRecord) -> str:
    """The tenant whose audit log holds what happens to this user (system administrators: the hub's)."""
    return user.tenant_id or DEFAULT_TENANT


async def audit(
    request: web.Request,
    action: str,
    target: str,
    result: str,
    *,
    before: Any = None,
    after: Any = None,
    tenant: str | None = None,
    as_user: UserRecord | None = None,
    **details: Any,
) -> None:
    """Record an accounts write; ``as_user`` is the actor when the request has no principal (login)."""
    who = None if as_user is None else (as_user.username, as_user.id)
    await api_audit.record(
        get_hub(request),
        request,
        action,
        target,
        result,
        before=scrub(before),
        after=scrub(after),
        tenant=tenant,
        as_user=who,
        **scrub(details),
    )
