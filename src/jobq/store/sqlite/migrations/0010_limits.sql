-- jobq schema 10: limits. A row per scope (a job type or a queue) and origin (declared in code,
-- or set at run time; the setting wins, domain/limits.py): how many of its jobs may run at
-- once, and how many may start per period, each optionally counted per value of a payload
-- field. The claims read them under their write lock (store/limits.py). Additive: processes of
-- schema 9 keep running against it, but their claims do not see the limits.
CREATE TABLE limits (
    scope          TEXT NOT NULL CHECK (scope IN ('type', 'queue')),
    name           TEXT NOT NULL,
    origin         TEXT NOT NULL CHECK (origin IN ('code', 'set')),
    concurrency    INTEGER,          -- NULL: no concurrency limit
    concurrency_by TEXT,             -- a payload field: counted per value
    rate           INTEGER,          -- NULL: no rate
    rate_per       REAL,             -- seconds
    rate_by        TEXT,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (scope, name, origin)
) STRICT;

-- Starts counted against a rate: one row per scope and partition ('' when the rate is not
-- partitioned), for the window that ends at window_end; rows of windows past are deleted by
-- the claims that read them.
CREATE TABLE limit_starts (
    scope      TEXT NOT NULL,
    name       TEXT NOT NULL,
    part       TEXT NOT NULL,
    window_end INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (scope, name, part)
) STRICT;
CREATE INDEX limit_starts_window_end ON limit_starts (window_end);
