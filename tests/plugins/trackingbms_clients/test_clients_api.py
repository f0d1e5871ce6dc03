"""The client manager over real HTTP (auth off: the local administrator): CRUD, nesting, moves,
custom fields, filters and sorting, the tree, tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from hub.core import Hub
from hub.storage.records import AlertRecord
from tests.helpers import HubFactory
from tests.plugins.trackingbms_clients.clients_http import BARE_CONFIG, call

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def nest(http: aiohttp.ClientSession, hub: Hub, depth: int) -> list[str]:
    """Clients l1 > l2 > ... > l<depth> made through the API."""
    ids = [f"l{i}" for i in range(1, depth + 1)]
    for i, cid in enumerate(ids):
        body = {"id": cid, "name": f"Level {i + 1}", "parent_id": ids[i - 1] if i else None}
        status, answer = await call(http, hub, "POST", "/api/v1/clients", json=body)
        assert status == 201, answer
    return ids


async def test_client_crud_nesting_and_moves(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(BARE_CONFIG)
    await nest(http, hub, 5)
    status, body = await call(http, hub, "GET", "/api/v1/clients/l5")
    assert status == 200 and body["data"]["parent_id"] == "l4" and body["data"]["custom"] == {}
    status, body = await call(http, hub, "POST", "/api/v1/clients", json={"name": "Generated"})
    assert status == 201 and len(body["data"]["id"]) == 32
    generated = body["data"]["id"]
    status, body = await call(http, hub, "POST", "/api/v1/clients", json={"id": "l1", "name": "Again"})
    assert status == 409
    status, body = await call(http, hub, "POST", "/api/v1/clients", json={"name": "X", "parent_id": "nope"})
    assert status == 404
    status, body = await call(http, hub, "POST", "/api/v1/clients", json={"id": "bad id", "name": ""})
    assert status == 422 and {e["path"] for e in body["data"]} == {"body.id", "body.name"}

    for target in ("l1", "l3", "l5"):
        status, body = await call(http, hub, "POST", "/api/v1/clients/l1/move", json={"parent_id": target})
        assert status == 409 and "cycle" in body["message"]
    status, body = await call(http, hub, "POST", "/api/v1/clients/l3/move", json={"parent_id": None})
    assert status == 200 and body["data"]["parent_id"] is None
    status, body = await call(http, hub, "PATCH", "/api/v1/clients/l3", json={"name": "Three"})
    assert status == 200 and body["data"]["name"] == "Three"
    status, body = await call(http, hub, "GET", "/api/v1/clients?top=true")
    assert [c["id"] for c in body["data"]] == [generated, "l1", "l3"]  # by name: Generated, Level 1, Three
    status, body = await call(http, hub, "GET", "/api/v1/clients?parent_id=l3")
    assert [c["id"] for c in body["data"]] == ["l4"]

    status, body = await call(http, hub, "DELETE", "/api/v1/clients/l3")
    assert status == 409
    status, body = await call(http, hub, "DELETE", "/api/v1/clients/l3?cascade=true")
    assert status == 200 and sorted(body["data"]["deleted"]) == ["l3", "l4", "l5"]
    status, _ = await call(http, hub, "GET", "/api/v1/clients/l4")
    assert status == 404
    entries, _ = await hub.store.audit(100)
    done = [(e.action, e.result) for e in entries]
    assert done.count(("client.create", "ok")) == 6 and done.count(("client.create", "rejected")) == 1
    assert done.count(("client.move", "rejected")) == 3 and done.count(("client.delete", "rejected")) == 1
    delete = next(e for e in entries if e.action == "client.delete" and e.result == "ok")
    assert delete.target == "client:l3" and delete.before["name"] == "Three" and delete.after is None
    update = next(e for e in entries if e.action == "client.update")
    assert update.before["name"] == "Level 3" and update.after["name"] == "Three"


async def test_custom_fields_validation_filter_and_sort(
    start_hub: HubFactory, http: aiohttp.ClientSession, bare_config: str
) -> None:
    hub = await start_hub(bare_config)
    field = {"label": "Region", "type": "choice", "required": True, "choices": ["north", "south"]}
    status, body = await call(http, hub, "PUT", "/api/v1/fields/client/region", json=field)
    assert status == 200 and body["message"] == "created" and body["data"]["choices"] == ["north", "south"]
    status, body = await call(
        http, hub, "PUT", "/api/v1/fields/client/capacity", json={"label": "kWh", "type": "number"}
    )
    assert status == 200
    status, body = await call(http, hub, "PUT", "/api/v1/fields/client/since", json={"label": "Since", "type": "date"})
    assert status == 200
    status, body = await call(http, hub, "PUT", "/api/v1/fields/client/x", json={"label": "X", "type": "choice"})
    assert status == 422 and body["data"][0]["path"] == "body.choices"
    status, body = await call(http, hub, "PUT", "/api/v1/fields/planet/x", json={"label": "X", "type": "text"})
    assert status == 404

    status, body = await call(http, hub, "POST", "/api/v1/clients", json={"id": "a", "name": "A"})
    assert status == 422 and body["data"] == [{"path": "body.custom.region", "message": "required field missing"}]
    for text in ("nul\x00", "lone \ud800"):  # neither database can store these
        status, body = await call(http, hub, "POST", "/api/v1/clients", json={"name": text, "custom": {"region": text}})
        assert status == 422 and {e["path"] for e in body["data"]} == {"body.name", "body.custom"}
    bad = {"region": "east", "capacity": "many", "since": "yesterday"}
    status, body = await call(http, hub, "POST", "/api/v1/clients", json={"id": "a", "name": "A", "custom": bad})
    assert status == 422
    assert {e["path"] for e in body["data"]} == {"body.custom.region", "body.custom.capacity", "body.custom.since"}
    for cid, cap, region in (("a", 30, "north"), ("b", 5, "south"), ("c", None, "north"), ("d", 100, "north")):
        custom = {"region": region, "capacity": cap, "since": "2026-01-0" + str(len(cid))}
        status, body = await call(
            http, hub, "POST", "/api/v1/clients", json={"id": cid, "name": cid.upper(), "custom": custom}
        )
        assert status == 201, body
    status, body = await call(http, hub, "GET", "/api/v1/clients?sort=-custom.capacity")
    assert [c["id"] for c in body["data"]] == ["d", "a", "b", "c"]
    status, body = await call(http, hub, "GET", "/api/v1/clients?custom.region=north&sort=name&per_page=2&page=2")
    assert [c["id"] for c in body["data"]] == ["d"] and body["meta"]["pagination"]["total"] == 3
    status, body = await call(http, hub, "GET", "/api/v1/clients?custom.capacity=5")
    assert [c["id"] for c in body["data"]] == ["b"]
    status, body = await call(http, hub, "GET", "/api/v1/clients?custom.capacity=lots")
    assert status == 422 and body["data"][0]["path"] == "query.custom.capacity"
    status, body = await call(http, hub, "GET", "/api/v1/clients?sort=custom.nope")
    assert status == 422 and body["data"][0]["path"] == "query.sort"
    status, body = await call(http, hub, "PATCH", "/api/v1/clients/a", json={"custom": {"region": None}})
    assert status == 422 and body["data"][0]["path"] == "body.custom.region"
    status, body = await call(http, hub, "DELETE", "/api/v1/fields/client/capacity")
    assert status == 200
    status, body = await call(http, hub, "GET", "/api/v1/clients/d")
    assert body["data"]["custom"] == {"region": "north", "since": "2026-01-01"}
    status, body = await call(http, hub, "GET", "/api/v1/fields?entity=client")
    assert [f["name"] for f in body["data"]] == ["region", "since"]


async def test_sites_batteries_and_the_tree(
    start_hub: HubFactory, http: aiohttp.ClientSession, bare_config: str
) -> None:
    hub = await start_hub(bare_config)
    await nest(http, hub, 2)
    for site, client in (("s1", "l1"), ("s2", "l2")):
        body = {"id": site, "name": site.upper(), "client_id": client, "timezone": "Europe/Berlin"}
        status, answer = await call(http, hub, "POST", "/api/v1/sites", json=body)
        assert status == 201, answer
    status, body = await call(http, hub, "POST", "/api/v1/sites", json={"name": "X", "timezone": "Mars/Base"})
    assert status == 422 and body["data"][0]["path"] == "body.timezone"
    for battery, site in (("b1", "s1"), ("b2", "s2"), ("b3", "s2"), ("loose", None)):
        await hub.store.ensure_battery(battery, battery, "daly")
        if site:
            status, body = await call(http, hub, "PATCH", f"/api/v1/batteries/{battery}", json={"site_id": site})
            assert status == 200 and body["data"]["site_id"] == site
    status, body = await call(http, hub, "PATCH", "/api/v1/batteries/b1", json={"site_id": "nope"})
    assert status == 404
    status, body = await call(http, hub, "GET", "/api/v1/batteries?site_id=s2")
    assert [b["id"] for b in body["data"]] == ["b2", "b3"]
    warning = AlertRecord("w", "r1", "threshold", "b2", "warning", "raised", T0)
    await hub.store.save_alert(warning)
    await hub.store.save_alert(AlertRecord("c", "r2", "threshold", "b3", "critical", "raised", T0 + timedelta(1)))
    await hub.store.save_alert(AlertRecord("x", "r3", "threshold", "b1", "critical", "cleared", T0))

    status, body = await call(http, hub, "GET", "/api/v1/tree")
    assert status == 200
    tree = body["data"]
    assert tree["counts"] == {"clients": 2, "sites": 2, "batteries": 4, "open_alerts": 2}
    assert tree["worst_alert"]["id"] == "c"
    top = {n["id"]: n for n in tree["roots"]}
    assert set(top) == {"l1", "loose"}
    l1 = top["l1"]
    assert l1["counts"] == {"clients": 1, "sites": 2, "batteries": 3, "open_alerts": 2}
    assert [(c["type"], c["id"]) for c in l1["children"]] == [("client", "l2"), ("site", "s1")]
    s1 = l1["children"][1]
    assert s1["worst_alert"] is None and s1["counts"]["batteries"] == 1
    s2 = l1["children"][0]["children"][0]
    assert s2["worst_alert"]["severity"] == "critical" and s2["counts"]["open_alerts"] == 2
    assert [b["worst_alert"]["id"] for b in s2["children"]] == ["w", "c"]

    status, body = await call(http, hub, "DELETE", "/api/v1/sites/s2")
    assert status == 409
    status, body = await call(http, hub, "DELETE", "/api/v1/sites/s2?cascade=true")
    assert status == 200 and body["data"]["unplaced_batteries"] == 2
    status, body = await call(http, hub, "GET", "/api/v1/batteries?top=true")
    assert [b["id"] for b in body["data"]] == ["b2", "b3", "loose"]


async def test_tenants_and_other_tenants_ids(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(BARE_CONFIG)
    status, body = await call(http, hub, "POST", "/api/v1/tenants", json={"id": "acme", "name": "Acme"})
    assert status == 201 and body["data"]["name"] == "Acme"
    status, body = await call(http, hub, "POST", "/api/v1/tenants", json={"id": "acme", "name": "Acme"})
    assert status == 409
    status, body = await call(http, hub, "PATCH", "/api/v1/tenants/acme", json={"name": "Acme GmbH"})
    assert status == 200 and body["data"]["name"] == "Acme GmbH"
    status, body = await call(http, hub, "GET", "/api/v1/tenants")
    assert [t["id"] for t in body["data"]] == ["acme", "default"]
    status, body = await call(http, hub, "POST", "/api/v1/clients?tenant=acme", json={"id": "theirs", "name": "T"})
    assert status == 201
    status, body = await call(http, hub, "POST", "/api/v1/clients?tenant=nope", json={"id": "x", "name": "T"})
    assert status == 404
    for method, path in (
        ("GET", "/api/v1/clients/theirs"),
        ("PATCH", "/api/v1/clients/theirs"),
        ("DELETE", "/api/v1/clients/theirs"),
    ):
        status, body = await call(http, hub, method, path, json={} if method == "PATCH" else None)
        assert status == 404, (method, path, body)
    status, body = await call(http, hub, "GET", "/api/v1/clients")
    assert body["data"] == []
    status, body = await call(http, hub, "GET", "/api/v1/clients?tenant=acme")
    assert [c["id"] for c in body["data"]] == ["theirs"]
