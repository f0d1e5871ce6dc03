-- Per-battery state that processors keep across restarts (energy counters, coulomb-counted SOC).
CREATE TABLE battery_state (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    battery_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, battery_id, key)
);
