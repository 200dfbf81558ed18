"""Real jobq processes running the ledger handlers (tests/apps/ledger.py) on one database, the
test's own JobQueue beside them, and what their logs must never say: shared by the crash,
signal, wake-up and fleet tests (tests/e2e) and the fault tests (tests/faults).

The fixtures ``producer``, ``ledger`` and ``launch`` (registered by tests/conftest.py) work on
``fleet_url``: the store under test, each backend (``store_url``), unless a module overrides
``fleet_url`` (with ``db_url``: SQLite only; with ``pg_url``: PostgreSQL only)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from jobq import JobQueue
from tests.apps.ledger import jq as ledger_app
from tests.helpers import JobqProcess

#: the ``--app`` of a process that runs the ledger handlers
APP = "tests.apps.ledger:jq"
#: ``launch(name, command)``: see ``launcher``
Launch = Callable[[str, str], JobqProcess]

#: events a process logs when something broke inside it (not merely "the store was away")
BROKEN = frozenset(
    {"pool_failed", "worker_error", "request_crashed", "http_failed", "startup_failed"}
)


def launcher(processes: list[JobqProcess], tmp_path: Path, url: str, ledger: Path) -> Launch:
    """``launch(name, "worker --workers 4")`` starts ``jobq worker --workers 4`` with the ledger
    handlers on ``url``; its log goes to ``<name>.log``; the ``processes`` fixture ends it."""

    def start(name: str, command: str) -> JobqProcess:
        process = JobqProcess(
            [*command.split(), "--app", APP],
            env={"JOBQ_DATABASE_URL": url, "JOBQ_TEST_LEDGER": str(ledger)},
            log_path=tmp_path / f"{name}.log",
        )
        processes.append(process)
        return process

    return start


@asynccontextmanager
async def ledger_queue(url: str) -> AsyncIterator[JobQueue]:
    """The test's own JobQueue on ``url``, knowing the ledger handlers."""
    queue = JobQueue(url, registry=ledger_app.registry, builtins=False)
    async with queue:
        yield queue


def worker_args(url: str, args: str) -> str:
    """``jobq worker`` with ``args``; on PostgreSQL a small connection pool per process (the
    server allows 100 connections, and other tests share it)."""
    pool = " --db-pool-size 4" if url.startswith("postgres") else ""
    return f"worker {args}{pool}"


def pid_of(worker_id: str | None) -> int | None:
    """``host:pid:xxxxxx`` (a pool) or ``host:pid:xxxxxx/w3`` (one of its workers) -> pid;
    None for None."""
    if worker_id is None:
        return None
    return int(worker_id.split(":")[1])


def broken(processes: Iterable[JobqProcess]) -> dict[str, list[str]]:
    """log name -> the BROKEN events it logged (empty when none did)."""
    found = {}
    for process in processes:
        events = sorted(BROKEN & {e["event"] for e in process.events()})
        if events:
            found[process.log_path.name] = events
    return found


async def stop_all(processes: Iterable[JobqProcess], *, timeout: float = 30) -> dict[int, int]:
    """SIGTERM every process still running (by its PID); pid -> exit status."""
    alive = [p for p in processes if p.proc.poll() is None]
    for process in alive:
        process.signal(signal.SIGTERM)
    codes = await asyncio.gather(*(p.wait_exit(timeout) for p in alive))
    return {p.pid: code for p, code in zip(alive, codes, strict=True)}


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def fleet_url(store_url: str) -> str:
    """Where the processes and the producer work: each backend, unless a module overrides it."""
    return store_url


@pytest.fixture
async def producer(fleet_url: str) -> AsyncIterator[JobQueue]:
    """The test's own JobQueue on the store under test, knowing the ledger handlers."""
    async with ledger_queue(fleet_url) as queue:
        yield queue


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """The ledger file every process of the test appends to."""
    return tmp_path / "ledger.jsonl"


@pytest.fixture
def launch(processes: list[JobqProcess], tmp_path: Path, fleet_url: str, ledger: Path) -> Launch:
    """Starts ``jobq <command>`` with the ledger handlers; the ``processes`` fixture ends it."""
    return launcher(processes, tmp_path, fleet_url, ledger)
