-- Tenants own batteries; every query goes through a tenant scope (DESIGN §5).
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
INSERT INTO tenants (id, name, created_at) VALUES ('default', 'Default', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

CREATE TABLE batteries (
    pk INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    driver TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);

-- One row per reading; cells and temperatures are packed scaled integers (DESIGN §7).
-- Scales: voltage 10 mV, current 10 mA, power 0.1 W, soc/soh 0.1 %, capacity mAh,
-- cells uint16 mV, temperatures int16 0.1 °C + kind byte. ts is milliseconds since the epoch.
CREATE TABLE readings (
    battery_pk INTEGER NOT NULL REFERENCES batteries(pk),
    ts INTEGER NOT NULL,
    voltage INTEGER,
    current INTEGER,
    power INTEGER,
    soc INTEGER,
    soh INTEGER,
    flags INTEGER,
    cycles INTEGER,
    remaining_mah INTEGER,
    rated_mah INTEGER,
    cells BLOB,
    temps BLOB,
    balancing BLOB,
    alarms TEXT,
    PRIMARY KEY (battery_pk, ts)
) WITHOUT ROWID;
