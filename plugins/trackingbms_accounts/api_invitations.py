"""Invitations by link: an admin invites with roles; the invitee accepts with a username and password."""

from __future__ import annotations

from datetime import timedelta

import voluptuous as vol
from aiohttp import web

from hub.auth.principal import principal_of
from hub.auth.scope import tenant_of
from hub.reading import utc_now
from hub.storage.accounts import AccountConflictError, UserRecord
from hub.storage.invitations import InvitationRecord
from hub.web.api import BODY, Endpoint
from hub.web.envelope import ApiError, envelope
from trackingbms_accounts.api_auditing import audit, user_view
from trackingbms_accounts.api_users import can_manage, grants_of
from trackingbms_accounts.schemas import EMAIL, GRANT, PASSWORD, TOKEN, USERNAME
from trackingbms_accounts.secrets_store import hash_password, new_id, new_token, token_hash
from trackingbms_accounts.web import AUTH_PATH, add_account_endpoints, path_id, provider

INVITE = vol.Schema(
    {
        vol.Optional("email"): EMAIL,
        vol.Required("grants"): vol.All([GRANT], vol.Length(min=1)),
        vol.Optional("expires_in_days", default=7): vol.All(int, vol.Range(min=1, max=90)),
    }
)
ACCEPT = vol.Schema(
    {vol.Required("token"): TOKEN, vol.Required("username"): USERNAME, vol.Required("password"): PASSWORD}
)
# The page the link opens; it posts to /api/v1/auth/invitations/accept.
INVITE_PAGE = "/invite"


async def create(request: web.Request) -> web.Response:
    body = request[BODY]
    tenant = tenant_of(request)
    grants = grants_of(body)
    if not await can_manage(principal_of(request), provider(request).accounts, tenant, grants):
        raise ApiError(403, "Not allowed to grant these roles (owner and admin need an owner)")
    now = utc_now()
    secret = new_token()
    invitation = InvitationRecord(
        id=new_id(),
        tenant_id=tenant,
        token_hash=token_hash(secret),
        grants=grants,
        created_at=now,
        expires_at=now + timedelta(days=body["expires_in_days"]),
        email=body.get("email"),
        created_by=principal_of(request).username,
    )
    await provider(request).accounts.add_invitation(invitation)
    await audit(request, "invitation.create", invitation.id, "ok", after=invitation.to_dict())
    # The link is shown once; send it to the invitee (the hub keeps only its hash).
    data = {**invitation.to_dict(), "token": secret, "url": f"{INVITE_PAGE}#token={secret}"}
    return envelope(request, data, status=201, message="Created")


async def listing(request: web.Request) -> web.Response:
    invitations = await provider(request).accounts.invitations(tenant_of(request))
    now = utc_now()
    return envelope(request, [{**i.to_dict(), "pending": i.pending(now)} for i in invitations])


async def revoke(request: web.Request) -> web.Response:
    accounts = provider(request).accounts
    tenant = tenant_of(request)
    invitation_id = path_id(request, "invitation_id", "Invitation")
    found = next((i for i in await accounts.invitations(tenant) if i.id == invitation_id), None)
    if found is None:
        raise ApiError(404, "Invitation not found")
    if not await can_manage(principal_of(request), accounts, tenant, found.grants):
        raise ApiError(403, "Not allowed to withdraw an invitation with these roles")
    if not await accounts.revoke_invitation(tenant, invitation_id, utc_now()):
        raise ApiError(409, "The invitation was accepted or withdrawn already")
    await audit(request, "invitation.revoke", invitation_id, "ok", before=found.to_dict())
    return envelope(request, {"id": invitation_id, "revoked": True})


async def accept(request: web.Request) -> web.Response:
    body = request[BODY]
    accounts = provider(request).accounts
    invitation = await accounts.invitation_by_hash(token_hash(body["token"]))
    now = utc_now()
    if invitation is None or not invitation.pending(now):
        raise ApiError(404, "This invitation is unknown, used, withdrawn or expired")
    user = UserRecord(
        id=new_id(),
        tenant_id=invitation.tenant_id,
        username=body["username"],
        password_hash=await hash_password(body["password"]),
        created_at=now,
        updated_at=now,
        email=invitation.email,
    )
    try:
        accepted = await accounts.accept_invitation(invitation.id, user, now)
    except AccountConflictError as err:
        raise ApiError(409, str(err)) from err
    if not accepted:
        raise ApiError(404, "This invitation is unknown, used, withdrawn or expired")
    # The invitee has no principal yet: the entry is theirs, in the tenant that invited them.
    after = user_view(user, invitation.grants)
    await audit(
        request, "invitation.accept", invitation.id, "ok", tenant=invitation.tenant_id, as_user=user, after=after
    )
    return envelope(request, user.to_dict(), status=201, message="Created")


def setup(app: web.Application) -> None:
    """Register the routes (before /users/{user_id}, which would take "invitations" for an id)."""
    base = "/api/v1/users/invitations"
    tags = ("users",)
    add_account_endpoints(
        app,
        Endpoint("GET", base, listing, "Invitations of the tenant", "user.manage", tags),
        Endpoint("POST", base, create, "Invite someone by link", "user.manage", tags, body=INVITE, status=201),
        Endpoint(
            "DELETE",
            f"{base}/{{invitation_id}}",
            revoke,
            "Withdraw an invitation",
            "user.manage",
            tags,
            errors=(404, 409),
        ),
        Endpoint(
            "POST",
            f"{AUTH_PATH}/invitations/accept",
            accept,
            "Accept an invitation with a new username and password",
            None,
            ("auth",),
            body=ACCEPT,
            status=201,
            errors=(404, 409),
        ),
    )
