"""Login sessions (listed and revoked by their owner) and long-lived API tokens for scripts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import voluptuous as vol
from aiohttp import web

from hub.auth.policy import ACTIONS
from hub.reading import utc_now
from hub.storage.accounts import AccountStore, TokenRecord
from hub.storage.records import iso
from hub.web.api import BODY, Endpoint
from hub.web.envelope import ApiError, envelope
from trackingbms_accounts.api_auditing import audit
from trackingbms_accounts.schemas import text
from trackingbms_accounts.secrets_store import API_TOKEN_PREFIX, new_id, new_token, token_hash
from trackingbms_accounts.web import AUTH_PATH, add_account_endpoints, path_id, person, provider

NEW_TOKEN = vol.Schema(
    {
        vol.Required("name"): text(100, 1),
        # The actions the token may use; "*" = everything its user may do.
        vol.Required("scopes"): vol.All([vol.In(["*", *ACTIONS])], vol.Length(min=1)),
        vol.Optional("expires_in_days"): vol.Any(None, vol.All(int, vol.Range(min=1, max=3650))),
    }
)


async def sessions_of(accounts: AccountStore, user_id: str, current: str | None) -> list[dict[str, Any]]:
    """The user's live login sessions, newest first (one entry per refresh-token family)."""
    now = utc_now()
    families: dict[str, list[TokenRecord]] = {}
    for token in await accounts.tokens(user_id, "refresh"):
        if token.family_id is not None:
            families.setdefault(token.family_id, []).append(token)
    result = []
    for family, tokens in families.items():
        live = [t for t in tokens if t.usable(now)]
        if not live:
            continue
        first = min(tokens, key=lambda t: t.created_at)
        result.append(
            {
                "id": family,
                "created_at": iso(first.created_at),
                "refreshed_at": iso(live[0].created_at),
                "expires_at": iso(live[0].expires_at),
                "source_ip": live[0].source_ip,
                "user_agent": live[0].user_agent,
                "current": family == current,
            }
        )
    return sorted(result, key=lambda s: str(s["refreshed_at"]), reverse=True)


async def revoke_session_of(accounts: AccountStore, user_id: str, session_id: str) -> int:
    """Revoke one of the user's sessions; 404 when it is not the user's."""
    tokens = [t for t in await accounts.tokens(user_id, "refresh") if t.family_id == session_id]
    if not tokens:
        raise ApiError(404, "Session not found")
    return await accounts.revoke_family(session_id, utc_now())


async def list_sessions(request: web.Request) -> web.Response:
    principal = person(request)
    accounts = provider(request).accounts
    return envelope(request, await sessions_of(accounts, principal.user_id, principal.session_id))


async def revoke_session(request: web.Request) -> web.Response:
    principal = person(request)
    session_id = path_id(request, "session_id", "Session")
    revoked = await revoke_session_of(provider(request).accounts, principal.user_id, session_id)
    await audit(request, "session.revoke", session_id, "ok", user_id=principal.user_id, revoked=revoked)
    return envelope(request, {"revoked": revoked})


async def list_tokens(request: web.Request) -> web.Response:
    principal = person(request)
    tokens = await provider(request).accounts.tokens(principal.user_id, "api")
    return envelope(request, [t.to_dict() for t in tokens])


async def create_token(request: web.Request) -> web.Response:
    principal = person(request)
    body = request[BODY]
    now = utc_now()
    days = body.get("expires_in_days")
    secret = new_token(API_TOKEN_PREFIX)
    record = TokenRecord(
        id=new_id(),
        user_id=principal.user_id,
        tenant_id=principal.tenant_id,
        kind="api",
        token_hash=token_hash(secret),
        created_at=now,
        name=body["name"],
        scopes=tuple(sorted(set(body["scopes"]))),
        expires_at=None if days is None else now + timedelta(days=days),
        source_ip=request.remote,
    )
    await provider(request).accounts.add_token(record)
    await audit(request, "token.create", record.id, "ok", after=record.to_dict())
    # The only time the token is ever shown: the database keeps its hash.
    return envelope(request, {**record.to_dict(), "token": secret}, status=201, message="Created")


async def revoke_token(request: web.Request) -> web.Response:
    principal = person(request)
    accounts = provider(request).accounts
    record = await accounts.token(path_id(request, "token_id", "Token"))
    if record is None or record.kind != "api" or record.user_id != principal.user_id:
        raise ApiError(404, "Token not found")
    await accounts.revoke_token(record.id, utc_now())
    fresh = await accounts.token(record.id)
    after = None if fresh is None else fresh.to_dict()
    await audit(request, "token.revoke", record.id, "ok", before=record.to_dict(), after=after)
    return envelope(request, {"id": record.id, "revoked": True})


def setup(app: web.Application) -> None:
    """Register the routes."""
    tags = ("auth",)
    add_account_endpoints(
        app,
        Endpoint("GET", f"{AUTH_PATH}/sessions", list_sessions, "My login sessions", None, tags, errors=(401, 403)),
        Endpoint(
            "DELETE",
            f"{AUTH_PATH}/sessions/{{session_id}}",
            revoke_session,
            "Revoke one of my sessions",
            None,
            tags,
            errors=(401, 403, 404),
        ),
        Endpoint("GET", f"{AUTH_PATH}/tokens", list_tokens, "My API tokens", None, tags, errors=(401, 403)),
        Endpoint(
            "POST",
            f"{AUTH_PATH}/tokens",
            create_token,
            "Create an API token (shown once)",
            None,
            tags,
            body=NEW_TOKEN,
            status=201,
            errors=(401, 403),
        ),
        Endpoint(
            "DELETE",
            f"{AUTH_PATH}/tokens/{{token_id}}",
            revoke_token,
            "Revoke one of my API tokens",
            None,
            tags,
            errors=(401, 403, 404),
        ),
    )
