"""The policy table: every role against every action, inheritance down the tree, scopes, tenants."""

from __future__ import annotations

import pytest

from hub.auth.policy import (
    ACTIONS,
    ROLES,
    SYSTEM_ACTIONS,
    NodePath,
    actions_of,
    allowed,
    holds_anywhere,
    role_can_grant,
)
from hub.auth.principal import Grant, Principal, local_admin

# The documented table (docs/auth.md), written out independently of the code's sets.
EXPECTED = {
    "viewer": {"battery.read", "client.read", "alert.read"},
    "technician": {"battery.read", "client.read", "alert.read", "battery.control", "alert.acknowledge"},
    "admin": {
        "battery.read",
        "client.read",
        "alert.read",
        "battery.control",
        "alert.acknowledge",
        "battery.manage",
        "client.manage",
        "user.read",
        "user.manage",
        "field.manage",
        "rule.manage",
        "audit.read",
    },
}
EXPECTED["owner"] = EXPECTED["admin"]

SITE = NodePath("t1", ("c1", "c2"), "s1")


def user(*grants: Grant, tenant: str = "t1", scopes: frozenset[str] | None = None) -> Principal:
    return Principal(user_id="u", username="u", tenant_id=tenant, grants=grants, scopes=scopes)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_role_by_action_on_tenant_grant(role: str, action: str) -> None:
    principal = user(Grant("tenant", "t1", role))
    expected = action in EXPECTED[role]
    assert allowed(principal, action, SITE) is expected
    assert holds_anywhere(principal, action) is expected
    assert allowed(principal, action) is expected


@pytest.mark.parametrize("action", ACTIONS)
def test_system_admin_holds_everything(action: str) -> None:
    admin = Principal(user_id="a", username="admin", tenant_id=None, system_admin=True)
    assert allowed(admin, action, SITE) and holds_anywhere(admin, action)
    assert allowed(local_admin(), action, NodePath("other"))


def test_grants_inherit_down_not_up_nor_sideways() -> None:
    on_client = user(Grant("client", "c2", "technician"))
    assert allowed(on_client, "battery.control", SITE)
    assert allowed(on_client, "battery.control", NodePath("t1", ("c1", "c2")))
    assert not allowed(on_client, "battery.control", NodePath("t1", ("c1",)))
    assert not allowed(on_client, "battery.control", NodePath("t1", ("c3",), "s9"))
    assert not allowed(on_client, "battery.control", NodePath("t1"))
    on_site = user(Grant("site", "s1", "viewer"))
    assert allowed(on_site, "battery.read", SITE)
    assert not allowed(on_site, "battery.read", NodePath("t1", ("c1", "c2"), "s2"))


def test_another_tenant_is_never_reached() -> None:
    owner = user(Grant("tenant", "t1", "owner"))
    assert not allowed(owner, "battery.read", NodePath("t2"))
    # Even a grant naming the other tenant's node id does not reach into it.
    assert not allowed(user(Grant("client", "c1", "owner")), "battery.read", NodePath("t2", ("c1",)))


def test_system_actions_never_come_from_roles() -> None:
    owner = user(Grant("tenant", "t1", "owner"))
    for action in SYSTEM_ACTIONS:
        assert not allowed(owner, action, NodePath("t1")) and not holds_anywhere(owner, action)


def test_unknown_action_is_denied() -> None:
    assert not allowed(local_admin(), "battery.explode")


def test_scopes_restrict_an_api_token() -> None:
    scoped = user(Grant("tenant", "t1", "admin"), scopes=frozenset({"battery.read"}))
    assert allowed(scoped, "battery.read", SITE)
    assert not allowed(scoped, "battery.control", SITE)
    # Scopes never add what the user's roles lack.
    assert not allowed(user(Grant("tenant", "t1", "viewer"), scopes=frozenset({"battery.manage"})), "battery.manage")
    admin = Principal(user_id="a", username="a", tenant_id=None, system_admin=True, scopes=frozenset({"system.read"}))
    assert allowed(admin, "system.read") and not allowed(admin, "system.manage")


def test_only_owners_grant_owner_and_admin() -> None:
    admin = user(Grant("tenant", "t1", "admin"))
    owner = user(Grant("client", "c1", "owner"))
    assert role_can_grant(admin, "technician", SITE) and role_can_grant(admin, "viewer", SITE)
    assert not role_can_grant(admin, "admin", SITE) and not role_can_grant(admin, "owner", SITE)
    assert role_can_grant(owner, "owner", SITE) and role_can_grant(owner, "admin", SITE)
    assert not role_can_grant(owner, "owner", NodePath("t1"))
    assert not role_can_grant(user(Grant("tenant", "t1", "technician")), "viewer", SITE)
    assert not role_can_grant(owner, "superuser", SITE)
    assert role_can_grant(local_admin(), "owner", NodePath("t9"))


def test_actions_of_lists_actions_and_nodes() -> None:
    held = actions_of(user(Grant("client", "c1", "viewer"), Grant("site", "s1", "technician")))
    assert set(held) == EXPECTED["technician"]
    assert held["battery.read"] == [{"node_type": "client", "node_id": "c1"}, {"node_type": "site", "node_id": "s1"}]
    assert held["battery.control"] == [{"node_type": "site", "node_id": "s1"}]
    assert set(actions_of(local_admin())) == set(ACTIONS)
