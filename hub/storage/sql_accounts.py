"""The account store (users, grants, tokens, invitations) on both backends, one SQL text for both."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.auth.principal import Grant
from hub.storage.accounts import (
    TOKEN_COLUMNS,
    USER_COLUMNS,
    USER_FIELDS,
    AccountConflictError,
    AccountStore,
    TokenRecord,
    UserRecord,
    token_from_row,
    token_values,
    user_from_row,
    user_values,
)
from hub.storage.base import StorageError
from hub.storage.invitations import INVITATION_COLUMNS, InvitationRecord, invitation_from_row, invitation_values
from hub.storage.sql import Sql, SqlSource, unique_violation


def _insert(table: str, columns: str) -> str:
    marks = ", ".join(f"${n}" for n in range(1, len(columns.split(",")) + 1))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


_INSERT_USER = _insert("users", USER_COLUMNS)
_INSERT_TOKEN = _insert("tokens", TOKEN_COLUMNS)
_INSERT_INVITATION = _insert("invitations", INVITATION_COLUMNS)
_INSERT_GRANT = "INSERT INTO role_grants (user_id, tenant_id, node_type, node_id, role) VALUES ($1, $2, $3, $4, $5)"


def _bound(db: Sql, values: Sequence[Any]) -> tuple[Any, ...]:
    """A row's values as the backend stores them (timestamps: ISO text in SQLite)."""
    return tuple(db.time(v) if isinstance(v, datetime) else v for v in values)


class SqlAccounts(AccountStore):
    """Accounts in the hub's database, whichever backend holds it."""

    def __init__(self, storage: SqlSource) -> None:
        self.storage = storage

    async def _rows(self, what: str, sql: str, *args: Any) -> list[Sequence[Any]]:
        async with self.storage.sql_read(what) as db:
            return list(await db.fetch(sql, *args))

    async def _users(self, where: str, *args: Any) -> list[UserRecord]:
        async with self.storage.sql_read("user read") as db:
            rows = await db.fetch(f"SELECT {USER_COLUMNS} FROM users WHERE {where}", *args)
            return [user_from_row(row, db.read_time) for row in rows]

    async def _tokens(self, where: str, *args: Any) -> list[TokenRecord]:
        async with self.storage.sql_read("token read") as db:
            rows = await db.fetch(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE {where}", *args)
            return [token_from_row(row, db.read_time) for row in rows]

    async def _invitations(self, where: str, *args: Any) -> list[InvitationRecord]:
        async with self.storage.sql_read("invitation read") as db:
            rows = await db.fetch(f"SELECT {INVITATION_COLUMNS} FROM invitations WHERE {where}", *args)
            return [invitation_from_row(row, db.read_time) for row in rows]

    async def _change(self, what: str, sql: str, *args: Any) -> int:
        async with self.storage.sql_write(what) as db:
            return await db.execute(sql, *_bound(db, args))

    async def create_user(self, user: UserRecord, grants: tuple[Grant, ...] = ()) -> None:
        try:
            async with self.storage.sql_write("user create") as db:
                await db.execute(_INSERT_USER, *_bound(db, user_values(user)))
                await self._insert_grants(db, user.id, user.tenant_id, grants)
        except StorageError as err:
            if unique_violation(err):
                raise AccountConflictError(f"username {user.username!r} is taken") from err
            raise

    @staticmethod
    async def _insert_grants(db: Sql, user_id: str, tenant_id: str | None, grants: tuple[Grant, ...]) -> None:
        rows = [(user_id, tenant_id, g.node_type, g.node_id, g.role) for g in grants]
        await db.executemany(_INSERT_GRANT, rows)

    async def user(self, user_id: str) -> UserRecord | None:
        found = await self._users("id = $1", user_id)
        return found[0] if found else None

    async def user_by_name(self, username: str) -> UserRecord | None:
        found = await self._users("username = $1", username)
        return found[0] if found else None

    async def users(self, tenant_id: str | None) -> list[UserRecord]:
        async with self.storage.sql_read("users read") as db:
            same = db.same  # tenant_id NULL (system administrators) matches NULL
            rows = await db.fetch(
                f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id {same} $1 ORDER BY username", tenant_id
            )
            return [user_from_row(row, db.read_time) for row in rows]

    async def count_users(self) -> int:
        rows = await self._rows("users count", "SELECT count(*) FROM users")
        return int(rows[0][0])

    async def update_user(self, user_id: str, changes: dict[str, Any], when: datetime) -> bool:
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        count = len(changes)  # none: only updated_at changes
        sets = [*(f"{key} = ${n}" for n, key in enumerate(changes, start=1)), f"updated_at = ${count + 1}"]
        sql = f"UPDATE users SET {', '.join(sets)} WHERE id = ${count + 2}"
        return await self._change("user update", sql, *changes.values(), when, user_id) > 0

    async def delete_user(self, user_id: str) -> bool:
        async with self.storage.sql_write("user delete") as db:
            await db.execute("DELETE FROM role_grants WHERE user_id = $1", user_id)
            await db.execute("DELETE FROM tokens WHERE user_id = $1", user_id)
            return await db.execute("DELETE FROM users WHERE id = $1", user_id) > 0

    async def grants(self, user_id: str) -> tuple[Grant, ...]:
        sql = "SELECT node_type, node_id, role FROM role_grants WHERE user_id = $1 ORDER BY node_type, node_id"
        return tuple(Grant(row[0], row[1], row[2]) for row in await self._rows("grants read", sql, user_id))

    async def set_grants(self, user_id: str, tenant_id: str, grants: tuple[Grant, ...]) -> None:
        async with self.storage.sql_write("grants write") as db:
            await db.execute("DELETE FROM role_grants WHERE user_id = $1", user_id)
            await self._insert_grants(db, user_id, tenant_id, grants)

    async def add_token(self, token: TokenRecord) -> None:
        try:
            async with self.storage.sql_write("token create") as db:
                await db.execute(_INSERT_TOKEN, *_bound(db, token_values(token)))
        except StorageError as err:
            if unique_violation(err):
                raise AccountConflictError("token exists already") from err
            raise

    async def token(self, token_id: str) -> TokenRecord | None:
        found = await self._tokens("id = $1", token_id)
        return found[0] if found else None

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        found = await self._tokens("token_hash = $1", token_hash)
        return found[0] if found else None

    async def tokens(self, user_id: str, kind: str) -> list[TokenRecord]:
        return await self._tokens("user_id = $1 AND kind = $2 ORDER BY created_at DESC, id", user_id, kind)

    async def rotate(self, old_id: str, new: TokenRecord, when: datetime) -> bool:
        async with self.storage.sql_write("token rotate") as db:
            rotated = await db.execute(
                "UPDATE tokens SET replaced_by = $1, last_used_at = $2 "
                "WHERE id = $3 AND replaced_by IS NULL AND revoked_at IS NULL",
                new.id,
                db.time(when),
                old_id,
            )
            if rotated == 0:
                return False
            await db.execute(_INSERT_TOKEN, *_bound(db, token_values(new)))
            return True

    async def revoke_token(self, token_id: str, when: datetime) -> bool:
        sql = "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
        return await self._change("token revoke", sql, when, token_id) > 0

    async def revoke_family(self, family_id: str, when: datetime) -> int:
        sql = "UPDATE tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL"
        return await self._change("session revoke", sql, when, family_id)

    async def session_active(self, family_id: str, now: datetime) -> bool:
        async with self.storage.sql_read("session read") as db:
            rows = await db.fetch(
                "SELECT 1 FROM tokens WHERE family_id = $1 AND kind = 'refresh' AND revoked_at IS NULL "
                "AND replaced_by IS NULL AND (expires_at IS NULL OR expires_at > $2) LIMIT 1",
                family_id,
                db.time(now),
            )
        return bool(rows)

    async def client_parent(self, tenant_id: str, client_id: str) -> tuple[bool, str | None]:
        sql = "SELECT parent_id FROM clients WHERE tenant_id = $1 AND id = $2"
        rows = await self._rows("client read", sql, tenant_id, client_id)
        return (True, rows[0][0]) if rows else (False, None)

    async def site_client(self, tenant_id: str, site_id: str) -> tuple[bool, str | None]:
        rows = await self._rows(
            "site read", "SELECT client_id FROM sites WHERE tenant_id = $1 AND id = $2", tenant_id, site_id
        )
        return (True, rows[0][0]) if rows else (False, None)

    async def add_invitation(self, invitation: InvitationRecord) -> None:
        async with self.storage.sql_write("invitation create") as db:
            await db.execute(_INSERT_INVITATION, *_bound(db, invitation_values(invitation)))

    async def invitation_by_hash(self, token_hash: str) -> InvitationRecord | None:
        found = await self._invitations("token_hash = $1", token_hash)
        return found[0] if found else None

    async def invitations(self, tenant_id: str) -> list[InvitationRecord]:
        return await self._invitations("tenant_id = $1 ORDER BY created_at DESC, id", tenant_id)

    async def revoke_invitation(self, tenant_id: str, invitation_id: str, when: datetime) -> bool:
        sql = (
            "UPDATE invitations SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 "
            "AND revoked_at IS NULL AND accepted_at IS NULL"
        )
        return await self._change("invitation revoke", sql, when, tenant_id, invitation_id) > 0

    async def accept_invitation(self, invitation_id: str, user: UserRecord, when: datetime) -> bool:
        try:
            async with self.storage.sql_write("invitation accept") as db:
                accepted = await db.execute(
                    "UPDATE invitations SET accepted_at = $1, accepted_user = $2 WHERE id = $3 "
                    "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
                    db.time(when),
                    user.id,
                    invitation_id,
                )
                if accepted == 0:
                    return False
                # Read in the same transaction, after the update took the row: no other accept can.
                (row,) = await db.fetch("SELECT grants FROM invitations WHERE id = $1", invitation_id)
                await db.execute(_INSERT_USER, *_bound(db, user_values(user)))
                await self._insert_grants(db, user.id, user.tenant_id, tuple(Grant(*g) for g in json.loads(row[0])))
                return True
        except StorageError as err:
            if unique_violation(err):
                raise AccountConflictError(f"username {user.username!r} is taken") from err
            raise

    async def touch_token(self, token_id: str, when: datetime) -> None:
        await self._change("token use", "UPDATE tokens SET last_used_at = $1 WHERE id = $2", when, token_id)
