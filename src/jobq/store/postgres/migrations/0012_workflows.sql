-- jobq schema 12: jobs that wait for other jobs (depends_on, workflows). A job that depends on
-- others is 'waiting' until each has succeeded; job_edges holds who waits for whom. A job that
-- others wait for is marked (has_children), and when it ends (succeeded, dead, cancelled) the
-- trigger below settles what waits for it in the same transaction: a waiting job whose last
-- parent succeeded becomes pending; one whose parent failed is cancelled, and so on down (one
-- recursive statement, however deep), or, with on_dependency_failure 'run', waits for one
-- fewer. Parents that end at once in different transactions take turns on the child's row (its
-- row lock), so exactly one of them releases it. Additive: processes of schema 11 keep running
-- against it (the trigger settles their jobs too).
ALTER TABLE jobs ADD COLUMN workflow_id text;            -- the workflow it belongs to, if any
ALTER TABLE jobs ADD COLUMN parents integer NOT NULL DEFAULT 0;   -- jobs it depends on
ALTER TABLE jobs ADD COLUMN waiting_on integer NOT NULL DEFAULT 0; -- of those, not yet ended
ALTER TABLE jobs ADD COLUMN on_dependency_failure text;  -- 'cancel' (NULL) or 'run'
ALTER TABLE jobs ADD COLUMN has_children boolean NOT NULL DEFAULT false;

CREATE TABLE job_edges (
    parent uuid NOT NULL,
    child  uuid NOT NULL,
    PRIMARY KEY (parent, child)
);
CREATE INDEX job_edges_child ON job_edges (child);
CREATE INDEX jobs_workflow ON jobs (workflow_id) WHERE workflow_id IS NOT NULL;

CREATE TABLE workflows (
    id         text PRIMARY KEY,
    name       text,
    created_at timestamptz NOT NULL
);

-- The functions name no schema: they run with the search_path of this migration.

-- The NOTIFY channel of this schema's pools (tables.py, channel_of)
CREATE FUNCTION jobs_channel() RETURNS text LANGUAGE sql STABLE
SET search_path FROM CURRENT AS $$
    SELECT CASE WHEN octet_length('jobq:' || current_schema()) <= 63
                THEN 'jobq:' || current_schema()
                ELSE 'jobq:' || left(encode(sha256(convert_to(current_schema(), 'UTF8')), 'hex'), 32)
           END
$$;

CREATE FUNCTION jobs_parent_ended() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    woken integer;
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL;  -- a job this trigger's own statement ended: that statement did it all
    END IF;
    IF NEW.status = 'succeeded' THEN
        WITH released AS (
            UPDATE jobs c SET
                waiting_on = c.waiting_on - 1,
                status = CASE WHEN c.waiting_on = 1 THEN 'pending' ELSE c.status END,
                run_at = CASE WHEN c.waiting_on = 1 THEN greatest(c.run_at, NEW.finished_at)
                              ELSE c.run_at END
            FROM job_edges e
            WHERE e.parent = NEW.id AND c.id = e.child AND c.status = 'waiting'
            RETURNING c.queue, c.status
        )
        SELECT count(pg_notify(jobs_channel(), q.queue)) INTO woken
        FROM (SELECT DISTINCT queue FROM released WHERE status = 'pending') q;
        RETURN NULL;
    END IF;
    -- dead or cancelled: every waiting job below it through jobs that cancel on a failed
    -- dependency is cancelled; those that run anyway wait for one fewer
    WITH RECURSIVE doomed (id) AS (
        SELECT NEW.id
        UNION
        SELECT e.child FROM job_edges e
        JOIN doomed d ON e.parent = d.id
        JOIN jobs c ON c.id = e.child
        WHERE c.status = 'waiting' AND c.on_dependency_failure IS DISTINCT FROM 'run'
    ), cancelled AS (
        UPDATE jobs c SET status = 'cancelled', dead_reason = 'dependency_failed',
            finished_at = coalesce(NEW.finished_at, now()),
            last_error = json_build_object(
                'type', 'DependencyFailed',
                'message', 'job ' || NEW.id::text || ', which it depends on (or a job it waits for '
                    || 'through others), ended ' || NEW.status)
        FROM doomed d
        WHERE c.id = d.id AND d.id <> NEW.id AND c.status = 'waiting'
        RETURNING c.id
    ), ended AS (
        SELECT NEW.id AS id UNION ALL SELECT id FROM cancelled
    ), counts AS (
        SELECT e.child, count(*) AS n FROM job_edges e JOIN ended x ON x.id = e.parent
        GROUP BY e.child
    ), released AS (
        UPDATE jobs r SET
            waiting_on = r.waiting_on - k.n,
            status = CASE WHEN r.waiting_on - k.n <= 0 THEN 'pending' ELSE r.status END,
            run_at = CASE WHEN r.waiting_on - k.n <= 0
                          THEN greatest(r.run_at, coalesce(NEW.finished_at, now()))
                          ELSE r.run_at END
        FROM counts k
        WHERE r.id = k.child AND r.status = 'waiting' AND r.on_dependency_failure = 'run'
        RETURNING r.queue, r.status
    )
    SELECT count(pg_notify(jobs_channel(), q.queue)) INTO woken
    FROM (SELECT DISTINCT queue FROM released WHERE status = 'pending') q;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_parent_ended AFTER UPDATE OF status ON jobs
FOR EACH ROW WHEN (NEW.has_children AND NEW.status IN ('succeeded', 'dead', 'cancelled')
                   AND OLD.status NOT IN ('succeeded', 'dead', 'cancelled'))
EXECUTE FUNCTION jobs_parent_ended();
