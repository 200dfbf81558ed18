"""How hard the fault tests push: ``JOBQ_TEST_TIER=fast`` (the default, for every run of the
suite) or ``full`` (``make test-full``: more faults, more work, longer runs).

``tier()`` gives the numbers of the tier in force; the tests read them from it and nowhere
else, so the two tiers differ only here."""

from __future__ import annotations

import os
from dataclasses import dataclass

TIER_VARIABLE = "JOBQ_TEST_TIER"


@dataclass(frozen=True, slots=True, kw_only=True)
class Tier:
    name: str
    #: SIGKILL chaos: jobs, worker processes, kills spread over the run
    chaos_jobs: int
    chaos_workers: int
    chaos_kills: int
    #: claim race: claimer processes on SQLite; on PostgreSQL, processes x asyncio tasks
    race_jobs: int
    race_sqlite_processes: int
    race_pg_processes: int
    race_pg_tasks_per_process: int
    #: SIGTERM drain: short and long jobs on the stopping worker
    drain_short: int
    drain_long: int
    #: poison jobs of each kind, and the ordinary jobs beside them
    poison_jobs: int
    poison_bystanders: int
    #: zombie: jobs the stopped worker holds
    zombie_jobs: int
    #: the API process SIGKILLed under a stream of enqueues, per store
    api_kills: int
    #: PostgreSQL outages: restarts with -m fast, with -m immediate; backend terminations
    pg_restarts_fast: int
    pg_restarts_immediate: int
    pg_terminations: int
    #: a worker's LISTEN connection terminated
    listen_cuts: int


FAST = Tier(
    name="fast",
    chaos_jobs=10_000,
    chaos_workers=4,
    chaos_kills=20,
    race_jobs=10_000,
    race_sqlite_processes=32,
    race_pg_processes=8,
    race_pg_tasks_per_process=125,
    drain_short=8,
    drain_long=4,
    poison_jobs=1,
    poison_bystanders=40,
    zombie_jobs=4,
    api_kills=50,
    pg_restarts_fast=3,
    pg_restarts_immediate=0,
    pg_terminations=20,
    listen_cuts=6,
)

FULL = Tier(
    name="full",
    chaos_jobs=10_000,
    chaos_workers=4,
    chaos_kills=50,
    race_jobs=10_000,
    race_sqlite_processes=64,
    race_pg_processes=8,
    race_pg_tasks_per_process=125,
    drain_short=20,
    drain_long=10,
    poison_jobs=3,
    poison_bystanders=200,
    zombie_jobs=8,
    api_kills=50,
    pg_restarts_fast=5,
    pg_restarts_immediate=2,
    pg_terminations=20,
    listen_cuts=15,
)

TIERS = {tier.name: tier for tier in (FAST, FULL)}


def tier() -> Tier:
    """The tier named by ``JOBQ_TEST_TIER`` (``fast`` when unset); any other name is an error,
    not a silent fallback."""
    name = os.environ.get(TIER_VARIABLE, "fast").strip() or "fast"
    if name not in TIERS:
        raise ValueError(f"{TIER_VARIABLE}={name!r}: expected one of {', '.join(TIERS)}")
    return TIERS[name]
