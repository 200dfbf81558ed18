-- jobq schema 5: periodic jobs. Additive: processes of schema 4 keep running against it.

-- Per schedule, the latest tick dealt with: a process makes a tick's job only in the
-- transaction that moves this row forward to that tick, so each tick makes one job however
-- many processes keep the schedule; and whether the schedule is paused (then none moves it).
CREATE TABLE schedule_ticks (
    schedule text PRIMARY KEY,
    tick     timestamptz NOT NULL,
    job_id   uuid,                         -- the tick's job; NULL: no tick made one yet
    fired_at timestamptz,                  -- when it was made
    paused   boolean NOT NULL DEFAULT false
);

-- Schedules made at run time (API, CLI, dashboard); those declared in code are not here.
CREATE TABLE schedules (
    name       text PRIMARY KEY,
    job_type   text NOT NULL,
    cron       text NOT NULL,
    timezone   text NOT NULL,
    payload    json NOT NULL,
    queue      text NOT NULL,
    priority   smallint NOT NULL,
    missed     text NOT NULL,
    catch_up   int NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
