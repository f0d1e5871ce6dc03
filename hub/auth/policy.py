"""The policy table (role x action) and the checks every handler uses; the documented source of truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from hub.auth.principal import Grant, Principal, principal_of
from hub.web.envelope import ApiError

if TYPE_CHECKING:
    from hub.storage.base import TenantStore

ACTIONS = (
    "battery.read",
    "battery.control",
    "battery.manage",
    "client.read",
    "client.manage",
    "user.read",
    "user.manage",
    "field.manage",
    "alert.read",
    "alert.acknowledge",
    "rule.manage",
    "audit.read",
    "system.read",
    "system.manage",
    "tenant.manage",
)
# Held only by system administrators, never through a role on a node.
SYSTEM_ACTIONS = frozenset({"system.read", "system.manage", "tenant.manage"})

ROLES = ("viewer", "technician", "admin", "owner")  # each includes everything of the ones before
_VIEWER = frozenset({"battery.read", "client.read", "alert.read"})
_TECHNICIAN = _VIEWER | {"battery.control", "alert.acknowledge"}
_ADMIN = _TECHNICIAN | {
    "battery.manage",
    "client.manage",
    "user.read",
    "user.manage",
    "field.manage",
    "rule.manage",
    "audit.read",
}
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "viewer": _VIEWER,
    "technician": frozenset(_TECHNICIAN),
    "admin": frozenset(_ADMIN),
    # The owner's extra right (grant/revoke owner and admin, delete its node) is role_can_grant.
    "owner": frozenset(_ADMIN),
}


@dataclass(frozen=True, slots=True)
class NodePath:
    """Where a resource sits: tenant -> clients (top-down) -> site."""

    tenant_id: str
    clients: tuple[str, ...] = ()
    site_id: str | None = None

    def covers(self, grant: Grant) -> bool:
        """Whether a grant on ``grant``'s node reaches this place (granted there or above)."""
        if grant.node_type == "tenant":
            return grant.node_id == self.tenant_id
        if grant.node_type == "client":
            return grant.node_id in self.clients
        return grant.node_type == "site" and grant.node_id == self.site_id


def role_allows(role: str, action: str) -> bool:
    """The policy table itself: whether a role includes an action."""
    return action in ROLE_ACTIONS.get(role, frozenset())


def _in_scopes(principal: Principal, action: str) -> bool:
    return principal.scopes is None or action in principal.scopes


def allowed(principal: Principal, action: str, where: NodePath | None = None) -> bool:
    """Whether the principal may do ``action`` at ``where``; where=None: on some node at all."""
    if action not in ACTIONS or not _in_scopes(principal, action):
        return False
    if principal.system_admin:
        return True
    if action in SYSTEM_ACTIONS:
        return False
    if where is not None and where.tenant_id != principal.tenant_id:
        return False
    return any(role_allows(g.role, action) and (where is None or where.covers(g)) for g in principal.grants)


def holds_anywhere(principal: Principal, action: str) -> bool:
    """The coarse check of the middleware: the action is granted on at least one node."""
    return allowed(principal, action)


def role_can_grant(principal: Principal, role: str, where: NodePath) -> bool:
    """Owner and admin roles are granted (and revoked) only by an owner of the node or above;
    the other roles by anyone holding user.manage there."""
    if role not in ROLES or not allowed(principal, "user.manage", where):
        return False
    if role in ("viewer", "technician") or principal.system_admin:
        return True
    return any(g.role == "owner" and where.covers(g) for g in principal.grants)


def actions_of(principal: Principal) -> dict[str, list[dict[str, str]]]:
    """Each action the principal holds and the nodes it holds it on ("*" = everywhere)."""
    held: dict[str, list[dict[str, str]]] = {}
    for action in ACTIONS:
        if not _in_scopes(principal, action):
            continue
        if principal.system_admin:
            held[action] = [{"node_type": "*", "node_id": "*"}]
            continue
        nodes = [
            {"node_type": g.node_type, "node_id": g.node_id} for g in principal.grants if role_allows(g.role, action)
        ]
        if nodes and action not in SYSTEM_ACTIONS:
            held[action] = nodes
    return held


def policy_table() -> str:
    """The role x action table as Markdown (docs/auth.md holds exactly this; a test compares them)."""
    columns = [*ROLES, "system admin"]
    lines = ["| action | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for action in ACTIONS:
        marks = ["yes" if role_allows(role, action) else "—" for role in ROLES]
        lines.append(f"| `{action}` | " + " | ".join([*marks, "yes"]) + " |")
    return "\n".join(lines)


async def require_node(request: web.Request, action: str, where: NodePath) -> None:
    """403 when the action is not granted at ``where``; 404 for another tenant's node (never
    reveal that it exists)."""
    principal = principal_of(request)
    if allowed(principal, action, where):
        return
    if not principal.system_admin and where.tenant_id != principal.tenant_id:
        raise ApiError(404, "Not found")
    raise ApiError(403, f"Not allowed: {action}")


async def require_battery(request: web.Request, action: str, battery_id: str) -> TenantStore:
    """The tenant store holding the battery, once the action is allowed on the battery's node.

    404 when the battery is not recorded in the caller's tenant, 403 when it is but the action is
    not granted where it sits.
    """
    from hub.auth.scope import store_for  # scope imports the web app, which imports this module

    principal = principal_of(request)
    store = store_for(request)
    if principal.system_admin:
        if not allowed(principal, action):
            raise ApiError(403, f"Not allowed: {action}")
        return store
    if battery_id not in {record.id for record in await store.batteries()}:
        raise ApiError(404, f"Battery {battery_id!r} not found")
    scope = await store.battery_scope(battery_id)
    await require_node(request, action, NodePath(store.tenant_id, scope.client_path, scope.site_id))
    return store


async def visible_batteries(request: web.Request, action: str = "battery.read") -> set[str] | None:
    """The caller's tenant's batteries where ``action`` is allowed; None = every battery (a system
    administrator). Listings filter with it so a client's user never sees another client's batteries."""
    from hub.auth.scope import store_for  # scope imports the web app, which imports this module

    principal = principal_of(request)
    if principal.system_admin:
        return None
    store = store_for(request)
    records = await store.batteries()
    if allowed(principal, action, NodePath(store.tenant_id)):
        return {record.id for record in records}  # granted on the tenant node: every battery below it
    visible: set[str] = set()
    for record in records:
        scope = await store.battery_scope(record.id)
        if allowed(principal, action, NodePath(store.tenant_id, scope.client_path, scope.site_id)):
            visible.add(record.id)
    return visible
