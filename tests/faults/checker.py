"""The ledger checker: joins what the handlers say ran (the ledger, tests/apps/ledger.py) with
what the store says happened, and counts what went wrong. It asserts nothing: the tests do.

Use::

    verdict = await check(store, read_ledger(path), accepted=ids, kills=kills,
                          processes=fleet)
    write_figures(verdict.figures, request)          # test-artifacts/faults/<test>-<backend>.json
    assert verdict.figures["lost"] == 0, verdict.sample("lost")

``check`` returns a ``Verdict``: ``figures`` (a small JSON-able dict of counts and latencies,
stable keys listed in ``FIGURE_KEYS``) and ``ids`` (the job ids behind each count, for
assertion messages). Definitions, per accepted job:

``lost``
    accepted, but no longer in the store (vanished); or ``succeeded`` in the store though the
    ledger holds no ``end`` of its succeeded attempt (a job of a type whose handler writes the
    ledger, ``RECORDED_TYPES``): the store says done, the work never ran to its end.
``stuck``
    still ``pending``, ``running`` or ``failed`` (not terminal) when ``check`` is called: call
    it after the test's drain deadline.
``completed_twice``
    more than one ``succeeded`` attempt record in the store, or more than one ``end`` record
    matching a succeeded attempt record. Ledger records and attempt records are matched by
    (attempt number, pid): an attempt handed back at shutdown keeps its number.
``dup_exec``
    the handler started more than once (ledger ``start`` records). ``dup_exec_causes`` counts
    the store's outcome of the attempt record of each earlier start (matched by attempt and
    pid): ``lost`` (lease expired: a kill or a stall), ``failed``, ``interrupted`` (handed
    back at shutdown), ``succeeded`` (a run after a success: a bug), ``none`` (no attempt
    record: a bug).
``double_claim``
    two executions of one job (different attempt or pid) that overlap in time. An execution
    runs from its ``start`` to its ``end`` (or ``stopped``) in the same pid and attempt;
    without either, to
    the first of: the kill of its pid (``kills``), the exit of its pid (``ended``), the time the
    store recorded its attempt as ``interrupted`` or ``lost`` (wall clock, converted); else to
    the end of time. Time a pid spent stopped (``pauses``, SIGSTOP..SIGCONT) is cut out: a
    stopped process executes nothing. Times are ``time.monotonic()``: CLOCK_MONOTONIC is one
    clock for every process on a Linux machine.
``lease_lost``
    distinct (pid, job, attempt) for which a process logged ``lease_lost`` (heartbeat found
    the lease gone, or a write was refused) or skipped a buffered job for that reason.
``leases_expired``
    attempts the store recorded as ``lost`` (a reaper found the lease expired).
``orphans``, ``recovery_p50_s``, ``recovery_p99_s``, ``recovery_max_s``, ``unrecovered``
    an orphan is an attempt the store recorded as ``lost`` whose worker pid was killed
    (``kills``), unless that attempt was the job's last and made it ``dead``; its recovery
    latency runs from the kill to the job's next ledger ``start`` after the kill, in another
    pid. ``unrecovered``: orphans whose job never started again.
``reclaim_max_s``
    the longest time from the kill of an orphan's pid to the claim of the job's next attempt
    (that attempt record's ``started_at``, wall clock made monotonic: the claim time, or for
    an attempt that ran to an outcome the time its handler started). Unlike the next start,
    it is not delayed when the next attempt is itself lost to another kill before starting.
``server_errors``
    5xx answers counted by the test (passed in).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jobq.domain.ids import JobId
from jobq.domain.job import Attempt, Job, Outcome
from jobq.domain.states import TERMINAL, JobState
from jobq.store import Store
from tests.fleet import pid_of
from tests.helpers import REPO, JobqProcess
from tests.jobs import all_jobs

#: job types whose handler writes both a ``start`` and, when it returns, an ``end`` record
RECORDED_TYPES = frozenset({"ledger.sleep", "ledger.block", "ledger.linger", "ledger.linger_def"})

ARTIFACTS = REPO / "test-artifacts" / "faults"

FIGURE_KEYS = (
    "jobs",
    "statuses",
    "starts",
    "ends",
    "lost",
    "stuck",
    "completed_twice",
    "dup_exec",
    "dup_exec_causes",
    "double_claim",
    "lease_lost",
    "leases_expired",
    "kills",
    "orphans",
    "unrecovered",
    "recovery_p50_s",
    "recovery_p99_s",
    "recovery_max_s",
    "reclaim_max_s",
    "server_errors",
    "foreign",
)

Record = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Kill:
    """A process the test killed: its pid and ``time.monotonic()`` just before the signal."""

    pid: int
    t: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class Pause:
    """A process the test stopped (SIGSTOP at ``start``) and continued (SIGCONT at ``end``)."""

    pid: int
    start: float
    end: float


@dataclass(slots=True)
class Verdict:
    figures: dict[str, Any]
    #: figure name -> the job ids behind it (lost, stuck, completed_twice, dup_exec,
    #: double_claim, unrecovered, orphans, foreign)
    ids: dict[str, set[str]]
    #: the store's final view, for the tests' own checks
    jobs: dict[str, Job]
    attempts: dict[str, list[Attempt]]
    #: orphan (job id, lost attempt) -> seconds from the kill to the job's next start
    recovery: dict[tuple[str, int], float]
    #: orphan (job id, lost attempt) -> seconds from the kill to the claim of the next attempt
    reclaim: dict[tuple[str, int], float]

    def sample(self, name: str, n: int = 10) -> list[str]:
        """Up to ``n`` job ids behind figure ``name``: for assertion messages."""
        return sorted(self.ids.get(name, set()))[:n]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


async def all_attempts(
    store: Store, job_ids: Iterable[str], *, concurrency: int = 8
) -> dict[str, list[Attempt]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(job_id: str) -> tuple[str, list[Attempt]]:
        async with gate:
            return job_id, await store.reads.attempts(JobId(job_id))

    return dict(await asyncio.gather(*(one(job_id) for job_id in job_ids)))


def lease_lost_events(processes: Iterable[JobqProcess]) -> set[tuple[int, str, int]]:
    """(pid, job id, attempt) of every lease a process logged as lost."""
    found: set[tuple[int, str, int]] = set()
    for process in processes:
        for event in process.events():
            lost = event["event"] == "lease_lost" or (
                event["event"] == "job_skipped" and event.get("reason") == "lease_lost"
            )
            if lost and "job_id" in event:
                found.add((process.pid, str(event["job_id"]), int(event.get("attempt", 0))))
    return found


def _who(attempt: Attempt) -> tuple[int, int | None]:
    """An attempt record's (attempt number, pid): the key that matches it to ledger records
    (an attempt handed back at shutdown keeps its number, so the number alone is not enough)."""
    return attempt.attempt, pid_of(attempt.worker_id)


Interval = tuple[float, float]


def _executions(
    records: Sequence[Record],
    kills: Sequence[Kill],
    pauses: Sequence[Pause],
    ended: Mapping[int, float],
    given_up: Mapping[tuple[str, int, int], float],
) -> dict[str, list[tuple[tuple[int, int], list[Interval]]]]:
    """job id -> [((attempt, pid), intervals in which that execution was really running)]."""
    killed_at: dict[int, float] = dict(ended)
    for kill in kills:
        killed_at[kill.pid] = min(kill.t, killed_at.get(kill.pid, math.inf))
    paused: dict[int, list[Pause]] = defaultdict(list)
    for pause in pauses:
        paused[pause.pid].append(pause)
    starts: dict[tuple[str, int, int], float] = {}
    ends: dict[tuple[str, int, int], float] = {}
    for r in records:
        key = (str(r["job_id"]), int(r["attempt"]), int(r["pid"]))
        if r["kind"] == "start":
            starts[key] = min(float(r["t"]), starts.get(key, math.inf))
        elif r["kind"] in ("end", "stopped"):  # returned, or stopped: its lease was lost
            ends[key] = max(float(r["t"]), ends.get(key, -math.inf))
    found: dict[str, list[tuple[tuple[int, int], list[Interval]]]] = defaultdict(list)
    for key, began in starts.items():
        job_id, attempt, pid = key
        until = ends.get(key, min(killed_at.get(pid, math.inf), given_up.get(key, math.inf)))
        pieces = [(began, until)]
        for pause in paused.get(pid, []):  # cut out the time the process was stopped
            cut: list[Interval] = []
            for a, b in pieces:
                if pause.end <= a or pause.start >= b:
                    cut.append((a, b))
                    continue
                if a < pause.start:
                    cut.append((a, pause.start))
                if pause.end < b:
                    cut.append((pause.end, b))
            pieces = cut
        found[job_id].append(((attempt, pid), pieces))
    return found


def _overlap(first: list[Interval], second: list[Interval]) -> bool:
    return any(a1 < b2 and a2 < b1 for a1, b1 in first for a2, b2 in second)


async def check(
    store: Store,
    ledger: Sequence[Record],
    *,
    accepted: Iterable[str] | None = None,
    kills: Sequence[Kill] = (),
    pauses: Sequence[Pause] = (),
    ended: Mapping[int, float] | None = None,
    processes: Sequence[JobqProcess] = (),
    server_errors: int = 0,
    recorded_types: frozenset[str] = RECORDED_TYPES,
) -> Verdict:
    """Join ``ledger`` (the records of ``read_ledger``) with ``store``'s final state.

    ``accepted``: the ids of every job the test got an acceptance for (None: every job in the
    store, and then nothing can be found to have vanished). ``kills``/``pauses``: what the test
    did to which pid, and when (monotonic). ``ended``: pid -> monotonic time by which the
    process had exited (an execution without ``end`` in it stopped by then). ``processes``:
    the jobq processes whose logs count toward ``lease_lost``. See the module docstring for
    each figure.
    """
    ended = ended or {}
    stored: dict[str, Job] = {str(job.id): job for job in await all_jobs(store)}
    wanted = set(stored) if accepted is None else set(accepted)
    history = await all_attempts(store, sorted(wanted & set(stored)))

    by_job: dict[str, list[Record]] = defaultdict(list)
    for r in ledger:
        by_job[str(r["job_id"])].append(r)

    ids: dict[str, set[str]] = defaultdict(set)
    ids["foreign"] = set(by_job) - wanted
    for job_id in wanted:
        job = stored.get(job_id)
        if job is None:
            ids["lost"].add(job_id)
            continue
        if job.status not in TERMINAL:
            ids["stuck"].add(job_id)
        records = by_job.get(job_id, [])
        attempts = history.get(job_id, [])
        succeeded = [_who(a) for a in attempts if a.outcome is Outcome.SUCCEEDED]
        ends_of_success = [
            r
            for r in records
            if r["kind"] == "end" and (int(r["attempt"]), int(r["pid"])) in succeeded
        ]
        if job.status is JobState.SUCCEEDED and job.type in recorded_types and not ends_of_success:
            ids["lost"].add(job_id)
        if len(succeeded) > 1 or len(ends_of_success) > 1:
            ids["completed_twice"].add(job_id)

    causes: Counter[str] = Counter()
    for job_id, records in by_job.items():
        starts = sorted((r for r in records if r["kind"] == "start"), key=lambda r: float(r["t"]))
        if len(starts) <= 1:
            continue
        ids["dup_exec"].add(job_id)
        outcome = {_who(a): a.outcome for a in history.get(job_id, [])}
        for earlier in starts[:-1]:
            found = outcome.get((int(earlier["attempt"]), int(earlier["pid"])))
            causes[found.value if found is not None else "none"] += 1

    # An execution with no ``end`` stopped at the latest when its attempt was handed back or
    # found lost: the store's time of that write, on the wall clock, made monotonic here.
    wall_to_monotonic = time.time() - time.monotonic()
    given_up = {
        (job_id, a.attempt, pid): a.finished_at.timestamp() - wall_to_monotonic
        for job_id, attempts in history.items()
        for a in attempts
        if a.outcome in (Outcome.INTERRUPTED, Outcome.LOST)
        and a.finished_at is not None
        and (pid := pid_of(a.worker_id)) is not None
    }
    for job_id, executions in _executions(ledger, kills, pauses, ended, given_up).items():
        for i, (who, pieces) in enumerate(executions):
            if any(who != other and _overlap(pieces, seen) for other, seen in executions[:i]):
                ids["double_claim"].add(job_id)

    # Orphans: attempts lost by a killed pid; recovered at the job's next start after the kill.
    killed_at = {kill.pid: kill.t for kill in kills}
    recovery: dict[tuple[str, int], float] = {}
    reclaim: dict[tuple[str, int], float] = {}
    for job_id, attempts in history.items():
        for lost in attempts:
            pid = pid_of(lost.worker_id)
            if lost.outcome is not Outcome.LOST or pid not in killed_at:
                continue
            job = stored[job_id]
            if job.status is JobState.DEAD and job.attempt == lost.attempt:
                continue  # its last attempt: dead (worker_lost), not to run again
            ids["orphans"].add(job_id)
            kill_t = killed_at[pid]
            later = [
                float(r["t"])
                for r in by_job.get(job_id, [])
                if r["kind"] == "start" and float(r["t"]) > kill_t and int(r["pid"]) != pid
            ]
            if later:
                recovery[(job_id, lost.attempt)] = min(later) - kill_t
            else:
                ids["unrecovered"].add(job_id)
            claimed_again = [
                a.started_at.timestamp() - wall_to_monotonic
                for a in attempts
                if a.attempt == lost.attempt + 1 and a.started_at is not None
            ]
            if claimed_again:
                reclaim[(job_id, lost.attempt)] = min(claimed_again) - kill_t

    latencies = list(recovery.values())
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    statuses = Counter(job.status.value for job_id, job in stored.items() if job_id in wanted)
    figures: dict[str, Any] = {
        "jobs": len(wanted),
        "statuses": dict(sorted(statuses.items())),
        "starts": sum(1 for r in ledger if r["kind"] == "start"),
        "ends": sum(1 for r in ledger if r["kind"] == "end"),
        "lost": len(ids["lost"]),
        "stuck": len(ids["stuck"]),
        "completed_twice": len(ids["completed_twice"]),
        "dup_exec": len(ids["dup_exec"]),
        "dup_exec_causes": dict(sorted(causes.items())),
        "double_claim": len(ids["double_claim"]),
        "lease_lost": len(lease_lost_events(processes)),
        "leases_expired": sum(
            1 for attempts in history.values() for a in attempts if a.outcome is Outcome.LOST
        ),
        "kills": len(kills),
        "orphans": len(recovery) + len(ids["unrecovered"]),
        "unrecovered": len(ids["unrecovered"]),
        "recovery_p50_s": None if p50 is None else round(p50, 3),
        "recovery_p99_s": None if p99 is None else round(p99, 3),
        "recovery_max_s": round(max(latencies), 3) if latencies else None,
        "reclaim_max_s": round(max(reclaim.values()), 3) if reclaim else None,
        "server_errors": server_errors,
        "foreign": len(ids["foreign"]),
    }
    return Verdict(
        figures=figures,
        ids=dict(ids),
        jobs=stored,
        attempts=history,
        recovery=recovery,
        reclaim=reclaim,
    )


def backend_of(url: str) -> str:
    return "postgres" if url.startswith("postgres") else "sqlite"


def write_figures(
    figures: Mapping[str, Any], request: pytest.FixtureRequest, *, backend: str | None = None
) -> Path:
    """Write ``figures`` (plus the test's name and backend) as JSON to
    ``test-artifacts/faults/<test-name>-<backend>.json`` and print them (CI logs show them with
    ``-s``, and pytest shows captured output of a failed test). ``backend``: default from the
    test's ``store_url`` (or ``pg_url``) fixture."""
    if backend is None:
        names = request.fixturenames
        if "store_url" in names:
            backend = backend_of(str(request.getfixturevalue("store_url")))
        else:
            backend = "postgres" if "pg_url" in names else "sqlite"
    test = request.node.originalname if hasattr(request.node, "originalname") else "test"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{test}-{backend}.json"
    body = {"test": test, "backend": backend, "tier": os.environ.get("JOBQ_TEST_TIER", "fast")}
    text = json.dumps({**body, **figures}, indent=2, sort_keys=False, default=str)
    path.write_text(text + "\n")
    print(f"\nfault figures {path.relative_to(REPO)}:\n{text}")
    return path
