-- Rollups (DESIGN §7): 5-minute, hourly, daily and monthly statistics of every battery.
--
-- One table for all four classes, told apart by `class`, rather than a table per class: every
-- class has the same columns, so one upsert, one reader, one rebuild and one pruner serve them
-- all, and adding a class needs no migration. The primary key (battery_pk, class, bucket_start)
-- of a WITHOUT ROWID table keeps one battery's buckets of one class in one contiguous key range,
-- so a range read costs what it would cost in a table of its own. Rows (~400 bytes) stay well
-- below the size where WITHOUT ROWID would spill to overflow pages.
--
-- bucket_start: UTC bucket boundary, ms since the epoch (months start on the 1st, 00:00 UTC).
-- n: readings in the bucket; last_ts: the newest of them (its values are the *_last columns).
-- Per metric: min, max, sum and count (mean = sum / count, count only readings having the value)
-- and last. Units: V, A, W, %, V, V, V, °C. charged_wh / discharged_wh: energy that flowed in the
-- bucket (trapezoid of power between consecutive readings at most 300 s apart, split at bucket
-- boundaries), both >= 0.
CREATE TABLE rollups (
    battery_pk INTEGER NOT NULL REFERENCES batteries(pk),
    class TEXT NOT NULL CHECK (class IN ('5m', '1h', '1d', '1mo')),
    bucket_start INTEGER NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    last_ts INTEGER,
    charged_wh REAL NOT NULL DEFAULT 0,
    discharged_wh REAL NOT NULL DEFAULT 0,
    voltage_min REAL, voltage_max REAL, voltage_sum REAL NOT NULL DEFAULT 0, voltage_count INTEGER NOT NULL DEFAULT 0, voltage_last REAL,
    current_min REAL, current_max REAL, current_sum REAL NOT NULL DEFAULT 0, current_count INTEGER NOT NULL DEFAULT 0, current_last REAL,
    power_min REAL, power_max REAL, power_sum REAL NOT NULL DEFAULT 0, power_count INTEGER NOT NULL DEFAULT 0, power_last REAL,
    soc_min REAL, soc_max REAL, soc_sum REAL NOT NULL DEFAULT 0, soc_count INTEGER NOT NULL DEFAULT 0, soc_last REAL,
    cell_min_min REAL, cell_min_max REAL, cell_min_sum REAL NOT NULL DEFAULT 0, cell_min_count INTEGER NOT NULL DEFAULT 0, cell_min_last REAL,
    cell_max_min REAL, cell_max_max REAL, cell_max_sum REAL NOT NULL DEFAULT 0, cell_max_count INTEGER NOT NULL DEFAULT 0, cell_max_last REAL,
    cell_delta_min REAL, cell_delta_max REAL, cell_delta_sum REAL NOT NULL DEFAULT 0, cell_delta_count INTEGER NOT NULL DEFAULT 0, cell_delta_last REAL,
    temperature_max_min REAL, temperature_max_max REAL, temperature_max_sum REAL NOT NULL DEFAULT 0, temperature_max_count INTEGER NOT NULL DEFAULT 0, temperature_max_last REAL,
    PRIMARY KEY (battery_pk, class, bucket_start)
) WITHOUT ROWID;
