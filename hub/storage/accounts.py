"""Users, role grants and tokens: hub-wide lookups (a username is unique across tenants)."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.auth.policy import NodePath
from hub.auth.principal import Grant
from hub.storage.base import StorageError
from hub.storage.invitations import InvitationRecord
from hub.storage.records import iso

if TYPE_CHECKING:
    from hub.storage.base import Storage

USER_COLUMNS = (
    "id, tenant_id, username, password_hash, display_name, email, locale, system_admin, disabled, "
    "created_at, updated_at"
)
TOKEN_COLUMNS = (
    "id, user_id, tenant_id, kind, family_id, token_hash, name, scopes, created_at, expires_at, last_used_at, "
    "revoked_at, replaced_by, source_ip, user_agent"
)
_MAX_DEPTH = 64  # deepest client nesting followed; a cycle cannot loop forever
USER_FIELDS = frozenset({"password_hash", "display_name", "email", "locale", "disabled", "tenant_id"})


class AccountConflictError(StorageError):
    """A unique value (username, token hash) is taken already."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user account; the password hash never leaves the accounts plugin."""

    id: str
    tenant_id: str | None
    username: str
    password_hash: str | None
    created_at: datetime
    updated_at: datetime
    display_name: str | None = None
    email: str | None = None
    locale: str = "en"
    system_admin: bool = False
    disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready public view (no hash)."""
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "username": self.username,
            "display_name": self.display_name,
            "email": self.email,
            "locale": self.locale,
            "system_admin": self.system_admin,
            "disabled": self.disabled,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A refresh token (kind "refresh", one of a login session's family) or an API token (kind "api")."""

    id: str
    user_id: str
    tenant_id: str | None
    kind: str
    token_hash: str
    created_at: datetime
    family_id: str | None = None
    name: str | None = None
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def usable(self, now: datetime) -> bool:
        """Neither revoked, nor replaced (rotated), nor expired."""
        expired = self.expires_at is not None and self.expires_at <= now
        return self.revoked_at is None and self.replaced_by is None and not expired

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (no hash)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "scopes": list(self.scopes),
            "session_id": self.family_id,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
        }


def user_values(user: UserRecord) -> tuple[Any, ...]:
    """The row of a user in USER_COLUMNS order (timestamps left to the backend)."""
    return (
        user.id,
        user.tenant_id,
        user.username,
        user.password_hash,
        user.display_name,
        user.email,
        user.locale,
        user.system_admin,
        user.disabled,
        user.created_at,
        user.updated_at,
    )


def user_from_row(row: Any, when: Any) -> UserRecord:
    """A user from a row in USER_COLUMNS order; ``when`` turns a stored timestamp into a datetime."""
    return UserRecord(
        id=row[0],
        tenant_id=row[1],
        username=row[2],
        password_hash=row[3],
        display_name=row[4],
        email=row[5],
        locale=row[6],
        system_admin=bool(row[7]),
        disabled=bool(row[8]),
        created_at=when(row[9]),
        updated_at=when(row[10]),
    )


def token_values(token: TokenRecord) -> tuple[Any, ...]:
    """The row of a token in TOKEN_COLUMNS order (timestamps left to the backend)."""
    return (
        token.id,
        token.user_id,
        token.tenant_id,
        token.kind,
        token.family_id,
        token.token_hash,
        token.name,
        json.dumps(list(token.scopes)),
        token.created_at,
        token.expires_at,
        token.last_used_at,
        token.revoked_at,
        token.replaced_by,
        token.source_ip,
        token.user_agent,
    )


def token_from_row(row: Any, when: Any) -> TokenRecord:
    """A token from a row in TOKEN_COLUMNS order."""
    return TokenRecord(
        id=row[0],
        user_id=row[1],
        tenant_id=row[2],
        kind=row[3],
        family_id=row[4],
        token_hash=row[5],
        name=row[6],
        scopes=tuple(json.loads(row[7])),
        created_at=when(row[8]),
        expires_at=when(row[9]),
        last_used_at=when(row[10]),
        revoked_at=when(row[11]),
        replaced_by=row[12],
        source_ip=row[13],
        user_agent=row[14],
    )


class AccountStore(abc.ABC):
    """Users, their grants and their tokens, across tenants (login looks users up by name)."""

    @abc.abstractmethod
    async def create_user(self, user: UserRecord, grants: tuple[Grant, ...] = ()) -> None:
        """Insert a user with its grants; AccountConflictError when the username is taken."""

    @abc.abstractmethod
    async def user(self, user_id: str) -> UserRecord | None:
        """A user by id."""

    @abc.abstractmethod
    async def user_by_name(self, username: str) -> UserRecord | None:
        """A user by username (unique hub-wide)."""

    @abc.abstractmethod
    async def users(self, tenant_id: str | None) -> list[UserRecord]:
        """Users of a tenant (None: the system administrators), by username."""

    @abc.abstractmethod
    async def count_users(self) -> int:
        """How many users exist at all (first start creates the admin when none)."""

    @abc.abstractmethod
    async def update_user(self, user_id: str, changes: dict[str, Any], when: datetime) -> bool:
        """Change fields of USER_FIELDS; False when the user does not exist."""

    @abc.abstractmethod
    async def delete_user(self, user_id: str) -> bool:
        """Delete a user with its grants and tokens; False when it did not exist."""

    @abc.abstractmethod
    async def grants(self, user_id: str) -> tuple[Grant, ...]:
        """The user's role grants."""

    @abc.abstractmethod
    async def set_grants(self, user_id: str, tenant_id: str, grants: tuple[Grant, ...]) -> None:
        """Replace the user's role grants."""

    @abc.abstractmethod
    async def add_token(self, token: TokenRecord) -> None:
        """Store a token (its hash); AccountConflictError on a duplicate hash."""

    @abc.abstractmethod
    async def token(self, token_id: str) -> TokenRecord | None:
        """A token by id."""

    @abc.abstractmethod
    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """A token by the hash of its secret."""

    @abc.abstractmethod
    async def tokens(self, user_id: str, kind: str) -> list[TokenRecord]:
        """A user's tokens of one kind, newest first (revoked ones included)."""

    @abc.abstractmethod
    async def rotate(self, old_id: str, new: TokenRecord, when: datetime) -> bool:
        """Mark ``old_id`` replaced by ``new`` and store ``new`` atomically; False (nothing stored)
        when the old token was already replaced or revoked (a reuse)."""

    @abc.abstractmethod
    async def revoke_token(self, token_id: str, when: datetime) -> bool:
        """Revoke one token; False when it was unknown or revoked already."""

    @abc.abstractmethod
    async def revoke_family(self, family_id: str, when: datetime) -> int:
        """Revoke every token of a session's family; how many were still live."""

    @abc.abstractmethod
    async def session_active(self, family_id: str, now: datetime) -> bool:
        """Whether a session still has a live (unrevoked, unexpired, unreplaced) refresh token."""

    @abc.abstractmethod
    async def client_parent(self, tenant_id: str, client_id: str) -> tuple[bool, str | None]:
        """(the client exists in the tenant, its parent id)."""

    @abc.abstractmethod
    async def site_client(self, tenant_id: str, site_id: str) -> tuple[bool, str | None]:
        """(the site exists in the tenant, its client id)."""

    async def node_path(self, tenant_id: str, node_type: str, node_id: str) -> NodePath | None:
        """Where a node of the tree sits (what a grant on it reaches); None when it does not exist."""
        if node_type == "tenant":
            return NodePath(tenant_id) if node_id == tenant_id else None
        site_id = None
        client: str | None = node_id
        if node_type == "site":
            exists, client = await self.site_client(tenant_id, node_id)
            if not exists:
                return None
            site_id = node_id
        elif node_type != "client":
            return None
        chain: list[str] = []
        while client is not None and client not in chain and len(chain) < _MAX_DEPTH:
            exists, parent = await self.client_parent(tenant_id, client)
            if not exists:
                return None
            chain.append(client)
            client = parent
        return NodePath(tenant_id, tuple(reversed(chain)), site_id)

    @abc.abstractmethod
    async def add_invitation(self, invitation: InvitationRecord) -> None:
        """Store an invitation."""

    @abc.abstractmethod
    async def invitation_by_hash(self, token_hash: str) -> InvitationRecord | None:
        """An invitation by the hash of its link's token."""

    @abc.abstractmethod
    async def invitations(self, tenant_id: str) -> list[InvitationRecord]:
        """A tenant's invitations, newest first."""

    @abc.abstractmethod
    async def revoke_invitation(self, tenant_id: str, invitation_id: str, when: datetime) -> bool:
        """Withdraw a pending invitation; False when there is none by that id in the tenant."""

    @abc.abstractmethod
    async def accept_invitation(self, invitation_id: str, user: UserRecord, when: datetime) -> bool:
        """In one transaction: mark the pending invitation accepted and create the user with its
        grants. False when it is no longer pending; AccountConflictError when the name is taken."""

    @abc.abstractmethod
    async def touch_token(self, token_id: str, when: datetime) -> None:
        """Record the last use of an API token."""


def accounts_of(storage: Storage) -> AccountStore:
    """The account store of an open storage backend (one that offers ``sql_read``/``sql_write``)."""
    if not (hasattr(storage, "sql_read") and hasattr(storage, "sql_write")):
        raise StorageError(f"no account store for {type(storage).__name__}")
    from hub.storage.sql_accounts import SqlAccounts

    return SqlAccounts(storage)
