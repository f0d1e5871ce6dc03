-- The tenancy tree (DESIGN §5): tenant -> clients (nested to any depth) -> sites -> batteries,
-- with users, their role grants and their tokens; alerts, alert rules and the notifier outbox.
-- Every row carries its tenant_id so every query can be scoped to one tenant.

-- custom: JSON object of the tenant's custom field values (validated on write by the API).
CREATE TABLE clients (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    parent_id TEXT,
    name TEXT NOT NULL,
    custom TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES clients (tenant_id, id)
);
CREATE INDEX clients_parent ON clients (tenant_id, parent_id);

CREATE TABLE sites (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    client_id TEXT,
    name TEXT NOT NULL,
    timezone TEXT,
    custom TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id)
);
CREATE INDEX sites_client ON sites (tenant_id, client_id);

-- SQLite cannot add a composite foreign key to an existing table; the storage API checks the site.
ALTER TABLE batteries ADD COLUMN site_id TEXT;
ALTER TABLE batteries ADD COLUMN custom TEXT NOT NULL DEFAULT '{}';
CREATE INDEX batteries_site ON batteries (tenant_id, site_id);

-- Custom fields a tenant defines on clients, sites and batteries.
CREATE TABLE custom_fields (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    entity TEXT NOT NULL CHECK (entity IN ('client', 'site', 'battery')),
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('text', 'number', 'date', 'choice')),
    required INTEGER NOT NULL DEFAULT 0,
    choices TEXT,
    PRIMARY KEY (tenant_id, entity, name)
);

-- tenant_id is NULL only for system administrators, who stand above tenants.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants(id),
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    display_name TEXT,
    email TEXT,
    locale TEXT NOT NULL DEFAULT 'en',
    system_admin INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX users_tenant ON users (tenant_id);

-- A role on a node of the tree, inherited below it (node_type tenant: node_id is the tenant id).
CREATE TABLE role_grants (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    node_type TEXT NOT NULL CHECK (node_type IN ('tenant', 'client', 'site')),
    node_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'technician', 'viewer')),
    PRIMARY KEY (user_id, node_type, node_id)
);

-- Refresh tokens (rotating, grouped in families) and long-lived API tokens; only hashes are kept.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id TEXT REFERENCES tenants(id),
    kind TEXT NOT NULL CHECK (kind IN ('refresh', 'api')),
    family_id TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT,
    scopes TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    expires_at TEXT,
    last_used_at TEXT,
    revoked_at TEXT,
    replaced_by TEXT,
    source_ip TEXT,
    user_agent TEXT
);
CREATE INDEX tokens_user ON tokens (user_id, kind);
CREATE INDEX tokens_family ON tokens (family_id);

-- Alerts: one row per alert over its whole life (raised -> acknowledged -> cleared).
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    battery_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state TEXT NOT NULL CHECK (state IN ('raised', 'acknowledged', 'cleared')),
    metric TEXT,
    value REAL,
    threshold REAL,
    message TEXT NOT NULL DEFAULT '{}',
    details TEXT NOT NULL DEFAULT '{}',
    raised_at TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    comment TEXT,
    cleared_at TEXT
);
-- One open alert per rule and battery: the database refuses a duplicate.
CREATE UNIQUE INDEX alerts_one_open ON alerts (tenant_id, rule_id, battery_id) WHERE state != 'cleared';
CREATE INDEX alerts_tenant_raised ON alerts (tenant_id, raised_at);

CREATE TABLE alert_events (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, id);

-- Rules created through the API (rules from config/alerts/*.yaml stay in their files).
CREATE TABLE alert_rules (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Deliveries a notifier must not lose across restarts or while its endpoint is down.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    delivered_at TEXT,
    UNIQUE (tenant_id, channel, key)
);
CREATE INDEX outbox_pending ON outbox (tenant_id, channel, delivered_at, id);
