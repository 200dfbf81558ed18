-- jobq schema 5: periodic jobs. Additive: processes of schema 4 keep running against it.

-- Per schedule, the latest tick dealt with: a process makes a tick's job only in the
-- transaction that moves this row forward to that tick, so each tick makes one job however
-- many processes keep the schedule; and whether the schedule is paused (then none moves it).
CREATE TABLE schedule_ticks (
    schedule TEXT PRIMARY KEY,
    tick     INTEGER NOT NULL,             -- µs since the epoch, UTC
    job_id   TEXT,                         -- the tick's job; NULL: no tick made one yet
    fired_at INTEGER,                      -- when it was made
    paused   INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1))
) STRICT;

-- Schedules made at run time (API, CLI, dashboard); those declared in code are not here.
CREATE TABLE schedules (
    name       TEXT PRIMARY KEY,
    job_type   TEXT NOT NULL,
    cron       TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    payload    TEXT NOT NULL,              -- a JSON object
    queue      TEXT NOT NULL,
    priority   INTEGER NOT NULL,
    missed     TEXT NOT NULL,
    catch_up   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
