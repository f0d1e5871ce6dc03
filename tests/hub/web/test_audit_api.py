"""GET /api/v1/audit and its export, against a real hub over HTTP: who, before/after, filters, tenants, roles."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from hub.core import Hub
from hub.storage.base import AuditEntry
from hub.web.audit_export import CSV_COLUMNS
from tests.helpers import HubFactory
from tests.hub.storage.backends import add_tenant

SIM = """
    simulators:
      - {{kind: daly, link: sim/a, cells: 4, temps: 1, seed: 5}}
"""
CONFIG = textwrap.dedent("""
    hub: {{data_dir: {data_dir}}}
    http: {{port: 0}}
    logging: {{file: null}}
    auth: {{required: false}}
""") + textwrap.dedent(SIM)
AUTH_CONFIG = textwrap.dedent("""
    hub: {{data_dir: {data_dir}}}
    http: {{port: 0}}
    logging: {{file: null}}
    auth: {{required: true, access_ttl: 600}}
""") + textwrap.dedent(SIM)
ADMIN_PASSWORD = "correct horse battery staple"
PASSWORD = "long enough password"
BATTERY = {"id": "extra", "driver": "daly", "port": "sim/a", "poll_interval": 0.3}


async def call(
    http: aiohttp.ClientSession,
    hub: Hub,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    **params: str,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{hub.http_url}{path}"
    async with http.request(method, url, json=body, headers=headers, params=params) as response:
        return response.status, await response.json(), dict(response.headers)


async def export(http: aiohttp.ClientSession, hub: Hub, token: str | None = None, **params: str) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(f"{hub.http_url}/api/v1/audit/export", params=params, headers=headers) as response:
        assert response.status == 200, await response.text()
        return response.headers["Content-Type"], await response.text()


async def connect_and_disconnect(http: aiohttp.ClientSession, hub: Hub, token: str | None = None) -> str:
    """Add and remove a battery; the request id of the connect."""
    status, body, headers = await call(http, hub, "POST", "/api/v1/bms/connect", BATTERY, token)
    assert status == 201, body
    status, body, _ = await call(http, hub, "DELETE", "/api/v1/bms/disconnect/extra", token=token)
    assert status == 200, body
    return headers["X-Request-ID"]


async def test_a_write_records_who_before_after_address_and_request(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(CONFIG)
    request_id = await connect_and_disconnect(http, hub)
    status, body, _ = await call(http, hub, "GET", "/api/v1/audit", target="extra")
    assert status == 200, body
    removed, added = body["data"]
    assert (added["action"], added["result"], removed["action"]) == ("bms.connect", "ok", "bms.disconnect")
    assert (added["actor"], added["user_id"], added["tenant_id"]) == ("local", "local", "default")
    assert (added["source_ip"], added["request_id"]) == ("127.0.0.1", request_id)
    assert (added["before"], added["after"]) == (None, BATTERY)
    assert (removed["before"], removed["after"]) == (BATTERY, None)
    assert added["id"] < removed["id"]
    # The older listing answers the same entries.
    status, old, _ = await call(http, hub, "GET", "/api/v1/core/audit", target="extra")
    assert status == 200 and [e["id"] for e in old["data"]] == [removed["id"], added["id"]]


async def seed(hub: Hub) -> None:
    """Entries of two tenants written straight to the storage (times and actors chosen)."""
    assert hub.storage is not None
    await add_tenant(hub.storage, "other")
    store = hub.storage.for_tenant("default")
    for n, (actor, action, result) in enumerate(
        [("ann", "client.create", "ok"), ("bob", "client.update", "rejected"), ("ann", "bms.soc", "ok")] * 3
    ):
        stamp = f"2025-01-0{n + 1}T12:00:00+00:00"
        entry = AuditEntry(
            actor, action, f"t{n % 2}", result, timestamp=datetime.fromisoformat(stamp), user_id=f"u-{actor}"
        )
        await store.add_audit(entry)
    await hub.storage.for_tenant("other").add_audit(AuditEntry("eve", "client.create", "t0", "ok", user_id="u-eve"))


async def test_filters_pages_and_tenants(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)  # auth off: the local administrator is a system administrator
    await seed(hub)

    async def targets(**params: str) -> list[str]:
        status, body, _ = await call(http, hub, "GET", "/api/v1/audit", **params)
        assert status == 200, body
        return [f"{e['actor']}:{e['action']}:{e['timestamp'][:10]}" for e in body["data"]]

    assert len(await targets()) == 10  # every tenant
    assert await targets(tenant="other") == [e for e in await targets() if e.startswith("eve")]
    assert len(await targets(tenant="default")) == 9
    assert await targets(actor="bob") == [f"bob:client.update:2025-01-0{d}" for d in (8, 5, 2)]
    assert await targets(actor="u-bob", result="rejected") == await targets(actor="bob")
    assert await targets(action="client.*", tenant="default", target="t0") == [
        "ann:client.create:2025-01-07",
        "bob:client.update:2025-01-05",
        "ann:client.create:2025-01-01",
    ]
    assert await targets(action="client.create", tenant="other") == ["eve:client.create:" + (await targets())[0][-10:]]
    window = await targets(**{"from": "2025-01-02T00:00:00Z", "to": "2025-01-03T12:00:00Z"})
    assert window == ["ann:bms.soc:2025-01-03", "bob:client.update:2025-01-02"]
    status, body, _ = await call(http, hub, "GET", "/api/v1/audit", tenant="default", per_page="4", page="3")
    assert status == 200 and len(body["data"]) == 1
    assert body["meta"]["pagination"] == {"page": 3, "per_page": 4, "total": 9, "pages": 3}
    for bad in ({"result": "maybe"}, {"from": "yesterday"}, {"per_page": "0"}):
        status, body, _ = await call(http, hub, "GET", "/api/v1/audit", **bad)
        assert status == 422, (bad, body)
    status, _, _ = await call(http, hub, "GET", "/api/v1/audit", **{"from": "2025-02-01", "to": "2025-01-01"})
    assert status == 422


async def test_exports_stream_csv_and_json_lines(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    await seed(hub)
    await connect_and_disconnect(http, hub)
    kind, text = await export(http, hub, format="csv", tenant="default")
    assert kind.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 11
    assert rows[0]["action"] == "bms.disconnect" and json.loads(rows[0]["before"]) == BATTERY
    assert rows[0]["after"] == "" and rows[0]["source_ip"] == "127.0.0.1"
    assert [r["actor"] for r in rows[2:]] == ["ann", "bob", "ann", "ann", "bob", "ann", "ann", "bob", "ann"]
    assert [r["timestamp"][:10] for r in rows[2:]] == [f"2025-01-0{d}" for d in range(9, 0, -1)]
    kind, text = await export(http, hub, format="jsonl", actor="bob")
    assert kind.startswith("application/x-ndjson")
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(e["actor"], e["result"]) for e in lines] == [("bob", "rejected")] * 3
    _, empty = await export(http, hub, format="csv", actor="nobody")
    assert list(csv.reader(io.StringIO(empty))) == [list(CSV_COLUMNS)]  # the header alone
    status, body, _ = await call(http, hub, "GET", "/api/v1/audit/export", format="xml")
    assert status == 422, body


async def test_a_formula_in_a_csv_cell_is_defused(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    assert hub.storage is not None
    await hub.storage.for_tenant("default").add_audit(AuditEntry("=HYPERLINK(1)", "x", "-1+1", "ok"))
    _, text = await export(http, hub, format="csv")
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert (row["actor"], row["target"]) == ("'=HYPERLINK(1)", "'-1+1")


@pytest.fixture
def admin_password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", ADMIN_PASSWORD)
    return ADMIN_PASSWORD


async def login(http: aiohttp.ClientSession, hub: Hub, username: str, password: str) -> tuple[str, str]:
    status, body, _ = await call(http, hub, "POST", "/api/v1/auth/login", {"username": username, "password": password})
    assert status == 200, body
    token = body["data"]["access_token"]
    status, me, _ = await call(http, hub, "GET", "/api/v1/auth/profile", token=token)
    assert status == 200, me
    return token, me["data"]["id"]


async def add_user(http: aiohttp.ClientSession, hub: Hub, root: str, name: str, role: str, node: str) -> str:
    grants = [{"node_type": node, "node_id": "default" if node == "tenant" else "top", "role": role}]
    body = {"username": name, "password": PASSWORD, "grants": grants}
    status, answer, _ = await call(http, hub, "POST", "/api/v1/users", body, root)
    assert status == 201, answer
    return (await login(http, hub, name, PASSWORD))[0]


async def test_who_is_the_logged_in_user_and_only_admins_read(
    start_hub: HubFactory, http: aiohttp.ClientSession, admin_password: str
) -> None:
    hub = await start_hub(AUTH_CONFIG)
    assert hub.storage is not None
    await hub.storage.for_tenant("default").add_audit(AuditEntry("seed", "x", "t", "ok"))
    await add_tenant(hub.storage, "other")
    await hub.storage.for_tenant("other").add_audit(AuditEntry("eve", "x", "t", "ok"))
    root, root_id = await login(http, hub, "admin", admin_password)
    await connect_and_disconnect(http, hub, root)
    status, body, _ = await call(http, hub, "GET", "/api/v1/audit", token=root, action="bms.connect")
    assert status == 200, body
    assert [(e["actor"], e["user_id"]) for e in body["data"]] == [("admin", root_id)]

    viewer = await add_user(http, hub, root, "vic", "viewer", "tenant")
    boss = await add_user(http, hub, root, "tess", "admin", "tenant")
    for path in ("/api/v1/audit", "/api/v1/audit/export?format=csv", "/api/v1/core/audit"):
        assert (await call(http, hub, "GET", path, token=viewer))[0] == 403, path
        assert (await call(http, hub, "GET", path))[0] == 401, path
    status, body, _ = await call(http, hub, "GET", "/api/v1/audit", token=boss)
    assert status == 200, body
    assert "eve" not in {e["actor"] for e in body["data"]}  # a tenant admin reads its tenant only
    assert {e["tenant_id"] for e in body["data"]} == {"default"}
    assert (await call(http, hub, "GET", "/api/v1/audit", token=boss, tenant="other"))[0] == 403
    status, body, _ = await call(http, hub, "GET", "/api/v1/audit", token=root, tenant="other")
    assert status == 200 and [e["actor"] for e in body["data"]] == ["eve"]  # a system admin picks a tenant


async def test_a_write_refused_with_403_is_audited_once_without_its_body(
    start_hub: HubFactory, http: aiohttp.ClientSession, admin_password: str
) -> None:
    hub = await start_hub(AUTH_CONFIG)
    root, _ = await login(http, hub, "admin", admin_password)
    viewer = await add_user(http, hub, root, "vic", "viewer", "tenant")
    secret = "a password the log must not keep"
    status, body, headers = await call(
        http, hub, "POST", "/api/v1/users", {"username": "mallory", "password": secret}, viewer
    )
    assert status == 403, body
    assert (await call(http, hub, "GET", "/api/v1/audit", token=viewer))[0] == 403  # a refused read: not audited
    status, body, _ = await call(http, hub, "GET", "/api/v1/audit", token=root, action="request.denied")
    assert status == 200, body
    (entry,) = body["data"]
    assert (entry["actor"], entry["result"], entry["target"]) == ("vic", "rejected", "POST /api/v1/users")
    assert entry["request_id"] == headers["X-Request-ID"] and "Not allowed" in entry["details"]["reason"]
    assert secret not in json.dumps(body) and "mallory" not in json.dumps(body)


async def test_a_refusal_its_handler_audited_is_not_recorded_twice(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    hub = await start_hub(CONFIG)
    status, body, _ = await call(http, hub, "POST", "/api/v1/bms/connect", BATTERY)  # control: false by default
    assert status == 201, body
    status, body, _ = await call(http, hub, "POST", "/api/v1/bms/configure/extra", {"action": "soc", "value": 50})
    assert status == 403, body  # the handler audits its refusal (bms.soc, rejected)
    status, body, _ = await call(http, hub, "GET", "/api/v1/audit")
    assert status == 200, body
    assert [e["action"] for e in body["data"] if e["result"] == "rejected"] == ["bms.soc"]
