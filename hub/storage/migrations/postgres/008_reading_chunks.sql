-- Closed hours of raw readings, compacted: one row per battery and hour holding every reading of
-- that hour delta-encoded and zlib'd (hub/storage/chunks.py). Recent readings stay one row each in
-- readings until the compactor folds them in; readers merge both (a row wins over its chunk).
CREATE TABLE reading_chunks (
    battery_pk integer NOT NULL REFERENCES batteries(pk) DEFERRABLE,
    start_ts bigint NOT NULL,   -- start of the hour (ms since the epoch)
    first_ts bigint NOT NULL,   -- oldest and newest reading in the chunk
    last_ts bigint NOT NULL,
    n integer NOT NULL,         -- readings in the chunk
    data bytea NOT NULL,
    PRIMARY KEY (battery_pk, start_ts)
);
-- Already compressed: TOAST may move it out of line but must not try to compress it again.
ALTER TABLE reading_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
