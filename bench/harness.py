"""What every jobq benchmark needs: a fresh database per run, worker and API processes started
and stopped by their PID, and reading back from the store when jobs started and finished.

Each workload gets a database of its own: a SQLite file in a temporary directory, or a
PostgreSQL schema created for it and dropped afterwards. Processes run ``python -m jobq`` from
this checkout with the handlers in ``bench/app.py``, with logs at WARNING unless a workload
says otherwise (a benchmark measures the queue, not the terminal).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.store import PostgresOptions

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_DSN_VARIABLE = "JOBQ_BENCH_POSTGRES_DSN"
DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"
STORES = ("sqlite", "postgres")
#: log levels at which a benchmark process's lines are dropped rather than shown
CHATTY = ("INFO", "DEBUG")
#: no benchmark process may outlive this; every wait below is bounded by it or less
PROCESS_DEADLINE = 900.0


def scaled(count: int) -> int:
    """``count`` times ``JOBQ_BENCH_SCALE`` (default 1): a smaller run to try a workload out.
    Published figures are at scale 1."""
    return max(1, round(count * float(os.environ.get("JOBQ_BENCH_SCALE", "1"))))


def postgres_dsn() -> str:
    return os.environ.get(POSTGRES_DSN_VARIABLE, DEFAULT_POSTGRES_DSN)


def _with_schema(dsn: str, schema: str) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3D{schema}"


@contextlib.asynccontextmanager
async def database(store: str) -> AsyncIterator[str]:
    """A fresh, empty database of ``store`` ("sqlite" or "postgres"); yields its URL."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory(prefix="jobq-bench-") as directory:
            yield f"sqlite:///{directory}/bench.db"
        return
    import psycopg

    dsn = postgres_dsn()
    schema = f"jobq_bench_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
        await admin.execute(f"CREATE SCHEMA {schema}")
        # Start from a clean slate: the writes of the run before (a dropped schema of a million
        # jobs, say) flushed now rather than by a checkpoint in the middle of this run.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            await admin.execute("CHECKPOINT")
    try:
        yield _with_schema(dsn, schema)
    finally:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")


def queue(url: str, *, pool_size: int = 10) -> JobQueue:
    """A ``JobQueue`` on ``url`` knowing the benchmark handlers."""
    from bench.app import registry

    return JobQueue(url, registry=registry, postgres=PostgresOptions(pool_size=pool_size))


def environment(url: str, extra: dict[str, str] | None) -> dict[str, str]:
    env = {
        **os.environ,
        "JOBQ_DATABASE_URL": url,
        "JOBQ_LOG_LEVEL": "WARNING",
        "JOBQ_LOG_FORMAT": "json",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    env.update(extra or {})
    return env


@dataclass
class Process:
    """A ``python -m jobq`` child of this benchmark, ended only through its own PID."""

    popen: subprocess.Popen[bytes]
    what: str

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            stderr = self.popen.stderr.read().decode() if self.popen.stderr else ""
            raise RuntimeError(f"{self.what} (pid {self.pid}) ended early:\n{stderr[-3000:]}")


def spawn(args: Sequence[str], url: str, *, env: dict[str, str] | None = None) -> Process:
    command = [sys.executable, "-m", "jobq", *args]
    popen = subprocess.Popen(
        command,
        env=environment(url, env),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        # every job's lines at INFO would swamp the terminal: they are made, then dropped;
        # warnings and errors show
        stderr=subprocess.DEVNULL if (env or {}).get("JOBQ_LOG_LEVEL") in CHATTY else None,
    )
    return Process(popen, " ".join(args[:1]))


@contextlib.contextmanager
def processes(made: list[Process]) -> Iterator[list[Process]]:
    """Stop every process in ``made`` (SIGTERM, then SIGKILL) when the block ends."""
    try:
        yield made
    finally:
        for process in made:
            process.stop()


def workers(url: str, count: int, *, workers_each: int = 10, **env: str) -> list[Process]:
    """``count`` ``jobq worker`` processes of ``workers_each`` workers on ``url``."""
    args = ["worker", "--app", "bench.app:registry", "--workers", str(workers_each)]
    return [spawn(args, url, env=dict(env)) for _ in range(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api(url: str, port: int, *, worker_count: int = 0, **env: str) -> Process:
    """``jobq serve`` on loopback ``port``: the API alone unless ``worker_count`` says."""
    args = [
        "serve",
        "--app",
        "bench.app:registry",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(worker_count),
    ]
    return spawn(args, url, env=dict(env))


async def wait_http(
    base: str, process: Process, timeout: float = 30.0, path: str = "/ready"
) -> None:
    """Until the server at ``base`` is ready: its store open (``/ready``; ``/health`` answers
    200 from the moment the port is bound), or ``path`` answers 200."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            process.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(path)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base} did not answer /ready in {timeout} s")
            await asyncio.sleep(0.05)


async def wait_for_pools(jq: JobQueue, count: int, running: Sequence[Process]) -> None:
    """Until ``count`` worker pools have reported themselves to the store."""
    deadline = time.monotonic() + 60
    while len(await jq.store.reads.processes(max_age=60)) < count:
        for process in running:
            process.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} worker pools did not start within 60 s")
        await asyncio.sleep(0.05)


async def finished(jq: JobQueue) -> int:
    """Jobs that reached an end state."""
    ends = {JobState.SUCCEEDED, JobState.FAILED, JobState.DEAD, JobState.CANCELLED}
    return sum(row.count for row in await jq.counts() if row.status in ends)


async def succeeded(jq: JobQueue) -> int:
    """Jobs that succeeded."""
    return sum(row.count for row in await jq.counts() if row.status is JobState.SUCCEEDED)


async def wait_finished(
    jq: JobQueue,
    expected: int,
    running: Sequence[Process],
    *,
    timeout: float = PROCESS_DEADLINE,
    every: float = 0.1,
    on_poll: Callable[[int], None] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while (done := await finished(jq)) < expected:
        if on_poll is not None:
            on_poll(done)
        for process in running:
            process.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {done} of {expected} jobs finished within {timeout} s")
        await asyncio.sleep(every)


async def drain_seconds(
    url: str,
    make_jobs: Callable[[JobQueue], list[Any]],
    *,
    worker_processes: int,
    workers_each: int = 10,
    **env: str,
) -> float:
    """Start ``worker_processes`` idle worker processes, enqueue ``make_jobs(jq)`` in one
    transaction (all due at once), wait for the drain, and return its seconds from the first
    attempt's start to the last one's end as the store recorded them. Raises unless every job
    succeeded, once."""
    async with queue(url) as jq:
        running = workers(url, worker_processes, workers_each=workers_each, **env)
        with processes(running):
            await wait_for_pools(jq, worker_processes, running)
            jobs = make_jobs(jq)
            await jq.enqueue_many(jobs)
            await wait_finished(jq, len(jobs), running, timeout=300)
            done = await succeeded(jq)
    if done != len(jobs):
        raise RuntimeError(f"{done} of {len(jobs)} jobs succeeded: the drain did not go as meant")
    first, last, attempts = await attempt_window(url)
    if attempts != len(jobs):
        raise RuntimeError(f"{attempts} attempts for {len(jobs)} jobs: one ran twice or never")
    return last - first


async def attempt_window(url: str) -> tuple[float, float, int]:
    """(first attempt's start, last attempt's end, attempts) as the store recorded them, in
    seconds since the epoch: the drain as the workers did it, whatever the polling here."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")

        def read() -> tuple[float, float, int]:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                first, last, n = conn.execute(
                    "SELECT min(started_at), max(finished_at), count(*) FROM attempts"
                ).fetchone()
            return first / 1e6, last / 1e6, n

        return await asyncio.to_thread(read)
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT extract(epoch FROM min(started_at)), extract(epoch FROM max(finished_at)), "
            "count(*) FROM attempts"
        )
        first, last, n = await cursor.fetchone()  # type: ignore[misc]
    return float(first), float(last), int(n)


# -- figures --------------------------------------------------------------------------------


def summary(values: Sequence[float], digits: int = 1) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), digits),
        "low": round(min(values), digits),
        "high": round(max(values), digits),
    }


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def noop_jobs(jq: JobQueue, count: int, **options: Any) -> list[Any]:
    return [jq.new_job("noop", {"n": n}, **options) for n in range(count)]


@dataclass(frozen=True, slots=True)
class Figure:
    """How to read one figure a workload reports."""

    unit: str
    #: throughput: more is better; a time or a size: less is
    higher_is_better: bool = True
    #: the W0 figure that bounds it (its fraction is printed beside it), if any
    ceiling: str | None = None
    digits: int = 1
