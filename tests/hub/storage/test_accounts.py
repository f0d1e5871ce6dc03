"""The account store on both backends: users, grants, token rotation and revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.auth.policy import NodePath
from hub.auth.principal import Grant
from hub.reading import utc_now
from hub.storage.accounts import AccountConflictError, TokenRecord, UserRecord, accounts_of
from hub.storage.base import DEFAULT_TENANT, Storage
from hub.storage.invitations import InvitationRecord
from tests.hub.storage.backends import sql


def make_user(user_id: str, username: str, tenant: str | None = DEFAULT_TENANT) -> UserRecord:
    now = utc_now()
    return UserRecord(
        id=user_id, tenant_id=tenant, username=username, password_hash="h", created_at=now, updated_at=now
    )


def make_token(token_id: str, family: str | None = "f1", kind: str = "refresh", **extra: object) -> TokenRecord:
    return TokenRecord(
        id=token_id,
        user_id="u1",
        tenant_id=DEFAULT_TENANT,
        kind=kind,
        token_hash=f"hash-{token_id}",
        created_at=utc_now(),
        family_id=family,
        expires_at=utc_now() + timedelta(days=1),
        **extra,  # type: ignore[arg-type]
    )


async def test_users_and_grants(storage: Storage) -> None:
    accounts = accounts_of(storage)
    assert await accounts.count_users() == 0
    grants = (Grant("tenant", DEFAULT_TENANT, "admin"), Grant("client", "c1", "viewer"))
    await accounts.create_user(make_user("u1", "alice"), grants)
    await accounts.create_user(make_user("u0", "root", tenant=None))
    with pytest.raises(AccountConflictError):
        await accounts.create_user(make_user("u2", "alice"))
    assert await accounts.count_users() == 2
    alice = await accounts.user_by_name("alice")
    assert alice is not None and alice.id == "u1" and alice.tenant_id == DEFAULT_TENANT and not alice.system_admin
    assert set(await accounts.grants("u1")) == set(grants)
    assert [u.username for u in await accounts.users(DEFAULT_TENANT)] == ["alice"]
    assert [u.username for u in await accounts.users(None)] == ["root"]
    assert await accounts.update_user("u1", {"display_name": "Alice", "disabled": True}, utc_now())
    changed = await accounts.user("u1")
    assert changed is not None and changed.display_name == "Alice" and changed.disabled
    assert not await accounts.update_user("nope", {"email": "x"}, utc_now())
    touched = utc_now()
    assert await accounts.update_user("u1", {}, touched)  # nothing but the time (an empty profile PUT)
    again = await accounts.user("u1")
    assert again is not None and again.updated_at == touched and again.display_name == "Alice"
    await accounts.set_grants("u1", DEFAULT_TENANT, (Grant("site", "s1", "technician"),))
    assert await accounts.grants("u1") == (Grant("site", "s1", "technician"),)
    await accounts.add_token(make_token("t1"))
    assert await accounts.delete_user("u1") and await accounts.user("u1") is None
    assert await accounts.grants("u1") == () and await accounts.token("t1") is None
    assert not await accounts.delete_user("u1")


async def test_rotation_and_revocation(storage: Storage) -> None:
    accounts = accounts_of(storage)
    await accounts.create_user(make_user("u1", "alice"))
    await accounts.add_token(make_token("t1", source_ip="127.0.0.1"))
    duplicate = TokenRecord(
        id="t9", user_id="u1", tenant_id=DEFAULT_TENANT, kind="refresh", token_hash="hash-t1", created_at=utc_now()
    )
    with pytest.raises(AccountConflictError):
        await accounts.add_token(duplicate)
    assert await accounts.session_active("f1", utc_now())
    assert await accounts.rotate("t1", make_token("t2"), utc_now())
    assert not await accounts.rotate("t1", make_token("t3"), utc_now())  # reuse: refused, nothing stored
    assert await accounts.token("t3") is None
    old = await accounts.token("t1")
    assert old is not None and old.replaced_by == "t2" and not old.usable(utc_now())
    found = await accounts.token_by_hash("hash-t2")
    assert found is not None and found.id == "t2" and found.usable(utc_now())
    assert await accounts.session_active("f1", utc_now())
    assert not await accounts.session_active("f1", utc_now() + timedelta(days=2))  # expired
    assert await accounts.revoke_family("f1", utc_now()) == 2
    assert not await accounts.session_active("f1", utc_now())
    assert not await accounts.rotate("t2", make_token("t4"), utc_now())


async def test_api_tokens(storage: Storage) -> None:
    accounts = accounts_of(storage)
    await accounts.create_user(make_user("u1", "alice"))
    await accounts.add_token(make_token("a1", family=None, kind="api", name="script", scopes=("battery.read",)))
    await accounts.add_token(make_token("r1"))
    [api] = await accounts.tokens("u1", "api")
    assert api.name == "script" and api.scopes == ("battery.read",) and api.last_used_at is None
    when = utc_now()
    await accounts.touch_token("a1", when)
    used = await accounts.token("a1")
    assert used is not None and used.last_used_at is not None
    assert abs((used.last_used_at - when).total_seconds()) < 1
    assert await accounts.revoke_token("a1", utc_now()) and not await accounts.revoke_token("a1", utc_now())
    revoked = await accounts.token("a1")
    assert revoked is not None and not revoked.usable(utc_now())


async def test_node_paths(storage: Storage) -> None:
    accounts = accounts_of(storage)
    now = utc_now()
    add = "INSERT INTO clients (tenant_id, id, parent_id, name, created_at) VALUES ('default', ?, ?, ?, ?)"
    await sql(storage, add, "top", None, "Top", now)
    await sql(storage, add, "sub", "top", "Sub", now)
    site = "INSERT INTO sites (tenant_id, id, client_id, name, created_at) VALUES ('default', 's1', 'sub', 'S1', ?)"
    await sql(storage, site, now)
    assert await accounts.node_path(DEFAULT_TENANT, "site", "s1") == NodePath(DEFAULT_TENANT, ("top", "sub"), "s1")
    assert await accounts.node_path(DEFAULT_TENANT, "client", "sub") == NodePath(DEFAULT_TENANT, ("top", "sub"))
    assert await accounts.node_path(DEFAULT_TENANT, "tenant", DEFAULT_TENANT) == NodePath(DEFAULT_TENANT)
    assert await accounts.node_path(DEFAULT_TENANT, "tenant", "other") is None
    assert await accounts.node_path(DEFAULT_TENANT, "client", "nope") is None
    assert await accounts.node_path(DEFAULT_TENANT, "site", "nope") is None
    assert await accounts.node_path("other", "client", "top") is None


async def test_invitations(storage: Storage) -> None:
    accounts = accounts_of(storage)
    now = utc_now()
    grants = (Grant("tenant", DEFAULT_TENANT, "viewer"),)
    invite = InvitationRecord(
        id="i1",
        tenant_id=DEFAULT_TENANT,
        token_hash="h1",
        grants=grants,
        created_at=now,
        expires_at=now + timedelta(days=1),
    )
    await accounts.add_invitation(invite)
    await accounts.add_invitation(InvitationRecord("i2", DEFAULT_TENANT, "h2", (), now, now + timedelta(days=1)))
    found = await accounts.invitation_by_hash("h1")
    assert found is not None and found.grants == grants and found.pending(utc_now())
    assert {i.id for i in await accounts.invitations(DEFAULT_TENANT)} == {"i1", "i2"}
    assert await accounts.invitations("other") == []
    await accounts.create_user(make_user("u0", "taken"))
    with pytest.raises(AccountConflictError):
        await accounts.accept_invitation("i1", make_user("u1", "taken"), utc_now())
    still = await accounts.invitation_by_hash("h1")
    assert still is not None and still.pending(utc_now())  # the failed accept changed nothing
    assert await accounts.accept_invitation("i1", make_user("u1", "newbie"), utc_now())
    assert await accounts.grants("u1") == grants
    assert not await accounts.accept_invitation("i1", make_user("u2", "second"), utc_now())
    assert await accounts.user("u2") is None
    assert not await accounts.revoke_invitation("other", "i2", utc_now())
    assert await accounts.revoke_invitation(DEFAULT_TENANT, "i2", utc_now())
    assert not await accounts.accept_invitation("i2", make_user("u3", "third"), utc_now())
    expired = InvitationRecord("i3", DEFAULT_TENANT, "h3", (), now - timedelta(days=2), now - timedelta(days=1))
    await accounts.add_invitation(expired)
    assert not await accounts.accept_invitation("i3", make_user("u4", "late"), utc_now())
