"""``/api/v1/auth``: login, refresh, logout, token validation, profile and permissions."""

from __future__ import annotations

import secrets
from typing import Any

import voluptuous as vol
from aiohttp import web

from hub.auth.middleware import REFRESH_COOKIE, check_csrf
from hub.auth.policy import actions_of
from hub.auth.principal import PRINCIPAL, Principal, principal_of
from hub.bus import AUTH_USER_LOGIN, AUTH_USER_LOGOUT
from hub.reading import utc_now
from hub.storage.accounts import UserRecord
from hub.storage.base import DEFAULT_TENANT
from hub.web.api import BODY, Endpoint
from hub.web.app import get_hub
from hub.web.envelope import ApiError, envelope
from trackingbms_accounts.api_auditing import audit, tenant_of_user, user_view
from trackingbms_accounts.provider import IssuedSession, RefreshRejectedError
from trackingbms_accounts.schemas import EMAIL, LOCALE, PASSWORD, TOKEN, text
from trackingbms_accounts.secrets_store import hash_password, verify_password
from trackingbms_accounts.throttle import throttle_of
from trackingbms_accounts.web import (
    AUTH_PATH,
    add_account_endpoints,
    clear_cookies,
    meta,
    person,
    provider,
    set_cookies,
)

ORIGIN = "plugin.accounts"
LOGIN = vol.Schema(
    {
        vol.Required("username"): text(64, 1),
        vol.Required("password"): text(1024),
        vol.Optional("cookie", default=False): bool,
    }
)
REFRESH = vol.Schema({vol.Optional("refresh_token"): TOKEN, vol.Optional("cookie", default=False): bool})
PROFILE = vol.Schema(
    {
        vol.Optional("display_name"): vol.Any(None, text(200)),
        vol.Optional("email"): EMAIL,
        vol.Optional("locale"): LOCALE,
        vol.Optional("password"): PASSWORD,
        vol.Optional("current_password"): text(1024),
    }
)
TOKEN_DATA = {
    "type": "object",
    "properties": {
        "access_token": {"type": "string"},
        "refresh_token": {"type": "string"},
        "expires_in": {"type": "integer"},
        "token_type": {"type": "string"},
    },
}


def principal_view(principal: Principal) -> dict[str, Any]:
    """A principal as JSON."""
    return {
        "user_id": principal.user_id,
        "username": principal.username,
        "tenant_id": principal.tenant_id,
        "system_admin": principal.system_admin,
        "grants": [{"node_type": g.node_type, "node_id": g.node_id, "role": g.role} for g in principal.grants],
        "scopes": None if principal.scopes is None else sorted(principal.scopes),
        "session_id": principal.session_id,
        "via": principal.via,
    }


def _issued(request: web.Request, issued: IssuedSession, cookie: bool) -> web.Response:
    data: dict[str, Any] = {"expires_in": issued.expires_in, "token_type": "Bearer", "session_id": issued.session_id}
    if not cookie:
        data |= {"access_token": issued.access_token, "refresh_token": issued.refresh_token}
        return envelope(request, data)
    # The browser keeps the tokens in HttpOnly cookies; its script only ever sees the CSRF token.
    data["csrf_token"] = secrets.token_urlsafe(24)
    response = envelope(request, data)
    set_cookies(request, response, issued, data["csrf_token"])
    return response


async def _login_rejected(request: web.Request, username: str, user: UserRecord | None, reason: str) -> None:
    """Audit a failed login: in the user's tenant when the username exists, else in the hub's own log
    (so no tenant's administrators learn which names were tried against other tenants)."""
    tenant = DEFAULT_TENANT if user is None else tenant_of_user(user)
    await audit(request, "auth.login", username, "rejected", tenant=tenant, username=username, reason=reason)


async def login(request: web.Request) -> web.Response:
    body = request[BODY]
    username, ip = body["username"], request.remote or ""
    accounts = provider(request).accounts
    throttle = throttle_of(request)
    if throttle is not None:
        wait = await throttle.delay_for(username, ip)
        if wait > 0:
            await _login_rejected(request, username, await accounts.user_by_name(username), "throttled")
            response = envelope(request, None, status=429, message="Too many failed logins; try again later")
            response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
            return response
    user = await accounts.user_by_name(username)
    matches, rehash = await verify_password(None if user is None else user.password_hash, body["password"])
    if user is None or not matches or user.disabled:
        if throttle is not None:
            await throttle.failed(username, ip)
        reason = "disabled" if user is not None and matches else "invalid credentials"
        await _login_rejected(request, username, user, reason)
        raise ApiError(401, "Invalid username or password")
    if throttle is not None:
        await throttle.succeeded(username, ip)
    if rehash:
        await accounts.update_user(user.id, {"password_hash": await hash_password(body["password"])}, utc_now())
    issued = await provider(request).open_session(user, meta(request))
    await audit(
        request,
        "auth.login",
        user.username,
        "ok",
        tenant=tenant_of_user(user),
        as_user=user,
        session_id=issued.session_id,
    )
    get_hub(request).bus.publish(
        AUTH_USER_LOGIN,
        {
            "user_id": user.id,
            "username": user.username,
            "tenant_id": tenant_of_user(user),
            "session_id": issued.session_id,
            "ip": request.remote,
        },
        origin=ORIGIN,
    )
    return _issued(request, issued, body["cookie"])


async def _audit_reuse(request: web.Request, presented: str) -> None:
    """Audit a rejected refresh when it was a reuse: a known token already rotated or revoked (the
    provider then revoked its whole session); unknown and merely expired tokens are not writes."""
    record = await provider(request).session_of_refresh(presented)
    if record is None or (record.replaced_by is None and record.revoked_at is None):
        return
    user = await provider(request).accounts.user(record.user_id)
    tenant = record.tenant_id or (DEFAULT_TENANT if user is None else tenant_of_user(user))
    await audit(
        request,
        "auth.refresh_reuse",
        str(record.family_id),
        "rejected",
        tenant=tenant,
        user_id=record.user_id,
        username=None if user is None else user.username,
        reason="refresh token used twice; the session was revoked",
    )


async def refresh(request: web.Request) -> web.Response:
    body = request[BODY] or {}
    presented = body.get("refresh_token")
    cookie = body.get("cookie", False) or presented is None
    if presented is None:
        check_csrf(request)  # the cookie is sent by the browser on its own: prove it is our page
        presented = request.cookies.get(REFRESH_COOKIE)
    if not presented:
        raise ApiError(401, "No refresh token")
    try:
        issued = await provider(request).refresh(presented, meta(request))
    except RefreshRejectedError as err:
        await _audit_reuse(request, presented)
        raise ApiError(401, str(err)) from err
    return _issued(request, issued, cookie)


async def logout(request: web.Request) -> web.Response:
    """Revoke the session of the access token (or of the refresh token given or in the cookie)."""
    principal = request.get(PRINCIPAL)
    session = principal.session_id if principal is not None else None
    body = request[BODY] or {}
    presented = body.get("refresh_token")
    if session is None and presented is None and REFRESH_COOKIE in request.cookies:
        check_csrf(request)
        presented = request.cookies[REFRESH_COOKIE]
    user_id = principal.user_id if principal is not None else None
    if session is None and presented:
        record = await provider(request).session_of_refresh(presented)
        session, user_id = (None, None) if record is None else (record.family_id, record.user_id)
    if session is None:
        raise ApiError(401, "No session to log out of")
    accounts = provider(request).accounts
    revoked = await accounts.revoke_family(session, utc_now())
    user = None if user_id is None else await accounts.user(user_id)
    tenant = None if user is None else tenant_of_user(user)
    await audit(request, "auth.logout", session, "ok", tenant=tenant, as_user=user, revoked=revoked)
    get_hub(request).bus.publish(
        AUTH_USER_LOGOUT,
        {
            "user_id": user_id,
            "username": None if user is None else user.username,
            "tenant_id": tenant,
            "session_id": session,
            "revoked": revoked,
        },
        origin=ORIGIN,
    )
    response = envelope(request, {"session_id": session, "revoked": revoked})
    clear_cookies(response)
    return response


async def validate_token(request: web.Request) -> web.Response:
    principal = await provider(request).authenticate(request[BODY]["token"])
    if principal is None:
        raise ApiError(401, "Invalid token")
    return envelope(request, principal_view(principal))


async def get_profile(request: web.Request) -> web.Response:
    principal = person(request)
    user = await provider(request).accounts.user(principal.user_id)
    if user is None:
        raise ApiError(404, "User not found")
    return envelope(request, {**user.to_dict(), "grants": principal_view(principal)["grants"]})


async def _audit_profile(request: web.Request, user: UserRecord, fresh: UserRecord, changes: dict[str, Any]) -> None:
    """A password change is its own entry (that it changed, never the password); the other fields
    are a profile update with before and after."""
    if "password_hash" in changes:
        await audit(request, "auth.password_change", user.username, "ok", user_id=user.id)
    if len(changes) > ("password_hash" in changes) or not changes:
        await audit(request, "auth.profile_update", user.username, "ok", before=user_view(user), after=user_view(fresh))


async def put_profile(request: web.Request) -> web.Response:
    principal = person(request)
    body = dict(request[BODY])
    accounts = provider(request).accounts
    user = await accounts.user(principal.user_id)
    if user is None:
        raise ApiError(404, "User not found")
    changes = {key: body[key] for key in ("display_name", "email", "locale") if key in body}
    if "password" in body:
        matches, _ = await verify_password(user.password_hash, body.get("current_password", ""))
        if not matches:
            await audit(request, "auth.password_change", user.username, "rejected", reason="wrong current password")
            raise ApiError(
                422, "Wrong current password", [{"path": "body.current_password", "message": "wrong password"}]
            )
        changes["password_hash"] = await hash_password(body["password"])
    await accounts.update_user(user.id, changes, utc_now())
    fresh = await accounts.user(user.id)
    assert fresh is not None
    await _audit_profile(request, user, fresh, changes)
    return envelope(request, fresh.to_dict())


async def permissions(request: web.Request) -> web.Response:
    principal = principal_of(request)
    return envelope(request, {"principal": principal_view(principal), "actions": actions_of(principal)})


def setup(app: web.Application) -> None:
    """Register the routes."""
    tags = ("auth",)
    add_account_endpoints(
        app,
        Endpoint(
            "POST",
            f"{AUTH_PATH}/login",
            login,
            "Log in with username and password",
            None,
            tags,
            body=LOGIN,
            data=TOKEN_DATA,
            errors=(401, 429),
        ),
        Endpoint(
            "POST",
            f"{AUTH_PATH}/refresh",
            refresh,
            "Rotate a refresh token",
            None,
            tags,
            body=vol.Any(None, REFRESH),
            data=TOKEN_DATA,
            errors=(401, 403),
        ),
        Endpoint(
            "POST",
            f"{AUTH_PATH}/logout",
            logout,
            "Revoke the current session",
            None,
            tags,
            body=vol.Any(None, REFRESH),
            errors=(401, 403),
        ),
        Endpoint(
            "POST",
            f"{AUTH_PATH}/validate-token",
            validate_token,
            "Resolve a token into its principal",
            None,
            tags,
            body=vol.Schema({vol.Required("token"): TOKEN}),
            errors=(401,),
        ),
        Endpoint(
            "GET", f"{AUTH_PATH}/profile", get_profile, "The logged-in user's profile", None, tags, errors=(401, 403)
        ),
        Endpoint(
            "PUT",
            f"{AUTH_PATH}/profile",
            put_profile,
            "Change profile or password",
            None,
            tags,
            body=PROFILE,
            errors=(401, 403),
        ),
        Endpoint(
            "GET", f"{AUTH_PATH}/permissions", permissions, "The actions held and where", None, tags, errors=(401,)
        ),
    )
