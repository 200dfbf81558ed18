"""Fragments of SQL that several of the PostgreSQL store's statements share, built from the
state machine (``domain/states.py``) so the SQL and the rules it enforces cannot drift apart."""

from __future__ import annotations

from jobq.domain.states import Event, JobState, target

RUNNING = JobState.RUNNING.value
# The injected clock's time, or the server's when the store has no clock.
NOW = "COALESCE(%(now)s::timestamptz, now())"
# The fence: a write after a claim changes the row only for the lease that owns it.
FENCE = (
    f"id = %(job_id)s AND worker_id = %(owner)s AND attempt = %(attempt)s AND status = '{RUNNING}'"
)
# The lease triples arrive as three arrays: one statement however many jobs there are.
LEASES = (
    "(id, worker_id, attempt) IN "
    "(SELECT * FROM unnest(%(ids)s::uuid[], %(owners)s::text[], %(attempts)s::int[]))"
)
# Back to pending without using the attempt (a hand-back at shutdown).
RELEASE_SET = f"""
    SET status = '{target(Event.RELEASE).value}', attempt = attempt - 1,
        worker_id = NULL, lease_expires_at = NULL, started_at = NULL"""


def locked_leases(jobs: str) -> str:
    """A CTE ``locked`` of the running jobs of the given leases, locked in id order, as every
    statement that changes several jobs locks them: two such statements cannot deadlock."""
    return f"""locked AS (
        SELECT id FROM {jobs} WHERE status = '{RUNNING}' AND {LEASES}
        ORDER BY id FOR UPDATE
    )"""


def record_attempt(attempts: str) -> str:
    """Insert the attempt's record for the job a ``changed`` CTE updated (none if it matched
    nothing: the lease was lost)."""
    return f"""
        INSERT INTO {attempts} (job_id, attempt, worker_id, started_at, finished_at, outcome,
                                error)
        SELECT id, %(attempt)s, %(slot)s, %(started_at)s, {NOW}, %(outcome)s, %(error)s::json
        FROM changed"""
