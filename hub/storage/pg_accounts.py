"""PostgreSQL implementation of the account store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

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
from hub.storage.invitations import (
    INVITATION_COLUMNS,
    InvitationRecord,
    invitation_from_row,
    invitation_values,
)

if TYPE_CHECKING:
    from hub.storage.postgres import PostgreSQLStorage


def _same(value: Any) -> Any:
    return value


def _placeholders(columns: str) -> str:
    return ", ".join(f"${n}" for n in range(1, len(columns.split(",")) + 1))


def _updated(status: str) -> int:
    """Rows touched, from a status such as ``UPDATE 3``."""
    return int(status.split()[-1])


class PgAccounts(AccountStore):
    """Accounts in the hub's PostgreSQL database."""

    def __init__(self, storage: PostgreSQLStorage) -> None:
        self.storage = storage

    async def create_user(self, user: UserRecord, grants: tuple[Grant, ...] = ()) -> None:
        try:
            async with self.storage.transaction("user create") as conn:
                await conn.execute(
                    f"INSERT INTO users ({USER_COLUMNS}) VALUES ({_placeholders(USER_COLUMNS)})", *user_values(user)
                )
                await self._insert_grants(conn, user.id, user.tenant_id, grants)
        except StorageError as err:
            if isinstance(err.__cause__, asyncpg.UniqueViolationError):
                raise AccountConflictError(f"username {user.username!r} is taken") from err
            raise

    @staticmethod
    async def _insert_grants(conn: Any, user_id: str, tenant_id: str | None, grants: tuple[Grant, ...]) -> None:
        for grant in grants:
            await conn.execute(
                "INSERT INTO role_grants (user_id, tenant_id, node_type, node_id, role) VALUES ($1, $2, $3, $4, $5)",
                user_id,
                tenant_id,
                grant.node_type,
                grant.node_id,
                grant.role,
            )

    async def user(self, user_id: str) -> UserRecord | None:
        row = await self.storage.fetchrow("user read", f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
        return None if row is None else user_from_row(row, _same)

    async def user_by_name(self, username: str) -> UserRecord | None:
        row = await self.storage.fetchrow(
            "user read", f"SELECT {USER_COLUMNS} FROM users WHERE username = $1", username
        )
        return None if row is None else user_from_row(row, _same)

    async def users(self, tenant_id: str | None) -> list[UserRecord]:
        rows = await self.storage.fetch(
            "users read",
            f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id IS NOT DISTINCT FROM $1 ORDER BY username",
            tenant_id,
        )
        return [user_from_row(row, _same) for row in rows]

    async def count_users(self) -> int:
        row = await self.storage.fetchrow("users count", "SELECT count(*) FROM users")
        return int(row[0])

    async def update_user(self, user_id: str, changes: dict[str, Any], when: datetime) -> bool:
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        sets = [f"{key} = ${n}" for n, key in enumerate(changes, start=1)]
        count = len(changes)
        sql = f"UPDATE users SET {', '.join(sets)}, updated_at = ${count + 1} WHERE id = ${count + 2}"
        async with self.storage.transaction("user update") as conn:
            return _updated(await conn.execute(sql, *changes.values(), when, user_id)) > 0

    async def delete_user(self, user_id: str) -> bool:
        async with self.storage.transaction("user delete") as conn:
            await conn.execute("DELETE FROM role_grants WHERE user_id = $1", user_id)
            await conn.execute("DELETE FROM tokens WHERE user_id = $1", user_id)
            return _updated(await conn.execute("DELETE FROM users WHERE id = $1", user_id)) > 0

    async def grants(self, user_id: str) -> tuple[Grant, ...]:
        rows = await self.storage.fetch(
            "grants read",
            "SELECT node_type, node_id, role FROM role_grants WHERE user_id = $1 ORDER BY node_type, node_id",
            user_id,
        )
        return tuple(Grant(row[0], row[1], row[2]) for row in rows)

    async def set_grants(self, user_id: str, tenant_id: str, grants: tuple[Grant, ...]) -> None:
        async with self.storage.transaction("grants write") as conn:
            await conn.execute("DELETE FROM role_grants WHERE user_id = $1", user_id)
            await self._insert_grants(conn, user_id, tenant_id, grants)

    async def add_token(self, token: TokenRecord) -> None:
        try:
            async with self.storage.transaction("token create") as conn:
                await conn.execute(
                    f"INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ({_placeholders(TOKEN_COLUMNS)})",
                    *token_values(token),
                )
        except StorageError as err:
            if isinstance(err.__cause__, asyncpg.UniqueViolationError):
                raise AccountConflictError("token exists already") from err
            raise

    async def token(self, token_id: str) -> TokenRecord | None:
        row = await self.storage.fetchrow("token read", f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1", token_id)
        return None if row is None else token_from_row(row, _same)

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        row = await self.storage.fetchrow(
            "token read", f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1", token_hash
        )
        return None if row is None else token_from_row(row, _same)

    async def tokens(self, user_id: str, kind: str) -> list[TokenRecord]:
        rows = await self.storage.fetch(
            "tokens read",
            f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE user_id = $1 AND kind = $2 ORDER BY created_at DESC, id",
            user_id,
            kind,
        )
        return [token_from_row(row, _same) for row in rows]

    async def rotate(self, old_id: str, new: TokenRecord, when: datetime) -> bool:
        async with self.storage.transaction("token rotate") as conn:
            status = await conn.execute(
                "UPDATE tokens SET replaced_by = $1, last_used_at = $2 "
                "WHERE id = $3 AND replaced_by IS NULL AND revoked_at IS NULL",
                new.id,
                when,
                old_id,
            )
            if _updated(status) == 0:
                return False
            await conn.execute(
                f"INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ({_placeholders(TOKEN_COLUMNS)})", *token_values(new)
            )
            return True

    async def revoke_token(self, token_id: str, when: datetime) -> bool:
        async with self.storage.transaction("token revoke") as conn:
            status = await conn.execute(
                "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", when, token_id
            )
            return _updated(status) > 0

    async def revoke_family(self, family_id: str, when: datetime) -> int:
        async with self.storage.transaction("session revoke") as conn:
            status = await conn.execute(
                "UPDATE tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL", when, family_id
            )
            return _updated(status)

    async def session_active(self, family_id: str, now: datetime) -> bool:
        row = await self.storage.fetchrow(
            "session read",
            "SELECT 1 FROM tokens WHERE family_id = $1 AND kind = 'refresh' AND revoked_at IS NULL "
            "AND replaced_by IS NULL AND (expires_at IS NULL OR expires_at > $2) LIMIT 1",
            family_id,
            now,
        )
        return row is not None

    async def client_parent(self, tenant_id: str, client_id: str) -> tuple[bool, str | None]:
        row = await self.storage.fetchrow(
            "client read", "SELECT parent_id FROM clients WHERE tenant_id = $1 AND id = $2", tenant_id, client_id
        )
        return (True, row[0]) if row is not None else (False, None)

    async def site_client(self, tenant_id: str, site_id: str) -> tuple[bool, str | None]:
        row = await self.storage.fetchrow(
            "site read", "SELECT client_id FROM sites WHERE tenant_id = $1 AND id = $2", tenant_id, site_id
        )
        return (True, row[0]) if row is not None else (False, None)

    async def add_invitation(self, invitation: InvitationRecord) -> None:
        async with self.storage.transaction("invitation create") as conn:
            await conn.execute(
                f"INSERT INTO invitations ({INVITATION_COLUMNS}) VALUES ({_placeholders(INVITATION_COLUMNS)})",
                *invitation_values(invitation),
            )

    async def invitation_by_hash(self, token_hash: str) -> InvitationRecord | None:
        row = await self.storage.fetchrow(
            "invitation read", f"SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1", token_hash
        )
        return None if row is None else invitation_from_row(row, _same)

    async def invitations(self, tenant_id: str) -> list[InvitationRecord]:
        rows = await self.storage.fetch(
            "invitations read",
            f"SELECT {INVITATION_COLUMNS} FROM invitations WHERE tenant_id = $1 ORDER BY created_at DESC, id",
            tenant_id,
        )
        return [invitation_from_row(row, _same) for row in rows]

    async def revoke_invitation(self, tenant_id: str, invitation_id: str, when: datetime) -> bool:
        async with self.storage.transaction("invitation revoke") as conn:
            status = await conn.execute(
                "UPDATE invitations SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 "
                "AND revoked_at IS NULL AND accepted_at IS NULL",
                when,
                tenant_id,
                invitation_id,
            )
            return _updated(status) > 0

    async def accept_invitation(self, invitation_id: str, user: UserRecord, when: datetime) -> bool:
        try:
            async with self.storage.transaction("invitation accept") as conn:
                grants_text = await conn.fetchval(
                    "UPDATE invitations SET accepted_at = $1, accepted_user = $2 WHERE id = $3 "
                    "AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1 RETURNING grants",
                    when,
                    user.id,
                    invitation_id,
                )
                if grants_text is None:
                    return False
                await conn.execute(
                    f"INSERT INTO users ({USER_COLUMNS}) VALUES ({_placeholders(USER_COLUMNS)})", *user_values(user)
                )
                grants = tuple(Grant(*g) for g in json.loads(grants_text))
                await self._insert_grants(conn, user.id, user.tenant_id, grants)
                return True
        except StorageError as err:
            if isinstance(err.__cause__, asyncpg.UniqueViolationError):
                raise AccountConflictError(f"username {user.username!r} is taken") from err
            raise

    async def touch_token(self, token_id: str, when: datetime) -> None:
        async with self.storage.transaction("token use") as conn:
            await conn.execute("UPDATE tokens SET last_used_at = $1 WHERE id = $2", when, token_id)
