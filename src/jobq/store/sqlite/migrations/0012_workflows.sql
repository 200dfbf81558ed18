-- jobq schema 12: jobs that wait for other jobs (depends_on, workflows). A job that depends on
-- others is 'waiting' until each has succeeded; job_edges holds who waits for whom. A job that
-- others wait for is marked (has_children), and when it ends (succeeded, dead, cancelled) this
-- trigger notes it in ended_parents; before the transaction that ended it commits, the store
-- settles what waits for it (store/sqlite/dependencies.py): a waiting job whose last parent
-- succeeded becomes pending, one whose parent failed is cancelled (and so on down), all in that
-- transaction. A note left by a process of schema 11 (no settling) is settled by the next one.
-- Additive: processes of schema 11 keep running against it; they never settle.
ALTER TABLE jobs ADD COLUMN workflow_id TEXT;           -- the workflow it belongs to, if any
ALTER TABLE jobs ADD COLUMN parents INTEGER NOT NULL DEFAULT 0;   -- jobs it depends on
ALTER TABLE jobs ADD COLUMN waiting_on INTEGER NOT NULL DEFAULT 0; -- of those, not yet ended
ALTER TABLE jobs ADD COLUMN on_dependency_failure TEXT; -- 'cancel' (NULL) or 'run'
ALTER TABLE jobs ADD COLUMN has_children INTEGER NOT NULL DEFAULT 0;

CREATE TABLE job_edges (
    parent TEXT NOT NULL,
    child  TEXT NOT NULL,
    PRIMARY KEY (parent, child)
) STRICT;
CREATE INDEX job_edges_child ON job_edges (child);
CREATE INDEX jobs_workflow ON jobs (workflow_id) WHERE workflow_id IS NOT NULL;

CREATE TABLE workflows (
    id         TEXT PRIMARY KEY,
    name       TEXT,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE ended_parents (
    id     TEXT NOT NULL,
    status TEXT NOT NULL
) STRICT;

CREATE TRIGGER jobs_parent_ended AFTER UPDATE OF status ON jobs
WHEN NEW.has_children AND NEW.status IN ('succeeded', 'dead', 'cancelled')
    AND OLD.status NOT IN ('succeeded', 'dead', 'cancelled')
BEGIN
    INSERT INTO ended_parents (id, status) VALUES (NEW.id, NEW.status);
END;
