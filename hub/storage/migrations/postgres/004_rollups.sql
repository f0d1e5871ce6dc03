-- Rollups (DESIGN §7): 5-minute, hourly, daily and monthly statistics of every battery.
--
-- One table for all four classes, told apart by `class` (see migrations/sqlite/004_rollups.sql for
-- why). The primary key (battery_pk, class, bucket_start) keeps a battery's buckets of one class in
-- one index range. Not partitioned: a few hundred thousand buckets per battery over years at most.
--
-- bucket_start: UTC bucket boundary, ms since the epoch (months start on the 1st, 00:00 UTC).
-- n: readings in the bucket; last_ts: the newest of them (its values are the *_last columns).
-- Per metric: min, max, sum and count (mean = sum / count, count only readings having the value)
-- and last. Units: V, A, W, %, V, V, V, °C. charged_wh / discharged_wh: energy that flowed in the
-- bucket (trapezoid of power between consecutive readings at most 300 s apart, split at bucket
-- boundaries), both >= 0.
CREATE TABLE rollups (
    battery_pk integer NOT NULL REFERENCES batteries(pk) DEFERRABLE,
    class text NOT NULL CHECK (class IN ('5m', '1h', '1d', '1mo')),
    bucket_start bigint NOT NULL,
    n integer NOT NULL DEFAULT 0,
    last_ts bigint,
    charged_wh double precision NOT NULL DEFAULT 0,
    discharged_wh double precision NOT NULL DEFAULT 0,
    voltage_min double precision, voltage_max double precision, voltage_sum double precision NOT NULL DEFAULT 0, voltage_count integer NOT NULL DEFAULT 0, voltage_last double precision,
    current_min double precision, current_max double precision, current_sum double precision NOT NULL DEFAULT 0, current_count integer NOT NULL DEFAULT 0, current_last double precision,
    power_min double precision, power_max double precision, power_sum double precision NOT NULL DEFAULT 0, power_count integer NOT NULL DEFAULT 0, power_last double precision,
    soc_min double precision, soc_max double precision, soc_sum double precision NOT NULL DEFAULT 0, soc_count integer NOT NULL DEFAULT 0, soc_last double precision,
    cell_min_min double precision, cell_min_max double precision, cell_min_sum double precision NOT NULL DEFAULT 0, cell_min_count integer NOT NULL DEFAULT 0, cell_min_last double precision,
    cell_max_min double precision, cell_max_max double precision, cell_max_sum double precision NOT NULL DEFAULT 0, cell_max_count integer NOT NULL DEFAULT 0, cell_max_last double precision,
    cell_delta_min double precision, cell_delta_max double precision, cell_delta_sum double precision NOT NULL DEFAULT 0, cell_delta_count integer NOT NULL DEFAULT 0, cell_delta_last double precision,
    temperature_max_min double precision, temperature_max_max double precision, temperature_max_sum double precision NOT NULL DEFAULT 0, temperature_max_count integer NOT NULL DEFAULT 0, temperature_max_last double precision,
    PRIMARY KEY (battery_pk, class, bucket_start)
);
