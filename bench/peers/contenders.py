"""Who runs in the peer benchmark, on which store, and how each one's worker processes and
client driver are started. Every contender gets a fresh database for every workload: a new
PostgreSQL database (``CREATE DATABASE``) or a new SQLite file."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import harness
from bench.peers import venvs

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Contender:
    name: str
    store: str  # "postgres" or "sqlite"
    distribution: str  # whose version is printed
    venv: str | None  # a peer's environment (``venvs``); None: this checkout's own
    driver: tuple[str, ...]  # after the interpreter: the client driver
    #: (target, workers per process) -> the arguments of one worker process after the
    #: interpreter; a target is a PostgreSQL URL or a SQLite file path
    worker: Callable[[str, int], list[str]]
    #: the environment both need, given the target
    env: Callable[[str], dict[str, str]]
    settings: str  # said beside the figures

    def python(self) -> Path:
        return Path(sys.executable) if self.venv is None else venvs.python_of(self.venv)

    def version(self) -> str:
        return venvs.version_of(self.python(), self.distribution)


def _jobq_env(target: str) -> dict[str, str]:
    url = target if target.startswith("postgresql") else f"sqlite:///{target}"
    return {"JOBQ_DATABASE_URL": url, "JOBQ_LOG_LEVEL": "WARNING", "PYTHONPATH": str(harness.ROOT)}


def _jobq_worker(target: str, concurrency: int) -> list[str]:
    return ["-m", "jobq", "worker", "--app", "bench.peers.driver_jobq:jq", "--workers",
            str(concurrency)]  # fmt: skip


def _pgqueuer_env(target: str) -> dict[str, str]:
    return {"PGDSN": target, "PYTHONPATH": str(HERE)}


def _pgqueuer_worker(target: str, concurrency: int) -> list[str]:
    return ["-m", "driver_pgqueuer", "work"]


def _huey_env(target: str) -> dict[str, str]:
    return {"BENCH_HUEY_FILE": target, "PYTHONPATH": str(HERE)}


def _huey_worker(target: str, concurrency: int) -> list[str]:
    return ["-m", "huey.bin.huey_consumer", "huey_app.huey", "--workers", str(concurrency),
            "--worker-type", "thread", "--quiet"]  # fmt: skip


JOBQ_POSTGRES = Contender(
    name="jobq",
    store="postgres",
    distribution="jobq",
    venv=None,
    driver=("-m", "bench.peers.driver_jobq"),
    worker=_jobq_worker,
    env=_jobq_env,
    settings="defaults (`jobq worker --workers 10`), log level WARNING",
)
JOBQ_SQLITE = Contender(**{**JOBQ_POSTGRES.__dict__, "store": "sqlite"})
PGQUEUER = Contender(
    name="PgQueuer",
    store="postgres",
    distribution="pgqueuer",
    venv="pgqueuer",
    driver=("-m", "driver_pgqueuer"),
    worker=_pgqueuer_worker,
    env=_pgqueuer_env,
    settings="asyncpg, `pgqueuer.run` on uvloop as `pgq run` (batch size 10), 10 handlers at "
    "once per process, log level WARNING",
)
HUEY = Contender(
    name="Huey",
    store="sqlite",
    distribution="huey",
    venv="huey",
    driver=("-m", "driver_huey"),
    worker=_huey_worker,
    env=_huey_env,
    settings="`SqliteHuey(fsync=True)`, `huey_consumer -w 10 -k thread --quiet`",
)
#: each store's pair: jobq first, then the peer it is measured against
PAIRS = {"postgres": (JOBQ_POSTGRES, PGQUEUER), "sqlite": (JOBQ_SQLITE, HUEY)}


@contextlib.asynccontextmanager
async def fresh_target(store: str) -> AsyncIterator[str]:
    """A new, empty database: a PostgreSQL URL or a SQLite file path."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory(prefix="jobq-peers-") as directory:
            yield str(Path(directory) / "bench.db")
        return
    import psycopg

    dsn = harness.postgres_dsn()
    name = f"jobq_peers_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
        await admin.execute(f"CREATE DATABASE {name}")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            await admin.execute("CHECKPOINT")
    try:
        yield urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))
    finally:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
