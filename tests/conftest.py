"""Shared fixtures. Every store test runs against a real database file; the ``store`` fixture is
parametrised by backend so one suite holds every store to the same behaviour."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from jobq.clock import FakeClock
from jobq.jobqueue import JobQueue
from jobq.store import Store
from jobq.store.sqlite import SQLiteStore
from tests.helpers import JobqProcess

BACKENDS = ["sqlite"]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "jobq.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"  # an absolute path: sqlite:////tmp/.../jobq.db


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, db_path: Path, clock: FakeClock
) -> AsyncIterator[Store]:
    """A fresh, migrated store on a fake clock: tests move time instead of sleeping."""
    assert request.param == "sqlite"
    opened = await SQLiteStore.open(str(db_path), clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def jq(db_url: str) -> AsyncIterator[JobQueue]:
    """A JobQueue on a fresh database, on the real clock, with the built-in types."""
    queue = JobQueue(db_url)
    async with queue:
        yield queue


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[JobqProcess]]:
    """Collects the jobq subprocesses a test starts and kills, by PID, any still running."""
    started: list[JobqProcess] = []
    yield started
    for process in started:
        process.stop()
