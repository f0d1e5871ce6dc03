"""The "database" auth provider: users in the hub's storage, HS256 access JWTs, rotating refresh tokens."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt

from hub.auth.principal import Principal
from hub.reading import utc_now
from hub.storage.accounts import AccountStore, TokenRecord, UserRecord, accounts_of
from trackingbms_accounts.bootstrap import ensure_admin
from trackingbms_accounts.secrets_store import API_TOKEN_PREFIX, load_secret, new_id, new_token, token_hash

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
AUDIENCE = "trackingbms"
ALGORITHM = "HS256"
# An API token's last use is written at most this often (not on every request).
_TOUCH_EVERY = timedelta(minutes=1)


class RefreshRejectedError(Exception):
    """A refresh token that is unknown, expired, revoked or reused."""


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """What a login or a refresh hands out."""

    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str


class DatabaseProvider:
    """Authenticates access JWTs and API tokens against the users and tokens in storage."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)
        self.access_ttl = int(config["access_ttl"])
        self.refresh_ttl = int(config["refresh_ttl"])
        self.issuer = str(config["issuer"])
        self._secret = b""
        self._accounts: AccountStore | None = None

    @property
    def accounts(self) -> AccountStore:
        """The account store (once started)."""
        if self._accounts is None:
            raise RuntimeError("auth provider is not started")
        return self._accounts

    async def start(self, hub: Hub) -> None:
        if hub.storage is None:
            raise RuntimeError("the database auth provider needs storage")
        self._secret = load_secret(hub.data_dir / self.config["secret_file"])
        self._accounts = accounts_of(hub.storage)
        await ensure_admin(self.accounts)

    async def stop(self) -> None:
        self._accounts = None

    async def authenticate(self, token: str) -> Principal | None:
        if not token.isascii() or len(token) > 4096:
            return None  # neither a JWT nor one of our tokens; never hand odd text to the database
        if token.startswith(API_TOKEN_PREFIX):
            return await self._api_token(token)
        claims = self.decode(token)
        if claims is None or not await self.accounts.session_active(claims["sid"], utc_now()):
            return None
        user = await self.accounts.user(claims["sub"])
        if user is None or user.disabled:
            return None
        return await self.principal(user, session_id=claims["sid"])

    def decode(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid access JWT (signature, algorithm, audience, issuer, expiry); else None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "jti", "sid", "aud", "iss"]},
            )
        except jwt.InvalidTokenError:
            return None
        return claims

    async def principal(self, user: UserRecord, *, session_id: str | None = None, **extra: Any) -> Principal:
        """The principal of a user with its current grants."""
        return Principal(
            user_id=user.id,
            username=user.username,
            tenant_id=user.tenant_id,
            system_admin=user.system_admin,
            grants=await self.accounts.grants(user.id),
            session_id=session_id,
            **extra,
        )

    async def _api_token(self, token: str) -> Principal | None:
        record = await self.accounts.token_by_hash(token_hash(token))
        now = utc_now()
        if record is None or record.kind != "api" or not record.usable(now):
            return None
        user = await self.accounts.user(record.user_id)
        if user is None or user.disabled:
            return None
        if record.last_used_at is None or now - record.last_used_at > _TOUCH_EVERY:
            await self.accounts.touch_token(record.id, now)
        scopes = None if "*" in record.scopes else frozenset(record.scopes)
        return await self.principal(user, scopes=scopes, via="api_token")

    def access_token(self, user: UserRecord, session_id: str, now: datetime) -> str:
        """A signed access JWT for one session."""
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": user.id,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + self.access_ttl,
            "jti": new_id(),
            "sid": session_id,
            "tenant": user.tenant_id,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def _refresh_record(
        self, user: UserRecord, family: str, now: datetime, meta: Mapping[str, str | None]
    ) -> tuple[str, TokenRecord]:
        secret = new_token()
        record = TokenRecord(
            id=new_id(),
            user_id=user.id,
            tenant_id=user.tenant_id,
            kind="refresh",
            token_hash=token_hash(secret),
            created_at=now,
            family_id=family,
            expires_at=now + timedelta(seconds=self.refresh_ttl),
            source_ip=meta.get("ip"),
            user_agent=meta.get("user_agent"),
        )
        return secret, record

    async def open_session(self, user: UserRecord, meta: Mapping[str, str | None]) -> IssuedSession:
        """A new login session: a refresh-token family and its first access token."""
        now = utc_now()
        family = new_id()
        secret, record = self._refresh_record(user, family, now, meta)
        await self.accounts.add_token(record)
        return IssuedSession(self.access_token(user, family, now), secret, self.access_ttl, family)

    async def refresh(self, presented: str, meta: Mapping[str, str | None]) -> IssuedSession:
        """Rotate a refresh token. A token used twice revokes its whole family (it was stolen, or
        the legitimate holder has lost it to someone who used it first)."""
        now = utc_now()
        record = await self.accounts.token_by_hash(token_hash(presented))
        if record is None or record.kind != "refresh" or record.family_id is None:
            raise RefreshRejectedError("unknown refresh token")
        if record.replaced_by is not None or record.revoked_at is not None:
            await self.accounts.revoke_family(record.family_id, now)
            _LOGGER.warning("Refresh token reused: session %s of user %s revoked", record.family_id, record.user_id)
            raise RefreshRejectedError("refresh token already used; the session is revoked")
        user = await self.accounts.user(record.user_id)
        if not record.usable(now) or user is None or user.disabled:
            raise RefreshRejectedError("refresh token expired")
        secret, fresh = self._refresh_record(user, record.family_id, now, meta)
        if not await self.accounts.rotate(record.id, fresh, now):
            await self.accounts.revoke_family(record.family_id, now)
            raise RefreshRejectedError("refresh token already used; the session is revoked")
        return IssuedSession(self.access_token(user, record.family_id, now), secret, self.access_ttl, record.family_id)

    async def session_of_refresh(self, presented: str) -> TokenRecord | None:
        """The refresh token record of a presented refresh token, if known."""
        record = await self.accounts.token_by_hash(token_hash(presented))
        return record if record is not None and record.kind == "refresh" else None
