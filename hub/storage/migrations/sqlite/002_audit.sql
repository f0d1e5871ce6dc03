-- Every control write (MOSFET, SOC, restart, config change) is audited (DESIGN §5).
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    source_ip TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    request TEXT,
    result TEXT NOT NULL,
    details TEXT
);
CREATE INDEX audit_log_tenant_ts ON audit_log (tenant_id, ts);
