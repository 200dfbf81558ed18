-- jobq schema 7: retention. Finished jobs are deleted (with their attempts) once their state's
-- retention has passed. Additive: processes of schema 6 keep running against it (they prune
-- nothing). The index is built in this migration's transaction: on a large jobs table, writes
-- wait for it (docs/deployment.md, "Upgrading").

-- The pruner walks the finished jobs of one state and type, oldest first. Only finished jobs
-- have a finished_at.
CREATE INDEX jobs_finished ON jobs (status, type, finished_at) WHERE finished_at IS NOT NULL;

-- A job type's own retention, declared in code (@jq.job(retain=...)) and written here by each
-- process that starts with a handler for the type, so that every process prunes it alike.
CREATE TABLE type_retention (
    type    text NOT NULL,
    status  text NOT NULL CHECK (status IN ('succeeded', 'cancelled', 'dead')),
    seconds float8,                        -- NULL: forever
    PRIMARY KEY (type, status)
);
