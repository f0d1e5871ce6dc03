"""The client manager with auth required: a role on one client shows that subtree only, writes need
the manage actions there, and another tenant's ids are 404."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest

from hub.core import Hub
from hub.storage.records import AlertRecord
from tests.helpers import HubFactory
from tests.hub.web.tenant_helpers import access_token, ok
from tests.plugins.trackingbms_clients.clients_http import BARE_CONFIG, call

ADMIN_PASSWORD = "clients admin password 42"
AUTH = "auth:\n  required: true\n"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def admin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """First start creates ``admin`` (a system administrator) with this password."""
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", ADMIN_PASSWORD)


async def build(http: aiohttp.ClientSession, hub: Hub, admin: str) -> None:
    """default: east > east-north, west; sites s-east, s-north, s-west with a battery each;
    tenant acme with client secret; users ann (viewer), bob (admin) and olga (owner) on east."""
    for cid, parent in (("east", None), ("east-north", "east"), ("west", None)):
        await ok(http, hub, admin, "POST", "/api/v1/clients", {"id": cid, "name": cid.title(), "parent_id": parent})
    for site, client in (("s-east", "east"), ("s-north", "east-north"), ("s-west", "west")):
        await ok(http, hub, admin, "POST", "/api/v1/sites", {"id": site, "name": site, "client_id": client})
        await hub.store.ensure_battery(f"b-{site}", f"Battery {site}", "daly")
        await ok(http, hub, admin, "PATCH", f"/api/v1/batteries/b-{site}", {"site_id": site})
    await hub.store.save_alert(AlertRecord("a-west", "r", "threshold", "b-s-west", "critical", "raised", T0))
    await hub.store.save_alert(AlertRecord("a-north", "r", "threshold", "b-s-north", "warning", "raised", T0))
    await ok(http, hub, admin, "POST", "/api/v1/tenants", {"id": "acme", "name": "Acme"})
    await ok(http, hub, admin, "POST", "/api/v1/clients?tenant=acme", {"id": "secret", "name": "Secret"})
    await ok(
        http, hub, admin, "POST", "/api/v1/sites?tenant=acme", {"id": "s-secret", "name": "S", "client_id": "secret"}
    )
    for user, role in (("ann", "viewer"), ("bob", "admin"), ("olga", "owner")):
        grants = [{"node_type": "client", "node_id": "east", "role": role}]
        body = {"username": user, "password": f"{user} has a long password", "grants": grants}
        await ok(http, hub, admin, "POST", "/api/v1/users", body)


async def test_a_role_on_one_client_shows_its_subtree_only(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(BARE_CONFIG + AUTH)
    status, _ = await call(http, hub, "GET", "/api/v1/clients")
    assert status == 401
    await build(http, hub, await access_token(http, hub, "admin", ADMIN_PASSWORD))
    ann = await access_token(http, hub, "ann", "ann has a long password")

    assert [c["id"] for c in await ok(http, hub, ann, "GET", "/api/v1/clients")] == ["east", "east-north"]
    assert [s["id"] for s in await ok(http, hub, ann, "GET", "/api/v1/sites")] == ["s-east", "s-north"]
    assert [b["id"] for b in await ok(http, hub, ann, "GET", "/api/v1/batteries")] == ["b-s-east", "b-s-north"]
    tree = await ok(http, hub, ann, "GET", "/api/v1/tree")
    assert [r["id"] for r in tree["roots"]] == ["east"]
    assert tree["counts"] == {"clients": 2, "sites": 2, "batteries": 2, "open_alerts": 1}
    assert tree["worst_alert"]["id"] == "a-north"  # the critical alert of west is not hers to see
    assert await ok(http, hub, ann, "GET", "/api/v1/clients?tenant=acme") == (
        await ok(http, hub, ann, "GET", "/api/v1/clients")
    )  # only a system administrator picks a tenant

    for path in ("/api/v1/clients/west", "/api/v1/sites/s-west", "/api/v1/batteries/b-s-west"):
        status, _ = await call(http, hub, "GET", path, ann)
        assert status == 403, path
    for path in ("/api/v1/clients/secret", "/api/v1/sites/s-secret", "/api/v1/clients/nope"):
        status, body = await call(http, hub, "GET", path, ann)
        assert status == 404 and body["data"] is None, path
    for method, path, body in (
        ("POST", "/api/v1/clients", {"name": "X", "parent_id": "east"}),
        ("PATCH", "/api/v1/clients/east", {"name": "X"}),
        ("PUT", "/api/v1/fields/client/region", {"label": "R", "type": "text"}),
        ("GET", "/api/v1/tenants", None),
    ):
        status, _ = await call(http, hub, method, path, ann, json=body)
        assert status == 403, (method, path)


async def test_writes_need_the_manage_action_where_they_land(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(BARE_CONFIG + AUTH)
    await build(http, hub, await access_token(http, hub, "admin", ADMIN_PASSWORD))
    bob = await access_token(http, hub, "bob", "bob has a long password")

    made = await ok(http, hub, bob, "POST", "/api/v1/clients", {"id": "east-south", "name": "S", "parent_id": "east"})
    assert made["parent_id"] == "east"
    await ok(http, hub, bob, "PATCH", "/api/v1/batteries/b-s-north", {"site_id": "s-east", "name": "Moved"})
    await ok(http, hub, bob, "POST", "/api/v1/clients/east-south/move", {"parent_id": "east-north"})
    for method, path, body in (
        ("POST", "/api/v1/clients", {"name": "Top"}),  # the tenant level is not his
        ("POST", "/api/v1/clients/east-north/move", {"parent_id": "west"}),
        ("POST", "/api/v1/clients/east-north/move", {"parent_id": None}),
        ("PATCH", "/api/v1/batteries/b-s-east", {"site_id": "s-west"}),
        ("PATCH", "/api/v1/sites/s-east", {"client_id": "west"}),
        ("DELETE", "/api/v1/clients/west", None),
        ("DELETE", "/api/v1/clients/east?cascade=true", None),  # his own node: only its owner deletes it
        ("DELETE", "/api/v1/sites/s-west", None),
        ("POST", "/api/v1/tenants", {"id": "mine", "name": "Mine"}),
    ):
        status, answer = await call(http, hub, method, path, bob, json=body)
        assert status == 403, (method, path, answer)
    for method, path, body in (
        ("PATCH", "/api/v1/clients/secret", {"name": "Mine"}),
        ("DELETE", "/api/v1/clients/secret?cascade=true", None),
        ("PATCH", "/api/v1/sites/s-secret", {"name": "Mine"}),
        ("POST", "/api/v1/clients", {"name": "Under", "parent_id": "secret"}),
        ("POST", "/api/v1/sites", {"name": "Under", "client_id": "secret"}),
    ):
        status, answer = await call(http, hub, method, path, bob, json=body)
        assert status == 404 and answer["data"] is None, (method, path, answer)
    await ok(http, hub, bob, "DELETE", "/api/v1/clients/east-south")  # below his node: his to delete
    olga = await access_token(http, hub, "olga", "olga has a long password")
    deleted = await ok(http, hub, olga, "DELETE", "/api/v1/clients/east?cascade=true")
    assert sorted(deleted["deleted"]) == ["east", "east-north"]
    theirs = hub.storage.for_tenant("acme")  # type: ignore[union-attr]
    assert (await theirs.get_client("secret")).name == "Secret"  # type: ignore[union-attr]
    entries, _ = await hub.store.audit(200)
    assert any(e.action == "client.create" and e.actor == "bob" for e in entries)


async def test_alert_listing_shows_only_the_nodes_the_user_may_read(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    # An installer's clients never see each other's batteries: a viewer on east must not learn of
    # the alert of west's battery through the tenant-wide alert listing.
    hub = await start_hub(BARE_CONFIG + AUTH)
    admin = await access_token(http, hub, "admin", ADMIN_PASSWORD)
    await build(http, hub, admin)
    ann = await access_token(http, hub, "ann", "ann has a long password")
    status, answer = await call(http, hub, "GET", "/api/v1/alerts", ann)
    assert status == 200 and [a["id"] for a in answer["data"]] == ["a-north"]
    assert answer["meta"]["pagination"]["total"] == 1
    status, _ = await call(http, hub, "GET", "/api/v1/alerts/a-west", ann)
    assert status == 403
    assert {a["id"] for a in await ok(http, hub, admin, "GET", "/api/v1/alerts")} == {"a-north", "a-west"}
