"""Invitations by link: pending role offers of a tenant, accepted once with a new username and password."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.auth.principal import Grant
from hub.storage.records import iso

INVITATION_COLUMNS = (
    "id, tenant_id, token_hash, email, grants, created_by, created_at, expires_at, accepted_at, accepted_user, "
    "revoked_at"
)


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    """One invitation; only the hash of its link's token is stored."""

    id: str
    tenant_id: str
    token_hash: str
    grants: tuple[Grant, ...]
    created_at: datetime
    expires_at: datetime
    email: str | None = None
    created_by: str | None = None
    accepted_at: datetime | None = None
    accepted_user: str | None = None
    revoked_at: datetime | None = None

    def pending(self, now: datetime) -> bool:
        """Neither accepted, nor revoked, nor expired."""
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (no hash)."""
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "email": self.email,
            "grants": [{"node_type": g.node_type, "node_id": g.node_id, "role": g.role} for g in self.grants],
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "accepted_at": iso(self.accepted_at),
            "accepted_user": self.accepted_user,
            "revoked_at": iso(self.revoked_at),
        }


def invitation_values(invitation: InvitationRecord) -> tuple[Any, ...]:
    """The row in INVITATION_COLUMNS order (timestamps left to the backend)."""
    grants = [[g.node_type, g.node_id, g.role] for g in invitation.grants]
    return (
        invitation.id,
        invitation.tenant_id,
        invitation.token_hash,
        invitation.email,
        json.dumps(grants),
        invitation.created_by,
        invitation.created_at,
        invitation.expires_at,
        invitation.accepted_at,
        invitation.accepted_user,
        invitation.revoked_at,
    )


def invitation_from_row(row: Any, when: Any) -> InvitationRecord:
    """An invitation from a row in INVITATION_COLUMNS order."""
    return InvitationRecord(
        id=row[0],
        tenant_id=row[1],
        token_hash=row[2],
        email=row[3],
        grants=tuple(Grant(*g) for g in json.loads(row[4])),
        created_by=row[5],
        created_at=when(row[6]),
        expires_at=when(row[7]),
        accepted_at=when(row[8]),
        accepted_user=row[9],
        revoked_at=when(row[10]),
    )
