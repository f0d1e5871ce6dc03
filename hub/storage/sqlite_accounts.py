"""SQLite implementation of the account store."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

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
from hub.storage.records import iso, parse_iso

if TYPE_CHECKING:
    from hub.storage.sqlite import SQLiteStorage


def _stored(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(iso(v) if isinstance(v, datetime) else v for v in values)


def _placeholders(columns: str) -> str:
    return ", ".join("?" * len(columns.split(",")))


class SQLiteAccounts(AccountStore):
    """Accounts in the hub's SQLite file."""

    def __init__(self, storage: SQLiteStorage) -> None:
        self.storage = storage

    async def _rows(self, sql: str, *args: Any) -> list[Any]:
        async with self.storage.db.execute(sql, args) as cur:
            return list(await cur.fetchall())

    async def create_user(self, user: UserRecord, grants: tuple[Grant, ...] = ()) -> None:
        try:
            async with self.storage.transaction("user create") as db:
                await db.execute(
                    f"INSERT INTO users ({USER_COLUMNS}) VALUES ({_placeholders(USER_COLUMNS)})",
                    _stored(user_values(user)),
                )
                await self._insert_grants(db, user.id, user.tenant_id, grants)
        except StorageError as err:
            if isinstance(err.__cause__, sqlite3.IntegrityError) and "username" in str(err.__cause__):
                raise AccountConflictError(f"username {user.username!r} is taken") from err
            raise

    @staticmethod
    async def _insert_grants(db: Any, user_id: str, tenant_id: str | None, grants: tuple[Grant, ...]) -> None:
        for grant in grants:
            await db.execute(
                "INSERT INTO role_grants (user_id, tenant_id, node_type, node_id, role) VALUES (?, ?, ?, ?, ?)",
                (user_id, tenant_id, grant.node_type, grant.node_id, grant.role),
            )

    async def user(self, user_id: str) -> UserRecord | None:
        rows = await self._rows(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", user_id)
        return user_from_row(rows[0], parse_iso) if rows else None

    async def user_by_name(self, username: str) -> UserRecord | None:
        rows = await self._rows(f"SELECT {USER_COLUMNS} FROM users WHERE username = ?", username)
        return user_from_row(rows[0], parse_iso) if rows else None

    async def users(self, tenant_id: str | None) -> list[UserRecord]:
        rows = await self._rows(f"SELECT {USER_COLUMNS} FROM users WHERE tenant_id IS ? ORDER BY username", tenant_id)
        return [user_from_row(row, parse_iso) for row in rows]

    async def count_users(self) -> int:
        rows = await self._rows("SELECT count(*) FROM users")
        return int(rows[0][0])

    async def update_user(self, user_id: str, changes: dict[str, Any], when: datetime) -> bool:
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        sets = ", ".join([*(f"{key} = ?" for key in changes), "updated_at = ?"])
        async with self.storage.transaction("user update") as db:
            cur = await db.execute(f"UPDATE users SET {sets} WHERE id = ?", (*changes.values(), iso(when), user_id))
            return cur.rowcount > 0

    async def delete_user(self, user_id: str) -> bool:
        async with self.storage.transaction("user delete") as db:
            await db.execute("DELETE FROM role_grants WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM tokens WHERE user_id = ?", (user_id,))
            cur = await db.execute("DELETE FROM users WHERE id = ?", (user_id,))
            return cur.rowcount > 0

    async def grants(self, user_id: str) -> tuple[Grant, ...]:
        rows = await self._rows(
            "SELECT node_type, node_id, role FROM role_grants WHERE user_id = ? ORDER BY node_type, node_id", user_id
        )
        return tuple(Grant(row[0], row[1], row[2]) for row in rows)

    async def set_grants(self, user_id: str, tenant_id: str, grants: tuple[Grant, ...]) -> None:
        async with self.storage.transaction("grants write") as db:
            await db.execute("DELETE FROM role_grants WHERE user_id = ?", (user_id,))
            await self._insert_grants(db, user_id, tenant_id, grants)

    async def add_token(self, token: TokenRecord) -> None:
        try:
            async with self.storage.transaction("token create") as db:
                await db.execute(
                    f"INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ({_placeholders(TOKEN_COLUMNS)})",
                    _stored(token_values(token)),
                )
        except StorageError as err:
            if isinstance(err.__cause__, sqlite3.IntegrityError):
                raise AccountConflictError("token exists already") from err
            raise

    async def token(self, token_id: str) -> TokenRecord | None:
        rows = await self._rows(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?", token_id)
        return token_from_row(rows[0], parse_iso) if rows else None

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        rows = await self._rows(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?", token_hash)
        return token_from_row(rows[0], parse_iso) if rows else None

    async def tokens(self, user_id: str, kind: str) -> list[TokenRecord]:
        rows = await self._rows(
            f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE user_id = ? AND kind = ? ORDER BY created_at DESC, id",
            user_id,
            kind,
        )
        return [token_from_row(row, parse_iso) for row in rows]

    async def rotate(self, old_id: str, new: TokenRecord, when: datetime) -> bool:
        async with self.storage.transaction("token rotate") as db:
            cur = await db.execute(
                "UPDATE tokens SET replaced_by = ?, last_used_at = ? "
                "WHERE id = ? AND replaced_by IS NULL AND revoked_at IS NULL",
                (new.id, iso(when), old_id),
            )
            if cur.rowcount == 0:
                return False
            await db.execute(
                f"INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ({_placeholders(TOKEN_COLUMNS)})",
                _stored(token_values(new)),
            )
            return True

    async def revoke_token(self, token_id: str, when: datetime) -> bool:
        async with self.storage.transaction("token revoke") as db:
            cur = await db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (iso(when), token_id)
            )
            return cur.rowcount > 0

    async def revoke_family(self, family_id: str, when: datetime) -> int:
        async with self.storage.transaction("session revoke") as db:
            cur = await db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL", (iso(when), family_id)
            )
            return int(cur.rowcount)

    async def session_active(self, family_id: str, now: datetime) -> bool:
        rows = await self._rows(
            "SELECT 1 FROM tokens WHERE family_id = ? AND kind = 'refresh' AND revoked_at IS NULL "
            "AND replaced_by IS NULL AND (expires_at IS NULL OR expires_at > ?) LIMIT 1",
            family_id,
            iso(now),
        )
        return bool(rows)

    async def client_parent(self, tenant_id: str, client_id: str) -> tuple[bool, str | None]:
        rows = await self._rows("SELECT parent_id FROM clients WHERE tenant_id = ? AND id = ?", tenant_id, client_id)
        return (True, rows[0][0]) if rows else (False, None)

    async def site_client(self, tenant_id: str, site_id: str) -> tuple[bool, str | None]:
        rows = await self._rows("SELECT client_id FROM sites WHERE tenant_id = ? AND id = ?", tenant_id, site_id)
        return (True, rows[0][0]) if rows else (False, None)

    async def add_invitation(self, invitation: InvitationRecord) -> None:
        async with self.storage.transaction("invitation create") as db:
            await db.execute(
                f"INSERT INTO invitations ({INVITATION_COLUMNS}) VALUES ({_placeholders(INVITATION_COLUMNS)})",
                _stored(invitation_values(invitation)),
            )

    async def invitation_by_hash(self, token_hash: str) -> InvitationRecord | None:
        rows = await self._rows(f"SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = ?", token_hash)
        return invitation_from_row(rows[0], parse_iso) if rows else None

    async def invitations(self, tenant_id: str) -> list[InvitationRecord]:
        rows = await self._rows(
            f"SELECT {INVITATION_COLUMNS} FROM invitations WHERE tenant_id = ? ORDER BY created_at DESC, id", tenant_id
        )
        return [invitation_from_row(row, parse_iso) for row in rows]

    async def revoke_invitation(self, tenant_id: str, invitation_id: str, when: datetime) -> bool:
        async with self.storage.transaction("invitation revoke") as db:
            cur = await db.execute(
                "UPDATE invitations SET revoked_at = ? WHERE tenant_id = ? AND id = ? "
                "AND revoked_at IS NULL AND accepted_at IS NULL",
                (iso(when), tenant_id, invitation_id),
            )
            return cur.rowcount > 0

    async def accept_invitation(self, invitation_id: str, user: UserRecord, when: datetime) -> bool:
        try:
            async with self.storage.transaction("invitation accept") as db:
                cur = await db.execute(
                    "UPDATE invitations SET accepted_at = ?, accepted_user = ? WHERE id = ? AND accepted_at IS NULL "
                    "AND revoked_at IS NULL AND expires_at > ?",
                    (iso(when), user.id, invitation_id, iso(when)),
                )
                if cur.rowcount == 0:
                    return False
                async with db.execute("SELECT grants FROM invitations WHERE id = ?", (invitation_id,)) as rows:
                    row = await rows.fetchone()
                await db.execute(
                    f"INSERT INTO users ({USER_COLUMNS}) VALUES ({_placeholders(USER_COLUMNS)})",
                    _stored(user_values(user)),
                )
                grants = tuple(Grant(*g) for g in json.loads(row[0] if row else "[]"))
                await self._insert_grants(db, user.id, user.tenant_id, grants)
                return True
        except StorageError as err:
            if isinstance(err.__cause__, sqlite3.IntegrityError) and "username" in str(err.__cause__):
                raise AccountConflictError(f"username {user.username!r} is taken") from err
            raise

    async def touch_token(self, token_id: str, when: datetime) -> None:
        async with self.storage.transaction("token use") as db:
            await db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (iso(when), token_id))
