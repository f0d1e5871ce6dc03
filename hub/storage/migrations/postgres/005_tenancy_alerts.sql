-- The tenancy tree (DESIGN §5): tenant -> clients (nested to any depth) -> sites -> batteries,
-- with users, their role grants and their tokens; alerts, alert rules and the notifier outbox.
-- Every row carries its tenant_id so every query can be scoped to one tenant.
-- As migrations/sqlite/005_tenancy_alerts.sql, with PostgreSQL types: timestamptz for times,
-- boolean for flags, JSON kept as text (as SQLite keeps it), and the batteries -> sites foreign
-- key that SQLite cannot add to an existing table.

-- custom: JSON object of the tenant's custom field values (validated on write by the API).
CREATE TABLE clients (
    tenant_id text NOT NULL REFERENCES tenants(id) DEFERRABLE,
    id text NOT NULL,
    parent_id text,
    name text NOT NULL,
    custom text NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES clients (tenant_id, id) DEFERRABLE
);
CREATE INDEX clients_parent ON clients (tenant_id, parent_id);

CREATE TABLE sites (
    tenant_id text NOT NULL REFERENCES tenants(id) DEFERRABLE,
    id text NOT NULL,
    client_id text,
    name text NOT NULL,
    timezone text,
    custom text NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) DEFERRABLE
);
CREATE INDEX sites_client ON sites (tenant_id, client_id);

ALTER TABLE batteries ADD COLUMN site_id text;
ALTER TABLE batteries ADD COLUMN custom text NOT NULL DEFAULT '{}';
ALTER TABLE batteries ADD FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id) DEFERRABLE;
CREATE INDEX batteries_site ON batteries (tenant_id, site_id);

-- Custom fields a tenant defines on clients, sites and batteries.
CREATE TABLE custom_fields (
    tenant_id text NOT NULL REFERENCES tenants(id) DEFERRABLE,
    entity text NOT NULL CHECK (entity IN ('client', 'site', 'battery')),
    name text NOT NULL,
    label text NOT NULL,
    type text NOT NULL CHECK (type IN ('text', 'number', 'date', 'choice')),
    required boolean NOT NULL DEFAULT false,
    choices text,
    PRIMARY KEY (tenant_id, entity, name)
);

-- tenant_id is NULL only for system administrators, who stand above tenants.
CREATE TABLE users (
    id text PRIMARY KEY,
    tenant_id text REFERENCES tenants(id) DEFERRABLE,
    username text NOT NULL UNIQUE,
    password_hash text,
    display_name text,
    email text,
    locale text NOT NULL DEFAULT 'en',
    system_admin boolean NOT NULL DEFAULT false,
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX users_tenant ON users (tenant_id);

-- A role on a node of the tree, inherited below it (node_type tenant: node_id is the tenant id).
CREATE TABLE role_grants (
    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE DEFERRABLE,
    tenant_id text NOT NULL REFERENCES tenants(id) DEFERRABLE,
    node_type text NOT NULL CHECK (node_type IN ('tenant', 'client', 'site')),
    node_id text NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'technician', 'viewer')),
    PRIMARY KEY (user_id, node_type, node_id)
);

-- Refresh tokens (rotating, grouped in families) and long-lived API tokens; only hashes are kept.
CREATE TABLE tokens (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE DEFERRABLE,
    tenant_id text REFERENCES tenants(id) DEFERRABLE,
    kind text NOT NULL CHECK (kind IN ('refresh', 'api')),
    family_id text,
    token_hash text NOT NULL UNIQUE,
    name text,
    scopes text NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz,
    replaced_by text,
    source_ip text,
    user_agent text
);
CREATE INDEX tokens_user ON tokens (user_id, kind);
CREATE INDEX tokens_family ON tokens (family_id);

-- Alerts: one row per alert over its whole life (raised -> acknowledged -> cleared).
CREATE TABLE alerts (
    id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants(id) DEFERRABLE,
    battery_id text NOT NULL,
    rule_id text NOT NULL,
    kind text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state text NOT NULL CHECK (state IN ('raised', 'acknowledged', 'cleared')),
    metric text,
    value double precision,
    threshold double precision,
    message text NOT NULL DEFAULT '{}',
    details text NOT NULL DEFAULT '{}',
    raised_at timestamptz NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    comment text,
    cleared_at timestamptz
);
-- One open alert per rule and battery: the database refuses a duplicate.
CREATE UNIQUE INDEX alerts_one_open ON alerts (tenant_id, rule_id, battery_id) WHERE state <> 'cleared';
CREATE INDEX alerts_tenant_raised ON alerts (tenant_id, raised_at);

CREATE TABLE alert_events (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    alert_id text NOT NULL REFERENCES alerts(id) ON DELETE CASCADE DEFERRABLE,
    ts timestamptz NOT NULL,
    kind text NOT NULL,
    details text NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, id);

-- Rules created through the API (rules from config/alerts/*.yaml stay in their files).
CREATE TABLE alert_rules (
    tenant_id text NOT NULL REFERENCES tenants(id) DEFERRABLE,
    id text NOT NULL,
    definition text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Deliveries a notifier must not lose across restarts or while its endpoint is down.
CREATE TABLE outbox (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants(id) DEFERRABLE,
    channel text NOT NULL,
    key text NOT NULL,
    payload text NOT NULL,
    created_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error text,
    delivered_at timestamptz,
    UNIQUE (tenant_id, channel, key)
);
CREATE INDEX outbox_pending ON outbox (tenant_id, channel, delivered_at, id);
