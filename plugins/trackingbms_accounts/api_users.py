"""``/api/v1/users``: the users of a tenant, their roles on nodes, and their sessions (admins)."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from aiohttp import web

from hub.auth.policy import NodePath, allowed, role_can_grant
from hub.auth.principal import Grant, Principal, principal_of
from hub.auth.scope import tenant_of
from hub.reading import utc_now
from hub.storage.accounts import AccountConflictError, AccountStore, UserRecord
from hub.web.api import BODY, Endpoint
from hub.web.envelope import ApiError, envelope
from trackingbms_accounts.api_auditing import audit, user_view
from trackingbms_accounts.api_tokens import revoke_session_of, sessions_of
from trackingbms_accounts.schemas import EMAIL, GRANT, LOCALE, PASSWORD, USERNAME, text
from trackingbms_accounts.secrets_store import hash_password, new_id
from trackingbms_accounts.web import add_account_endpoints, path_id, provider

_FIELDS: dict[Any, Any] = {
    vol.Optional("display_name"): vol.Any(None, text(200)),
    vol.Optional("email"): EMAIL,
    vol.Optional("locale"): LOCALE,
    vol.Optional("grants"): [GRANT],
}
NEW_USER = vol.Schema({vol.Required("username"): USERNAME, vol.Required("password"): PASSWORD, **_FIELDS})
CHANGE_USER = vol.Schema({**_FIELDS, vol.Optional("password"): PASSWORD, vol.Optional("disabled"): bool})


async def grant_paths(accounts: AccountStore, tenant: str, grants: tuple[Grant, ...]) -> list[tuple[Grant, NodePath]]:
    """Each grant with where its node sits; 422 for a node that does not exist in the tenant."""
    placed = []
    for index, grant in enumerate(grants):
        path = await accounts.node_path(tenant, grant.node_type, grant.node_id)
        if path is None:
            raise ApiError(
                422,
                f"unknown {grant.node_type} {grant.node_id!r}",
                [{"path": f"body.grants.{index}.node_id", "message": "no such node in this tenant"}],
            )
        placed.append((grant, path))
    return placed


async def can_manage(principal: Principal, accounts: AccountStore, tenant: str, grants: tuple[Grant, ...]) -> bool:
    """Whether the principal may grant (or revoke) every one of these roles; no grants at all needs
    user.manage on the whole tenant."""
    if not grants:
        return allowed(principal, "user.manage", NodePath(tenant))
    return all(role_can_grant(principal, g.role, path) for g, path in await grant_paths(accounts, tenant, grants))


async def can_read(principal: Principal, accounts: AccountStore, tenant: str, grants: tuple[Grant, ...]) -> bool:
    """Whether the principal holds user.read over at least one of the user's nodes (or the tenant)."""
    if allowed(principal, "user.read", NodePath(tenant)):
        return True
    for grant in grants:
        path = await accounts.node_path(tenant, grant.node_type, grant.node_id)
        if path is not None and allowed(principal, "user.read", path):
            return True
    return False


def view(user: UserRecord, grants: tuple[Grant, ...]) -> dict[str, Any]:
    """A user as the API shows it."""
    return {
        **user.to_dict(),
        "grants": [{"node_type": g.node_type, "node_id": g.node_id, "role": g.role} for g in grants],
    }


async def target(request: web.Request, action: str) -> tuple[UserRecord, tuple[Grant, ...], str]:
    """The user of the path in the caller's tenant, when the caller may ``action`` it; 404 otherwise."""
    accounts = provider(request).accounts
    tenant = tenant_of(request)
    user = await accounts.user(path_id(request, "user_id", "User"))
    if user is None or user.tenant_id != tenant:
        raise ApiError(404, "User not found")
    grants = await accounts.grants(user.id)
    check = can_read if action == "user.read" else can_manage
    if not await check(principal_of(request), accounts, tenant, grants):
        if action == "user.read" or not await can_read(principal_of(request), accounts, tenant, grants):
            raise ApiError(404, "User not found")
        raise ApiError(403, f"Not allowed: {action} on this user's roles")
    return user, grants, tenant


async def list_users(request: web.Request) -> web.Response:
    accounts = provider(request).accounts
    tenant = tenant_of(request)
    principal = principal_of(request)
    result = []
    for user in await accounts.users(tenant):
        grants = await accounts.grants(user.id)
        if await can_read(principal, accounts, tenant, grants):
            result.append(view(user, grants))
    return envelope(request, result)


def grants_of(body: dict[str, Any]) -> tuple[Grant, ...]:
    return tuple(Grant(g["node_type"], g["node_id"], g["role"]) for g in body.get("grants", []))


async def create_user(request: web.Request) -> web.Response:
    body = request[BODY]
    accounts = provider(request).accounts
    tenant = tenant_of(request)
    grants = grants_of(body)
    if not await can_manage(principal_of(request), accounts, tenant, grants):
        raise ApiError(403, "Not allowed to grant these roles (owner and admin need an owner)")
    now = utc_now()
    user = UserRecord(
        id=new_id(),
        tenant_id=tenant,
        username=body["username"],
        password_hash=await hash_password(body["password"]),
        created_at=now,
        updated_at=now,
        display_name=body.get("display_name"),
        email=body.get("email"),
        locale=body.get("locale", "en"),
    )
    try:
        await accounts.create_user(user, grants)
    except AccountConflictError as err:
        await audit(request, "user.create", user.username, "rejected", error=str(err))
        raise ApiError(409, str(err)) from err
    await audit(request, "user.create", user.username, "ok", after=user_view(user, grants), user_id=user.id)
    return envelope(request, view(user, grants), status=201, message="Created")


async def get_user(request: web.Request) -> web.Response:
    user, grants, _ = await target(request, "user.read")
    return envelope(request, view(user, grants))


async def update_user(request: web.Request) -> web.Response:
    user, grants, tenant = await target(request, "user.manage")
    before = user_view(user, grants)
    body = request[BODY]
    accounts = provider(request).accounts
    principal = principal_of(request)
    if "grants" in body:
        new = grants_of(body)
        if not await can_manage(principal, accounts, tenant, new):
            raise ApiError(403, "Not allowed to grant these roles (owner and admin need an owner)")
        await accounts.set_grants(user.id, tenant, new)
        grants = new
    changes = {key: body[key] for key in ("display_name", "email", "locale", "disabled") if key in body}
    if "password" in body:
        changes["password_hash"] = await hash_password(body["password"])
    await accounts.update_user(user.id, changes, utc_now())
    if body.get("disabled") or "password" in body:
        for session in await sessions_of(accounts, user.id, None):
            await accounts.revoke_family(session["id"], utc_now())
    fresh = await accounts.user(user.id)
    assert fresh is not None
    after = user_view(fresh, grants)
    details = {"password_changed": "password" in body, "grants_changed": before["grants"] != after["grants"]}
    await audit(request, "user.update", user.username, "ok", before=before, after=after, user_id=user.id, **details)
    return envelope(request, view(fresh, grants))


async def delete_user(request: web.Request) -> web.Response:
    user, grants, _ = await target(request, "user.manage")
    if user.id == principal_of(request).user_id:
        raise ApiError(409, "You cannot delete yourself")
    await provider(request).accounts.delete_user(user.id)
    await audit(request, "user.delete", user.username, "ok", before=user_view(user, grants), user_id=user.id)
    return envelope(request, {"id": user.id, "deleted": True})


async def user_sessions(request: web.Request) -> web.Response:
    user, _, _ = await target(request, "user.manage")
    return envelope(request, await sessions_of(provider(request).accounts, user.id, None))


async def revoke_user_session(request: web.Request) -> web.Response:
    user, _, _ = await target(request, "user.manage")
    session_id = path_id(request, "session_id", "Session")
    revoked = await revoke_session_of(provider(request).accounts, user.id, session_id)
    await audit(request, "session.revoke", session_id, "ok", user_id=user.id, username=user.username, revoked=revoked)
    return envelope(request, {"revoked": revoked})


def setup(app: web.Application) -> None:
    """Register the routes."""
    tags = ("users",)
    base = "/api/v1/users"
    one = f"{base}/{{user_id}}"
    add_account_endpoints(
        app,
        Endpoint("GET", base, list_users, "Users of the tenant", "user.read", tags),
        Endpoint(
            "POST",
            base,
            create_user,
            "Create a user",
            "user.manage",
            tags,
            body=NEW_USER,
            status=201,
            errors=(404, 409),
        ),
        Endpoint("GET", one, get_user, "One user", "user.read", tags, errors=(404,)),
        Endpoint(
            "PUT",
            one,
            update_user,
            "Change a user, its roles or password",
            "user.manage",
            tags,
            body=CHANGE_USER,
            errors=(404,),
        ),
        Endpoint("DELETE", one, delete_user, "Delete a user", "user.manage", tags, errors=(404, 409)),
        Endpoint("GET", f"{one}/sessions", user_sessions, "A user's sessions", "user.manage", tags, errors=(404,)),
        Endpoint(
            "DELETE",
            f"{one}/sessions/{{session_id}}",
            revoke_user_session,
            "Revoke a user's session",
            "user.manage",
            tags,
            errors=(404,),
        ),
    )
