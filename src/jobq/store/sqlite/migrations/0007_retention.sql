-- jobq schema 7: retention. Finished jobs are deleted (with their attempts) once their state's
-- retention has passed. Additive: processes of schema 6 keep running against it (they prune
-- nothing).

-- The pruner walks the finished jobs of one state and type, oldest first. Only finished jobs
-- have a finished_at; a query must say `finished_at IS NOT NULL` for SQLite to use the index.
CREATE INDEX jobs_finished ON jobs (status, type, finished_at) WHERE finished_at IS NOT NULL;

-- A job type's own retention, declared in code (@jq.job(retain=...)) and written here by each
-- process that starts with a handler for the type, so that every process prunes it alike.
CREATE TABLE type_retention (
    type    TEXT NOT NULL,
    status  TEXT NOT NULL CHECK (status IN ('succeeded', 'cancelled', 'dead')),
    seconds REAL,                          -- NULL: forever
    PRIMARY KEY (type, status)
) STRICT;
