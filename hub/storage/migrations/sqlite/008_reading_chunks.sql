-- Closed hours of raw readings, compacted: one row per battery and hour holding every reading of
-- that hour delta-encoded and zlib'd (hub/storage/chunks.py). Recent readings stay one row each in
-- readings until the compactor folds them in; readers merge both (a row wins over its chunk).
-- A rowid table: WITHOUT ROWID suits small rows, not blobs of several kilobytes.
CREATE TABLE reading_chunks (
    id INTEGER PRIMARY KEY,
    battery_pk INTEGER NOT NULL REFERENCES batteries(pk),
    start_ts INTEGER NOT NULL,   -- start of the hour (ms since the epoch)
    first_ts INTEGER NOT NULL,   -- oldest and newest reading in the chunk
    last_ts INTEGER NOT NULL,
    n INTEGER NOT NULL,          -- readings in the chunk
    data BLOB NOT NULL,
    UNIQUE (battery_pk, start_ts)
);
