-- Invitations by link: an admin invites someone with roles on nodes of its tenant. Only the hash of
-- the link's token is kept; it is accepted once (with a new username and password) before it expires.
CREATE TABLE invitations (
    id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants(id) DEFERRABLE,
    token_hash text NOT NULL UNIQUE,
    email text,
    grants text NOT NULL DEFAULT '[]',
    created_by text,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_user text,
    revoked_at timestamptz
);
CREATE INDEX invitations_tenant ON invitations (tenant_id, created_at);
