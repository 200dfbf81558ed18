"""Store contract, model-based: hypothesis drives a real store (a fresh SQLite file, or a fresh
PostgreSQL schema, per example) on a ``FakeClock`` through random sequences of what clients,
workers, reapers and operators do, and after every step compares the whole store with a small
in-memory model: the ``Job`` record each job should have and the attempts it should show.

The model is written from the documented semantics (``store/base.py``, ``domain/states.py``,
``docs/architecture.md``, ``docs/api.md``), never from the stores' SQL, and keeps its own state
sets so a change to ``domain/states.py`` cannot make model and store agree on a wrong rule:

- a write after a claim changes a job only while its lease token (job id, owner, attempt) is
  the job's and the job is running; a lease past its expiry that no reaper has requeued yet
  still holds (the fence is the token, the reaper is what takes a job away);
- ``fail`` with a retry time leaves the job ``failed``, claimable from that time; without one
  it is ``dead`` (``attempts_exhausted`` unless another reason is given);
- ``cancel`` takes a pending or failed job; ``retry`` takes a dead or cancelled one and gives
  it at least one attempt left; anything else is ``IllegalTransition`` naming the state;
- ``release``/``release_unstarted`` give the attempt back; only ``release`` records it
  (``interrupted``);
- ``requeue_expired`` takes running jobs whose lease ended strictly before now: pending and due
  at once, or ``dead``/``worker_lost`` on the last attempt; the attempt is recorded ``lost``.

Workers decide as ``worker/runner.py`` does: a retryable failure with attempts left is retried
after the job's backoff, any other failure is dead. Besides single calls, composite rules play
the stories that matter most: leases expire and another pool, or the same one, claims the jobs
again while a stalled handler writes under its lost lease; a pool crashes (its leases are never
extended again, and the store is closed and reopened on the same database); the reaper runs at
the very microsecond a lease ends. After every step the invariants read the whole store back:
every job and every attempt as the model says, the counts, one lease per running job, crashed
pools' leases never extended, and terminal states left only through ``retry``.

``JOBQ_TEST_TIER=full`` runs more and longer examples.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import tempfile
from collections import Counter
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from jobq.clock import FakeClock
from jobq.domain.errors import IdempotencyConflict, IllegalTransition, JobNotFound
from jobq.domain.ids import JobId, WorkerId
from jobq.domain.job import (
    WORKER_LOST_ERROR,
    Attempt,
    Backoff,
    DeadReason,
    ErrorInfo,
    Job,
    Lease,
    NewJob,
    Outcome,
)
from jobq.domain.retry import backoff_delay
from jobq.domain.states import JobState
from jobq.store import ClaimRequest, Expired, JobFilter, PostgresOptions, Store, open_store
from tests.conftest import BACKENDS, postgres_dsn, with_schema
from tests.contract.support import complete, fail

T = TypeVar("T")

PENDING, RUNNING, SUCCEEDED, FAILED, DEAD, CANCELLED = (
    JobState.PENDING,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.FAILED,
    JobState.DEAD,
    JobState.CANCELLED,
)
# The model's own copy of the rules (see the module docstring), not domain/states.py's.
CLAIMABLE = frozenset({PENDING, FAILED})
CANCELLABLE = frozenset({PENDING, FAILED, RUNNING})
RETRYABLE = frozenset({DEAD, CANCELLED})
CANCELLED_RUN = Outcome.CANCELLED
TERMINAL = frozenset({SUCCEEDED, DEAD, CANCELLED})

FULL = os.environ.get("JOBQ_TEST_TIER") == "full"
MAX_JOBS = 10
WORKERS = 3  # alive at any time; a crashed one is replaced by a new id
QUEUES = ("default", "mail")
TYPES = ("echo", "mail.send")
LEASE_SECONDS = (10, 30)
MAX_LEASE = max(LEASE_SECONDS)
#: the backoff a worker uses for a job that names none (a type's default, without jitter)
TYPE_BACKOFF = Backoff(base_seconds=2.0, max_seconds=60.0, jitter=False)
BACKOFFS = (None, Backoff(base_seconds=1.0, max_seconds=8.0, jitter=False), Backoff(jitter=True))
UNKNOWN = JobId("01900000-0000-7000-8000-000000000000")

picks = st.integers(min_value=0, max_value=10_000)  # an index into a list, taken modulo its size
progresses = st.sampled_from([None, None, 0.0, 0.5, 1.0])  # what a handler reports, if anything
#: how a handler that lost its lease ends: complete, fail (retryable or not), release, or its
#: pool hands it back unstarted
stale_writes = st.sampled_from(["complete", "fail", "fail_dead", "release", "unstarted"])


@dataclass(frozen=True, slots=True)
class Spec:
    """One job of an enqueue, as drawn: ``delay`` None means no run_at (due at once)."""

    type: str
    queue: str
    priority: int
    delay: int | None
    max_attempts: int
    key: str | None
    n: int
    backoff: Backoff | None


specs = st.builds(
    Spec,
    type=st.sampled_from(TYPES),
    queue=st.sampled_from(QUEUES),
    priority=st.sampled_from([-5, 0, 0, 3]),
    delay=st.sampled_from([None, None, -5, 0, 5, 60]),
    max_attempts=st.integers(1, 4),
    key=st.sampled_from([None, None, None, "k1", "k2"]),
    n=st.integers(0, 1),
    backoff=st.sampled_from(BACKOFFS),
)


@dataclass
class Worker:
    """A worker pool: the leases it believes it holds (some may be lost without its knowing)."""

    id: WorkerId
    held: list[Lease] = field(default_factory=list)
    crashed_at: datetime | None = None

    @property
    def slot(self) -> WorkerId:
        return WorkerId(f"{self.id}/w1")  # the worker inside the pool that runs the handler


class Backend(Protocol):
    url: str

    def cleanup(self) -> None: ...


class SQLiteBackend:
    """A fresh file in a directory of its own."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="jobq-model-")
        self.url = f"sqlite:///{self.directory}/jobq.db"

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class PostgresBackend:
    """A fresh schema, dropped afterwards. (Truncating one schema between examples saves about
    20 ms of the 50 a fresh schema costs: not worth sharing state between examples.)"""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.dsn = dsn
        self.schema = f"jobq_model_{secrets.token_hex(6)}"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        self.url = with_schema(dsn, self.schema)

    def cleanup(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP SCHEMA {self.schema} CASCADE")


def differing(actual: Any, expected: Any) -> str:
    """The fields in which two records differ, for an assertion message."""
    return "; ".join(
        f"{f.name}: store {getattr(actual, f.name)!r} != model {getattr(expected, f.name)!r}"
        for f in fields(actual)
        if getattr(actual, f.name) != getattr(expected, f.name)
    )


class StoreMachine(RuleBasedStateMachine):
    """The rules and invariants; a subclass per backend says where the database is."""

    def make_backend(self) -> Backend:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.backend = self.make_backend()
        self.loop = asyncio.new_event_loop()  # hypothesis calls the rules synchronously
        self.clock = FakeClock()
        self.store: Store | None = None
        try:
            self.store = self.run(self.open())
        except BaseException:
            self.teardown()
            raise
        #: the model: the record every job should have, and its finished attempts
        self.jobs: dict[JobId, Job] = {}
        self.history: dict[JobId, list[Attempt]] = {}
        self.keys: dict[str, JobId] = {}
        self.workers = [Worker(WorkerId(f"host:{i}:pool")) for i in range(WORKERS)]
        self.crashed: list[Worker] = []
        #: statuses the store showed after the last step, and jobs retried since
        self.seen: dict[JobId, JobState] = {}
        self.retried: set[JobId] = set()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    async def open(self) -> Store:
        return await open_store(
            self.backend.url, clock=self.clock, postgres=PostgresOptions(pool_size=2)
        )

    @property
    def db(self) -> Store:
        assert self.store is not None
        return self.store

    def teardown(self) -> None:
        try:
            if self.store is not None:
                self.run(self.store.close())
        finally:
            self.loop.close()
            self.backend.cleanup()

    # -- the model ------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def holds(self, lease: Lease) -> bool:
        """Whether ``lease`` is the token of its job now: what every fenced write checks."""
        job = self.jobs.get(lease.job_id)
        return (
            job is not None
            and job.status is RUNNING
            and job.worker_id == lease.owner
            and job.attempt == lease.attempt
        )

    def expected_attempts(self, job: Job) -> list[Attempt]:
        attempts = list(self.history[job.id])
        if job.status is RUNNING:
            assert job.worker_id is not None
            attempts.append(
                Attempt(
                    job_id=job.id,
                    attempt=job.attempt,
                    worker_id=job.worker_id,
                    started_at=job.started_at,
                    finished_at=None,
                    outcome=None,
                    error=None,
                )
            )
        return attempts

    def record(
        self,
        lease: Lease,
        worker: WorkerId,
        started_at: datetime | None,
        outcome: Outcome,
        error: ErrorInfo | None,
    ) -> None:
        self.history[lease.job_id].append(
            Attempt(
                job_id=lease.job_id,
                attempt=lease.attempt,
                worker_id=worker,
                started_at=started_at,
                finished_at=self.now(),
                outcome=outcome,
                error=error,
            )
        )

    def due(self, queues: list[str] | None) -> list[Job]:
        """Claimable jobs in claim order: priority (highest first), then run_at, then id."""
        found = [
            job
            for job in self.jobs.values()
            if job.status in CLAIMABLE
            and job.run_at <= self.now()
            and (queues is None or job.queue in queues)
        ]
        return sorted(found, key=lambda job: (-job.priority, job.run_at, job.id))

    def leases(self, workers: Iterable[Worker]) -> list[tuple[Worker, Lease]]:
        return [(worker, lease) for worker in workers for lease in worker.held]

    def stale(self) -> list[tuple[Worker, Lease]]:
        """Leases some worker (alive or crashed) still holds that no longer own their job;
        those whose job another lease took over first, when there are any."""
        everyone = self.leases(self.workers + self.crashed)
        lost = [(w, lease) for w, lease in everyone if not self.holds(lease)]
        taken = [(w, lease) for w, lease in lost if self.jobs[lease.job_id].status is RUNNING]
        return taken or lost

    def running_of(self, workers: Iterable[Worker]) -> list[Job]:
        ids = {w.id for w in workers}
        return [j for j in self.jobs.values() if j.status is RUNNING and j.worker_id in ids]

    # -- what clients do ------------------------------------------------------------------

    @initialize(batch=st.lists(specs, min_size=1, max_size=4))
    def start_with_jobs(self, batch: list[Spec]) -> None:
        self.enqueue(batch)

    @precondition(lambda self: len(self.jobs) < MAX_JOBS)
    @rule(batch=st.lists(specs, min_size=1, max_size=3))
    def enqueue(self, batch: list[Spec]) -> None:
        now = self.now()
        news = [
            NewJob(
                type=s.type,
                payload={"n": s.n},
                queue=s.queue,
                priority=s.priority,
                run_at=None if s.delay is None else now + timedelta(seconds=s.delay),
                max_attempts=s.max_attempts,
                backoff=s.backoff,
                idempotency_key=s.key,
            )
            for s in batch
        ]
        # What each job of the batch should be: new, or the job its key already names (in the
        # store, or earlier in this batch); a key reused for another request fails the batch.
        named: dict[str, Job | NewJob] = {key: self.jobs[id_] for key, id_ in self.keys.items()}
        plan: list[NewJob | str] = []  # a new job, or the key of the job it is
        conflict = False
        for new in news:
            key = new.idempotency_key
            first = None if key is None else named.get(key)
            if key is None or first is None:
                plan.append(new)
                if key is not None:
                    named[key] = new
                continue
            if (new.type, new.queue, new.payload) != (first.type, first.queue, first.payload):
                conflict = True
            plan.append(key)
        if conflict:
            with pytest.raises(IdempotencyConflict):
                self.run(self.db.enqueuer.enqueue(news))
            return
        results = self.run(self.db.enqueuer.enqueue(news))
        assert len(results) == len(news)
        for planned, result in zip(plan, results, strict=True):
            if isinstance(planned, str):
                existing = self.jobs[self.keys[planned]]
                assert not result.created
                assert result.job == existing, differing(result.job, existing)
                continue
            assert result.created
            assert result.job.id not in self.jobs
            expected = Job(
                id=result.job.id,
                queue=planned.queue,
                type=planned.type,
                payload=planned.payload,
                status=PENDING,
                priority=planned.priority,
                run_at=planned.run_at or now,
                attempt=0,
                max_attempts=planned.max_attempts,
                timeout=None,
                backoff=planned.backoff,
                result=None,
                last_error=None,
                dead_reason=None,
                worker_id=None,
                lease_expires_at=None,
                idempotency_key=planned.idempotency_key,
                created_at=now,
                started_at=None,
                finished_at=None,
            )
            assert result.job == expected, differing(result.job, expected)
            self.jobs[expected.id] = expected
            self.history[expected.id] = []
            if planned.idempotency_key is not None:
                self.keys[planned.idempotency_key] = expected.id

    # -- what workers do ------------------------------------------------------------------

    def _claim(self, worker: Worker, queues: list[str] | None, limit: int, lease: int) -> None:
        now = self.now()
        expected = self.due(queues)[: max(limit, 0)]
        claimed = self.run(
            self.db.claims.claim(
                ClaimRequest(owner=worker.id, queues=queues, limit=limit, lease_seconds=lease)
            )
        )
        assert [j.id for j in claimed] == [j.id for j in expected]
        for before, job in zip(expected, claimed, strict=True):
            assert before.status in CLAIMABLE  # never a job some lease holds
            after = replace(
                before,
                status=RUNNING,
                attempt=before.attempt + 1,
                worker_id=worker.id,
                lease_expires_at=now + timedelta(seconds=lease),
                started_at=now,
                progress=None,
                progress_message=None,
            )
            assert job == after, differing(job, after)
            self.jobs[job.id] = after
            worker.held.append(job.lease)

    @rule(
        pick=picks,
        queues=st.sampled_from([None, None, None, ["default"], ["mail"], ["mail", "default"], []]),
        limit=st.sampled_from([0, 1, 1, 2, 4]),
        lease=st.sampled_from(LEASE_SECONDS),
    )
    def claim(self, pick: int, queues: list[str] | None, limit: int, lease: int) -> None:
        self._claim(self.workers[pick % len(self.workers)], queues, limit, lease)

    @rule(
        pick=picks,
        lease=st.sampled_from(LEASE_SECONDS),
        progress=progresses,
        only_one=st.booleans(),
    )
    def heartbeat(self, pick: int, lease: int, progress: float | None, only_one: bool) -> None:
        """A handler may report progress; then its pool extends the leases it believes it
        holds (all, or ``only_one``), and the store answers which it still does."""
        worker = self.workers[pick % len(self.workers)]
        leases = list(worker.held)
        if leases and only_one:
            leases = [leases[pick % len(leases)]]
        if progress is not None and leases:
            self._progress(leases[0], progress, f"at {progress}")
        owned = {held.job_id for held in leases if self.holds(held)}
        got = self.run(self.db.claims.heartbeat(leases, lease_seconds=lease))
        assert got == owned
        until = self.now() + timedelta(seconds=lease)
        for job_id in owned:
            self.jobs[job_id] = replace(self.jobs[job_id], lease_expires_at=until)

    def _take(self, pick: int) -> tuple[Worker, Lease]:
        """A lease some alive worker holds, which it now stops holding (it acknowledges)."""
        held = self.leases(self.workers)
        worker, lease = held[pick % len(held)]
        worker.held.remove(lease)
        return worker, lease

    def has_leases(self) -> bool:
        return bool(self.leases(self.workers))

    @precondition(has_leases)
    @rule(pick=picks, n=st.integers(0, 2))
    def complete(self, pick: int, n: int) -> None:
        worker, lease = self._take(pick)
        self._complete(worker, lease, {"r": n})

    def _complete(self, worker: Worker, lease: Lease, result: Any) -> None:
        now, owned = self.now(), self.holds(lease)
        done = self.run(complete(self.db, lease, result, slot=worker.slot, started_at=now))
        assert done is owned
        if owned:
            self.jobs[lease.job_id] = replace(
                self.jobs[lease.job_id],
                status=SUCCEEDED,
                result=result,
                started_at=now,
                finished_at=now,
                lease_expires_at=None,
            )
            self.record(lease, worker.slot, now, Outcome.SUCCEEDED, None)

    @precondition(has_leases)
    @rule(
        pick=picks,
        retryable=st.sampled_from([True, True, False]),
        name_reason=st.booleans(),
        n=st.integers(0, 2),
        seed=st.integers(0, 3),
        progress=progresses,
    )
    def fail(
        self,
        pick: int,
        retryable: bool,
        name_reason: bool,
        n: int,
        seed: int,
        progress: float | None,
    ) -> None:
        """A handler (which may have reported progress) raises."""
        worker, lease = self._take(pick)
        if progress is not None:
            self._progress(lease, progress, "before failing")
        self._fail(worker, lease, retryable, name_reason, n, seed)

    def _fail(
        self, worker: Worker, lease: Lease, retryable: bool, name_reason: bool, n: int, seed: int
    ) -> None:
        now, owned = self.now(), self.holds(lease)
        job = self.jobs[lease.job_id]
        error = ErrorInfo(type="RuntimeError", message=f"boom {n}", traceback=None if n else "Tb")
        # as worker/runner.py decides: retried after the backoff while attempts are left
        retry_at: datetime | None = None
        reason: DeadReason | None = None
        if retryable and lease.attempt < job.max_attempts:
            delay = backoff_delay(job.backoff or TYPE_BACKOFF, lease.attempt, random.Random(seed))
            retry_at = now + timedelta(seconds=delay)
        elif not retryable:
            reason = DeadReason.NON_RETRYABLE
        elif name_reason:
            reason = DeadReason.ATTEMPTS_EXHAUSTED  # None means the same
        done = self.run(
            fail(
                self.db,
                lease,
                error,
                slot=worker.slot,
                started_at=now,
                retry_at=retry_at,
                dead_reason=reason,
            )
        )
        assert done is owned
        if not owned:
            return
        if retry_at is None:
            after = replace(
                job,
                status=DEAD,
                last_error=error,
                dead_reason=reason or DeadReason.ATTEMPTS_EXHAUSTED,
                started_at=now,
                finished_at=now,
                lease_expires_at=None,
            )
        else:
            after = replace(
                job,
                status=FAILED,
                run_at=retry_at,
                last_error=error,
                dead_reason=None,
                started_at=now,
                finished_at=None,
                lease_expires_at=None,
            )
        self.jobs[lease.job_id] = after
        self.record(lease, worker.slot, now, Outcome.FAILED, error)

    @precondition(has_leases)
    @rule(pick=picks, started=st.booleans(), how_many=st.integers(1, 3), progress=progresses)
    def hand_back(self, pick: int, started: bool, how_many: int, progress: float | None) -> None:
        """A pool stops. ``started``: a handler it interrupts (which may have reported
        progress) hands its job back, recorded as interrupted; otherwise the pool hands back
        buffered jobs no handler started. Either way the attempt is given back, and leases
        lost meanwhile are refused."""
        if started:
            worker, lease = self._take(pick)
            if progress is not None:
                self._progress(lease, progress, "before stopping")
            self._release(worker, lease)
            return
        holding = [w for w in self.workers if w.held]
        worker = holding[pick % len(holding)]
        given = worker.held[:how_many]
        del worker.held[:how_many]
        held = [lease for lease in given if self.holds(lease)]
        assert self.run(self.db.claims.release_unstarted(given)) == {lease.job_id for lease in held}
        for lease in held:
            self._give_back(lease)

    def _release(self, worker: Worker, lease: Lease) -> None:
        now, owned = self.now(), self.holds(lease)
        done = self.run(self.db.outcomes.release(lease, slot=worker.slot, started_at=now))
        assert done is owned
        if owned:
            self._give_back(lease)
            self.record(lease, worker.slot, now, Outcome.INTERRUPTED, None)

    def _give_back(self, lease: Lease) -> None:
        job = self.jobs[lease.job_id]
        self.jobs[lease.job_id] = replace(
            job,
            status=PENDING,
            attempt=job.attempt - 1,
            worker_id=None,
            lease_expires_at=None,
            started_at=None,
        )

    def _progress(self, lease: Lease, fraction: float, message: str | None) -> None:
        owned = self.holds(lease)
        assert self.run(self.db.outcomes.progress(lease, fraction, message)) is owned
        if owned:
            self.jobs[lease.job_id] = replace(
                self.jobs[lease.job_id], progress=fraction, progress_message=message
            )

    # -- time, the reaper and crashes ------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 2, 5, 9, 10, 11, 29, 30, 31, 60, 600]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def requeue_expired(self) -> None:
        now = self.now()
        expected: set[Expired] = set()
        for job in list(self.jobs.values()):
            if job.status is not RUNNING:
                continue
            assert job.lease_expires_at is not None and job.worker_id is not None
            if not job.lease_expires_at < now:
                continue
            last = job.attempt >= job.max_attempts
            self.record(job.lease, job.worker_id, job.started_at, Outcome.LOST, WORKER_LOST_ERROR)
            after = replace(
                job,
                status=DEAD if last else PENDING,
                worker_id=None,
                lease_expires_at=None,
                last_error=WORKER_LOST_ERROR,
                dead_reason=DeadReason.WORKER_LOST if last else None,
                run_at=job.run_at,  # it keeps its place in line (it was due already)
                finished_at=now if last else None,
            )
            self.jobs[job.id] = after
            expected.add(
                Expired(job.id, job.worker_id, job.attempt, after.status, job.queue, job.type)
            )
        got = self.run(self.db.expiry.requeue_expired())
        assert len(got) == len(set(got))
        assert set(got) == expected

    def _outlive_leases(self, jobs: list[Job]) -> None:
        """Move the clock just past the last of these jobs' leases."""
        ends = [job.lease_expires_at for job in jobs if job.lease_expires_at is not None]
        if ends and max(ends) >= self.now():
            self.clock.advance((max(ends) - self.now()).total_seconds() + 1)

    def any_running(self) -> bool:
        return any(j.status is RUNNING for j in self.jobs.values())

    @precondition(any_running)
    @rule(pick=picks, lease=st.sampled_from(LEASE_SECONDS), write=stale_writes)
    def expire_and_steal(self, pick: int, lease: int, write: str) -> None:
        """Every lease runs out, the reaper requeues, and another pool claims what is due;
        then a handler of an old owner, back from a stall, writes under its lost lease."""
        running = [j for j in self.jobs.values() if j.status is RUNNING]
        owners = {j.worker_id for j in running}
        self._outlive_leases(running)
        self.requeue_expired()
        others = [w for w in self.workers if w.id not in owners] or self.workers
        self._claim(others[pick % len(others)], None, MAX_JOBS, lease)
        lost = {j.lease for j in running}
        taken = [
            (worker, held)
            for worker, held in self.leases(self.workers + self.crashed)
            if held in lost and self.jobs[held.job_id].status is RUNNING
        ]
        if taken:
            self._stale_write(*taken[pick % len(taken)], write)

    def comebacks(self) -> list[Job]:
        """Running jobs of alive pools that the reaper would requeue (attempts are left)."""
        running = self.running_of(self.workers)
        return [job for job in running if job.attempt < job.max_attempts]

    @precondition(lambda self: bool(self.comebacks()))
    @rule(pick=picks, lease=st.sampled_from(LEASE_SECONDS), write=stale_writes)
    def stall_and_come_back(self, pick: int, lease: int, write: str) -> None:
        """A handler stalls past its lease; the reaper requeues the job and the same pool
        claims it again; then the stalled handler writes under its lost lease. Only the
        attempt in the token tells the two apart."""
        job = self.comebacks()[pick % len(self.comebacks())]
        pool = next(w for w in self.workers if w.id == job.worker_id)
        self._progress(job.lease, 0.25, "then stalled")  # the next attempt starts with none
        self._outlive_leases([j for j in self.jobs.values() if j.status is RUNNING])
        self.requeue_expired()
        self._claim(pool, None, MAX_JOBS, lease)
        assert self.jobs[job.id].worker_id == pool.id  # due again at once: claimed again
        self._stale_write(pool, job.lease, write)

    @precondition(any_running)
    @rule()
    def reaper_at_the_instant_of_expiry(self) -> None:
        """A lease that ends exactly now has not expired yet; a microsecond later it has."""
        ends = [j.lease_expires_at for j in self.jobs.values() if j.lease_expires_at is not None]
        first = min(ends)
        if first > self.now():
            self.clock.advance((first - self.now()).total_seconds())
            assert self.now() == first
        self.requeue_expired()
        self.clock.advance(0.000001)
        self.requeue_expired()

    def busy(self) -> list[Worker]:
        return [w for w in self.workers if any(self.holds(lease) for lease in w.held)]

    @precondition(lambda self: bool(self.busy()))
    @rule(pick=picks)
    def crash(self, pick: int) -> None:
        """A pool holding jobs dies: it never heartbeats again and a new pool takes its place.
        The store is closed and opened again on the same database: nothing may be lost."""
        busy = self.busy()
        worker = busy[pick % len(busy)]
        self.workers.remove(worker)
        worker.crashed_at = self.now()
        self.crashed.append(worker)
        self.workers.append(Worker(WorkerId(f"host:{WORKERS + len(self.crashed)}:pool")))
        self.run(self.db.close())
        self.store = None
        self.store = self.run(self.open())

    @precondition(lambda self: bool(self.running_of(self.crashed)))
    @rule()
    def reap_crashed(self) -> None:
        """Leases of crashed pools run out and the reaper takes their jobs back."""
        self._outlive_leases(self.running_of(self.crashed))
        self.requeue_expired()
        crashed = {w.id for w in self.crashed}
        running = self.run(
            self.db.reads.list_jobs(JobFilter(status=RUNNING), limit=MAX_JOBS + 1)
        ).jobs
        assert not [job.id for job in running if job.worker_id in crashed]

    @precondition(lambda self: bool(self.stale()))
    @rule(pick=picks, write=stale_writes)
    def stale_write(self, pick: int, write: str) -> None:
        """A worker whose lease was lost (a stalled or crashed pool come back) writes."""
        self._stale_write(*self.stale()[pick % len(self.stale())], write)

    def _stale_write(self, worker: Worker, lease: Lease, write: str) -> None:
        """A handler whose lease was lost heartbeats, reports progress, then writes its outcome
        (``write``): the store must change nothing and say each time that the lease is lost."""
        assert not self.holds(lease)
        assert self.run(self.db.claims.heartbeat([lease], lease_seconds=MAX_LEASE)) == set()
        self._progress(lease, 0.75, "stale")
        if write == "complete":
            self._complete(worker, lease, {"stale": True})
        elif write in ("fail", "fail_dead"):
            self._fail(worker, lease, write == "fail", False, 0, 0)
        elif write == "release":
            self._release(worker, lease)
        else:
            assert self.run(self.db.claims.release_unstarted([lease])) == set()

    # -- what operators do ----------------------------------------------------------------

    @precondition(lambda self: bool(self.jobs))
    @rule(
        pick=picks,
        action=st.sampled_from(["cancel", "retry"]),
        state=st.sampled_from(list(JobState)),
    )
    def operator(self, pick: int, action: str, state: JobState) -> None:
        """Cancel (pending, failed or running jobs) or retry (dead or cancelled ones) a job in
        ``state`` (any job when none is), so that every pair of action and state comes up."""
        jobs = [j for j in self.jobs.values() if j.status is state] or list(self.jobs.values())
        job = jobs[pick % len(jobs)]
        allowed = CANCELLABLE if action == "cancel" else RETRYABLE
        call = self.db.admin.cancel if action == "cancel" else self.db.admin.retry
        if job.status not in allowed:
            with pytest.raises(IllegalTransition) as refused:
                self.run(call(job.id))
            assert refused.value.state == job.status.value
            return
        if action == "cancel":
            if job.status is RUNNING:  # the run's attempt ends here, under its lease's owner
                assert job.worker_id is not None
                self.record(job.lease, WorkerId(job.worker_id), job.started_at, CANCELLED_RUN, None)
            after = replace(job, status=CANCELLED, finished_at=self.now(), lease_expires_at=None)
        else:
            after = replace(
                job,
                status=PENDING,
                run_at=self.now(),
                max_attempts=max(job.max_attempts, job.attempt + 1),
                dead_reason=None,
                finished_at=None,
                worker_id=None,
                lease_expires_at=None,
            )
            self.retried.add(job.id)
        got = self.run(call(job.id))
        assert got == after, differing(got, after)
        self.jobs[job.id] = after

    @initialize()
    def unknown_job(self) -> None:
        assert self.run(self.db.reads.get(UNKNOWN)) is None
        assert self.run(self.db.reads.attempts(UNKNOWN)) == []
        with pytest.raises(JobNotFound):
            self.run(self.db.admin.cancel(UNKNOWN))
        with pytest.raises(JobNotFound):
            self.run(self.db.admin.retry(UNKNOWN))

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def every_job_is_as_the_model_says(self) -> None:
        page = self.run(self.db.reads.list_jobs(JobFilter(), limit=MAX_JOBS + 5))
        assert page.next_after is None
        assert [job.id for job in page.jobs] == sorted(self.jobs, reverse=True)  # newest first
        for job in page.jobs:
            assert job == self.jobs[job.id], f"job {job.id}: {differing(job, self.jobs[job.id])}"

    @invariant()
    def every_attempt_is_as_the_model_says(self) -> None:
        for job in self.jobs.values():
            got = self.run(self.db.reads.attempts(job.id))
            assert got == self.expected_attempts(job), f"attempts of job {job.id} ({job.status})"

    @invariant()
    def counts_agree(self) -> None:
        expected = Counter((job.queue, job.status) for job in self.jobs.values())
        got = {(c.queue, c.status): c.count for c in self.run(self.db.reads.counts())}
        assert got == dict(expected)

    @invariant()
    def one_lease_per_running_job(self) -> None:
        running = self.run(
            self.db.reads.list_jobs(JobFilter(status=RUNNING), limit=MAX_JOBS + 1)
        ).jobs
        assert {job.id for job in running} == {
            job.id for job in self.jobs.values() if job.status is RUNNING
        }
        everyone = self.workers + self.crashed
        for job in running:
            assert job.worker_id is not None and job.lease_expires_at is not None
            holders = {w.id for w, lease in self.leases(everyone) if lease == job.lease}
            assert holders <= {job.worker_id}
        for job in self.jobs.values():
            if job.status is not RUNNING:
                assert job.lease_expires_at is None
            if job.status in CLAIMABLE:  # workers retry, and the reaper requeues, only then
                assert job.attempt < job.max_attempts

    @invariant()
    def crashed_pools_leases_are_never_extended(self) -> None:
        for worker in self.crashed:
            assert worker.crashed_at is not None
            for job in self.running_of([worker]):
                assert job.lease_expires_at is not None
                assert job.lease_expires_at <= worker.crashed_at + timedelta(seconds=MAX_LEASE)

    @invariant()
    def terminal_states_are_left_only_by_retry(self) -> None:
        page = self.run(self.db.reads.list_jobs(JobFilter(), limit=MAX_JOBS + 5))
        now = {job.id: job.status for job in page.jobs}
        for job_id, before in self.seen.items():
            if before in TERMINAL and now[job_id] != before:
                assert job_id in self.retried, f"job {job_id} went from {before} to {now[job_id]}"
                assert now[job_id] is PENDING
        self.seen = now
        self.retried = set()


SETTINGS = settings(
    max_examples=300 if FULL else 50,
    stateful_step_count=60 if FULL else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # No explain phase: once a step fails it traces every line of every later run (asyncio,
    # the store's threads), and shrinking a failure then takes many minutes instead of seconds.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


class SQLiteMachine(StoreMachine):
    def make_backend(self) -> Backend:
        return SQLiteBackend()


class PostgresMachine(StoreMachine):
    def make_backend(self) -> Backend:
        return PostgresBackend(postgres_dsn())


@pytest.mark.slow
@pytest.mark.timeout(3600 if FULL else 600)  # room for hypothesis to shrink a failure
@pytest.mark.parametrize("backend", BACKENDS)
def test_store_behaves_like_the_model(backend: str) -> None:
    machine: type[StoreMachine] = SQLiteMachine
    if backend == "postgres":
        postgres_dsn()  # skips (or fails where CI requires PostgreSQL) without a server
        machine = PostgresMachine
    run_state_machine_as_test(machine, settings=SETTINGS)
