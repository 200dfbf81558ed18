-- jobq schema 10: limits. A row per scope (a job type or a queue) and origin (declared in code,
-- or set at run time; the setting wins, domain/limits.py): how many of its jobs may run at
-- once, and how many may start per period, each optionally counted per value of a payload
-- field. A claim that a limit applies to locks its rows (FOR UPDATE), so the claims of a
-- limited scope take turns across the fleet (store/limits.py). Additive: processes of schema
-- 9 keep running against it, but their claims do not see the limits.
CREATE TABLE limits (
    scope          text NOT NULL CHECK (scope IN ('type', 'queue')),
    name           text NOT NULL,
    origin         text NOT NULL CHECK (origin IN ('code', 'set')),
    concurrency    integer,          -- NULL: no concurrency limit
    concurrency_by text,             -- a payload field: counted per value
    rate           integer,          -- NULL: no rate
    rate_per       float8,           -- seconds
    rate_by        text,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (scope, name, origin)
);

-- Starts counted against a rate: one row per scope and partition ('' when the rate is not
-- partitioned), for the window that ends at window_end; rows of windows past are deleted by
-- the claims that read them.
CREATE TABLE limit_starts (
    scope      text NOT NULL,
    name       text NOT NULL,
    part       text NOT NULL,
    window_end timestamptz NOT NULL,
    n          integer NOT NULL,
    PRIMARY KEY (scope, name, part)
);
CREATE INDEX limit_starts_window_end ON limit_starts (window_end);
