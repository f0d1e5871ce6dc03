-- Per-battery state that processors keep across restarts (energy counters, coulomb-counted SOC).
CREATE TABLE battery_state (
    tenant_id text NOT NULL REFERENCES tenants(id) DEFERRABLE,
    battery_id text NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, battery_id, key)
);
