"""Tenant isolation and the policy table, walked over every operation of the OpenAPI document."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.auth.policy import ACTIONS, ROLES, allowed
from hub.auth.principal import Grant, Principal
from hub.core import Hub
from tests.helpers import HubFactory
from tests.hub.storage.backends import PG_DSN, drop_schema, in_thread, require_postgresql
from tests.hub.web.tenant_helpers import (
    ADMIN_PASSWORD,
    CONFIG,
    RULE,
    Alpha,
    add_user,
    build_alpha,
    call,
    login,
    ok,
)

GRANTS_ON_ALPHA = [{"node_type": "client", "node_id": "alpha-client", "role": "viewer"}]
# Bodies that pass validation, so the walk reaches the handler's tenant check (a 422 would prove
# nothing); every write names tenant A's resources. An operation missing here fails the test.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/bms/configure/{id}"): {"action": "restart"},
    ("PUT", "/api/v1/core/config/{module}"): {"level": "INFO"},
    ("POST", "/api/v1/core/services/reload"): {},
    ("PUT", "/api/v1/users/{user_id}"): {"disabled": True},
    ("POST", "/api/v1/users"): {
        "username": "bravonew",
        "password": "a long enough password",
        "grants": GRANTS_ON_ALPHA,
    },
    ("POST", "/api/v1/users/invitations"): {"email": "b@example.com", "grants": GRANTS_ON_ALPHA},
    ("POST", "/api/v1/alerts/rules"): {**RULE, "id": "alpha-rule-2"},
    ("PUT", "/api/v1/alerts/rules/{id}"): {**RULE, "above": 1.0},
    ("POST", "/api/v1/alerts/rules/test"): {**RULE, "id": "bravo-test", "name": "Bravo test"},
    ("POST", "/api/v1/alerts/rules/{id}/test"): None,
    ("POST", "/api/v1/alerts/{id}/acknowledge"): {"comment": "mine"},
    ("POST", "/api/v1/tenants"): {"id": "alpha-copy", "name": "Alpha copy"},
    ("PATCH", "/api/v1/tenants/{tenant_id}"): {"name": "Taken"},
    ("POST", "/api/v1/clients"): {"name": "Under alpha", "parent_id": "alpha-client"},
    ("PATCH", "/api/v1/clients/{client_id}"): {"name": "Taken"},
    ("POST", "/api/v1/clients/{client_id}/move"): {"parent_id": None},
    ("POST", "/api/v1/sites"): {"name": "Under alpha", "client_id": "alpha-client"},
    ("PATCH", "/api/v1/sites/{site_id}"): {"name": "Taken"},
    ("PATCH", "/api/v1/batteries/{battery_id}"): {"name": "Taken"},
    ("PUT", "/api/v1/fields/{entity}/{name}"): {"label": "Taken", "type": "text"},
    ("POST", "/api/v1/bms/transmitter/pair"): {"address": "AA:BB:CC:DD:EE:FF", "id": "alpha-pack-1"},
}
# Hub-wide hardware: the config file's battery list and the Bluetooth radio are shared by every tenant,
# yet a tenant admin's battery.manage reaches them (see test_hub_wide_hardware_is_not_a_tenant_admins).
HUB_WIDE: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/bms/connect"): {"id": "alpha-pack-1", "driver": "daly", "port": "sim/alpha1"},
    ("POST", "/api/v1/bms/transmitter/pair"): {"address": "AA:BB:CC:DD:EE:FF", "id": "alpha-pack-1"},
    ("GET", "/api/v1/bms/transmitters"): None,
}
# Operations B may answer 2xx to: its own data (lists of its tenant, its profile, its tokens) or
# public ones. Their bodies must still hold nothing of tenant A.
MAY_SUCCEED = {
    ("GET", p)
    for p in (
        "/api/v1/bms",
        "/api/v1/bms/types",
        "/api/v1/audit",
        "/api/v1/core/audit",
        "/api/v1/audit/export",
        "/api/v1/users",
        "/api/v1/users/invitations",
        "/api/v1/alerts",
        "/api/v1/alerts/rules",
        "/api/v1/clients",
        "/api/v1/sites",
        "/api/v1/batteries",
        "/api/v1/fields",
        "/api/v1/tree",
        "/api/v1/auth/profile",
        "/api/v1/auth/permissions",
        "/api/v1/auth/sessions",
        "/api/v1/auth/tokens",
    )
} | {("PUT", "/api/v1/auth/profile"), ("POST", "/api/v1/auth/tokens"), ("POST", "/api/v1/alerts/rules/test")}
# Named within the caller's tenant: B defining (or deleting) a field of the same name makes its own;
# A's field is checked unchanged at the end.
OWN_NAMESPACE = {("PUT", "/api/v1/fields/{entity}/{name}"), ("DELETE", "/api/v1/fields/{entity}/{name}")}
OWN_SCOPE_BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/api/v1/auth/profile"): {"display_name": "Bravo"},
    ("POST", "/api/v1/auth/tokens"): {"name": "bravo-script", "scopes": ["battery.read"]},
}
# Public or the caller's own session, not walked: nothing of another tenant can be named in them.
NOT_WALKED = {
    ("GET", "/api/v1/openapi.json"), ("GET", "/api/docs"), ("GET", "/api/v1/core/health"),
    ("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/refresh"), ("POST", "/api/v1/auth/validate-token"),
    ("POST", "/api/v1/auth/invitations/accept"),
    ("POST", "/api/v1/auth/logout"),  # would end the walker's own session
    ("GET", "/api/v1/stream"),  # a WebSocket: tested by its own tests (a battery of another tenant is refused)
} | set(HUB_WIDE)  # fmt: skip
DENIED = {401, 403, 404, 405, 422}
DENIED_ENTRY = "request.denied"  # the audit action of a write refused with 403


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request: pytest.FixtureRequest) -> Iterator[str]:
    """The hub's config on SQLite, then on a fresh PostgreSQL schema (each backend scopes tenants itself)."""
    if request.param == "sqlite":
        yield CONFIG
        return
    require_postgresql()
    schema = f"t_{uuid.uuid4().hex}"
    yield CONFIG + f"storage:\n  backend: postgresql\n  dsn: {PG_DSN}\n  schema: {schema}\n"
    in_thread(drop_schema(schema))


@pytest.fixture(autouse=True)
def admin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """First start creates the system administrator ``admin`` with this password."""
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", ADMIN_PASSWORD)


def fill(path: str, alpha: Alpha) -> str:
    """The path with its parameters set to tenant A's real ids; fails on a parameter it does not know."""
    by_name = {
        "battery_id": "alpha-pack-1", "client_id": "alpha-client", "site_id": "alpha-site", "tenant_id": "default",
        "user_id": alpha.user_id, "token_id": alpha.token_id, "session_id": alpha.session_id,
        "invitation_id": alpha.invitation_id, "module": "alerts", "entity": "client", "name": "alpharegion",
    }  # fmt: skip
    if path.startswith("/api/v1/alerts/rules/"):
        by_name["id"] = "alpha-rule"
    elif path.startswith("/api/v1/alerts/"):
        by_name["id"] = "alpha-alert"
    elif path.startswith("/api/v1/bms/"):
        by_name["id"] = "alpha-pack-1"

    def one(match: re.Match[str]) -> str:
        assert match.group(1) in by_name, f"the walk does not know how to fill {{{match.group(1)}}} of {path}"
        return by_name[match.group(1)]

    return re.sub(r"\{(\w+)\}", one, path)


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (METHOD, path) of the document."""
    return sorted((method.upper(), path) for path, item in document["paths"].items() for method in item)


def leaks(status: int, text: str, alpha: Alpha) -> list[str]:
    """The marks of tenant A found in an answer's data and meta (an error message may echo the id
    the caller sent; the field errors of a 422 may echo the body it sent; B's audit log records the
    paths of B's own refused writes, ids of A it sent included)."""
    try:
        answer = json.loads(text)
    except ValueError:  # CSV, JSON lines: all of it is data
        shown = "\n".join(line for line in text.splitlines() if DENIED_ENTRY not in line)
    else:
        data = answer.get("data")
        if isinstance(data, list):
            data = [e for e in data if not (isinstance(e, dict) and e.get("action") == DENIED_ENTRY)]
        shown = json.dumps(answer.get("meta")) if status == 422 else json.dumps([data, answer.get("meta")])
    lowered = shown.lower()
    return [mark for mark in ["alpha", *alpha.secrets] if mark in lowered]


async def walk(
    http: aiohttp.ClientSession, hub: Hub, token: str, ops: list[tuple[str, str]], alpha: Alpha
) -> list[str]:
    """Every operation as another tenant's user, plain and with ?tenant= of A; the problems found."""
    problems = []
    for method, template in ops:
        if (method, template) in NOT_WALKED | OWN_NAMESPACE:
            continue
        body = BODIES.get((method, template), OWN_SCOPE_BODIES.get((method, template)))
        if method in ("POST", "PUT", "PATCH"):
            assert (method, template) in BODIES or (method, template) in OWN_SCOPE_BODIES, (
                f"no body known for {method} {template}: add one to BODIES naming tenant A's resources"
            )
        path = fill(template, alpha)
        for suffix in ("", "?tenant=default"):
            status, text = await call(http, hub, method, path + suffix, token, body)
            if 200 <= status < 300 and (method, template) not in MAY_SUCCEED:
                problems.append(f"{method} {path}{suffix}: {status} {text[:300]}")
            elif status not in DENIED and not 200 <= status < 300:
                problems.append(f"{method} {path}{suffix}: unexpected {status} {text[:300]}")
            elif found := leaks(status, text, alpha):
                problems.append(f"{method} {path}{suffix}: {status} shows {found}: {text[:300]}")
    return problems


async def test_another_tenant_reaches_nothing_of_tenant_a(
    start_hub: HubFactory, http: aiohttp.ClientSession, config: str
) -> None:
    hub = await start_hub(config)
    admin = (await login(http, hub, "admin", ADMIN_PASSWORD))["access_token"]
    alpha = await build_alpha(http, hub, admin)
    await ok(http, hub, admin, "POST", "/api/v1/tenants", {"id": "bravo", "name": "Bravo"})
    for username, role in (("bravoadmin", "admin"), ("bravoowner", "owner"), ("bravoviewer", "viewer")):
        await add_user(http, hub, admin, username, role, tenant="bravo")
    async with http.get(f"{hub.http_url}/api/v1/openapi.json") as response:
        ops = operations(await response.json())
    known = set(BODIES) | MAY_SUCCEED | NOT_WALKED
    writes = {op for op in ops if op[0] in ("POST", "PUT", "PATCH")}
    assert writes <= known, f"operations the walk does not know: {sorted(writes - known)}"

    tokens = {
        name: (await login(http, hub, name))["access_token"] for name in ("bravoadmin", "bravoowner", "bravoviewer")
    }
    made = await ok(http, hub, tokens["bravoadmin"], "POST", "/api/v1/auth/tokens", {"name": "all", "scopes": ["*"]})
    tokens["bravoadmin's API token"] = made["token"]
    for username, token in tokens.items():
        problems = await walk(http, hub, token, ops, alpha)
        assert not problems, f"{username}:\n" + "\n".join(problems)
    for token in tokens.values():  # last: B's own field of that name shows in B's audit afterwards
        for method, template in sorted(OWN_NAMESPACE, reverse=True):
            body = BODIES.get((method, template))
            status, text = await call(http, hub, method, fill(template, alpha), token, body)
            assert status in (200, 403, 404), (method, status, text)

    # Nothing of A was changed or removed by the walk.
    assert (await ok(http, hub, admin, "GET", "/api/v1/clients/alpha-client"))["name"] == "Alpha client"
    assert (await ok(http, hub, admin, "GET", f"/api/v1/users/{alpha.user_id}"))["disabled"] is False
    assert alpha.token_id in {t["id"] for t in await ok(http, hub, admin, "GET", "/api/v1/auth/tokens")}
    assert [
        r["id"] for r in await ok(http, hub, admin, "GET", "/api/v1/alerts/rules") if r["id"].startswith("alpha")
    ] == ["alpha-rule"]
    assert (await ok(http, hub, admin, "GET", "/api/v1/alerts/alpha-alert"))["state"] == "raised"
    fields = await ok(http, hub, admin, "GET", "/api/v1/fields")
    assert [(f["name"], f["label"]) for f in fields] == [("alpharegion", "Alpha region")]


# One representative operation per action (method, path, body); what a role may do is read from
# docs/auth.md and must agree with hub.auth.policy.allowed.
REPRESENTATIVES: dict[str, tuple[str, str, Any, set[int]]] = {
    "battery.read": ("GET", "/api/v1/bms/data/alpha-pack-1", None, {200}),
    # an invalid body: the permission is checked first, and no register of the pack is written
    "battery.control": ("POST", "/api/v1/bms/configure/alpha-pack-1", {}, {422}),
    "battery.manage": ("PATCH", "/api/v1/batteries/alpha-pack-2", {"name": "Alpha pack two"}, {200}),
    "client.read": ("GET", "/api/v1/clients/alpha-client", None, {200}),
    "client.manage": ("PATCH", "/api/v1/clients/alpha-client", {"name": "Alpha client"}, {200}),
    "user.read": ("GET", "/api/v1/users", None, {200}),
    "user.manage": ("GET", "/api/v1/users/{user_id}/sessions", None, {200}),
    "field.manage": ("PUT", "/api/v1/fields/client/alpharegion", {"label": "Alpha region", "type": "text"}, {200}),
    "alert.read": ("GET", "/api/v1/alerts", None, {200}),
    # the first role allowed acknowledges; the alert is then acknowledged already for the next ones
    "alert.acknowledge": ("POST", "/api/v1/alerts/alpha-alert/acknowledge", {"comment": "seen"}, {200, 409}),
    "rule.manage": ("POST", "/api/v1/alerts/rules/test", RULE, {200}),
    "audit.read": ("GET", "/api/v1/audit", None, {200}),
    "system.read": ("GET", "/api/v1/core/services", None, {200}),
    "system.manage": ("POST", "/api/v1/core/services/reload", {}, {200}),
    "tenant.manage": ("GET", "/api/v1/tenants", None, {200}),
}


def documented_table() -> dict[str, dict[str, bool]]:
    """action -> role -> allowed, from the policy table of docs/auth.md."""
    text = (Path(__file__).parents[3] / "docs" / "auth.md").read_text(encoding="utf-8")
    table: dict[str, dict[str, bool]] = {}
    for line in text.splitlines():
        if match := re.match(r"\| `([a-z.]+)` \|(.*)\|$", line):
            marks = [cell.strip() == "yes" for cell in match.group(2).split("|")]
            table[match.group(1)] = dict(zip(ROLES, marks, strict=False))
    return table


def operation_action(document: dict[str, Any], method: str, path: str) -> str | None:
    """The x-action the document gives the operation matching a concrete path."""
    for template, item in document["paths"].items():
        if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path) and method.lower() in item:
            action: str | None = item[method.lower()].get("x-action")
            return action
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


async def test_each_role_gets_exactly_what_the_policy_table_says(
    start_hub: HubFactory, http: aiohttp.ClientSession
) -> None:
    assert set(REPRESENTATIVES) == set(ACTIONS)
    table = documented_table()
    hub = await start_hub(CONFIG)
    admin = (await login(http, hub, "admin", ADMIN_PASSWORD))["access_token"]
    alpha = await build_alpha(http, hub, admin)
    async with http.get(f"{hub.http_url}/api/v1/openapi.json") as response:
        document = await response.json()
    for role in ROLES:  # viewer first: the acknowledgement succeeds once, then answers 409
        await add_user(http, hub, admin, f"role{role}", role)
        token = (await login(http, hub, f"role{role}"))["access_token"]
        principal = Principal("x", "x", "default", grants=(Grant("tenant", "default", role),))
        for action, (method, template, body, success) in REPRESENTATIVES.items():
            path = template.format(user_id=alpha.user_id)
            assert operation_action(document, method, path) == action, (method, path)
            expected = allowed(principal, action)
            assert table[action][role] is expected, (action, role)
            status, text = await call(http, hub, method, path, token, body)
            if expected:
                assert status in success, (role, action, status, text)
            else:
                assert status == 403, (role, action, status, text)


async def test_hub_wide_hardware_is_not_a_tenant_admins(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    admin = (await login(http, hub, "admin", ADMIN_PASSWORD))["access_token"]
    await ok(http, hub, admin, "POST", "/api/v1/tenants", {"id": "bravo", "name": "Bravo"})
    await add_user(http, hub, admin, "bravoadmin", "admin", tenant="bravo")
    token = (await login(http, hub, "bravoadmin"))["access_token"]
    for (method, path), body in HUB_WIDE.items():
        status, text = await call(http, hub, method, path, token, body)
        assert status == 403, (method, path, status, text)
