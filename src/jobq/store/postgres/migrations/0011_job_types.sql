-- jobq schema 11: the job types each worker process runs, as it published them at its start
-- (domain/published.py): the payload and result schemas and the options, so that a process
-- without the handlers' code (an API process) checks payloads against them. A row per type and
-- process; a process's rows go when it stops or is forgotten. Additive: processes of schema 10
-- keep running against it (they publish nothing; their types are not checked elsewhere).
CREATE TABLE job_types (
    name           text NOT NULL,
    process        text NOT NULL,    -- processes.id
    payload_digest text,             -- NULL: the type takes any JSON object
    spec           json NOT NULL,    -- payload_schema, result_schema, options (json: in order)
    published_at   timestamptz NOT NULL,
    PRIMARY KEY (name, process)
);
CREATE INDEX job_types_process ON job_types (process);
