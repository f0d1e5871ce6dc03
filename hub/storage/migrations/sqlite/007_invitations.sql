-- Invitations by link: an admin invites someone with roles on nodes of its tenant. Only the hash of
-- the link's token is kept; it is accepted once (with a new username and password) before it expires.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    token_hash TEXT NOT NULL UNIQUE,
    email TEXT,
    grants TEXT NOT NULL DEFAULT '[]',
    created_by TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    accepted_at TEXT,
    accepted_user TEXT,
    revoked_at TEXT
);
CREATE INDEX invitations_tenant ON invitations (tenant_id, created_at);
