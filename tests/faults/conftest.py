"""Fixtures of the fault tests that run the ledger handlers in real worker processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jobq import JobQueue
from tests.e2e.ledger_fleet import Launch, launcher, ledger_queue
from tests.helpers import JobqProcess


@pytest.fixture
async def producer(store_url: str) -> AsyncIterator[JobQueue]:
    """The test's own JobQueue on the store under test, knowing the ledger handlers."""
    async with ledger_queue(store_url) as queue:
        yield queue


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """The ledger file every worker process of the test appends to."""
    return tmp_path / "ledger.jsonl"


@pytest.fixture
def launch(processes: list[JobqProcess], tmp_path: Path, store_url: str, ledger: Path) -> Launch:
    """Starts ``jobq <command>`` with the ledger handlers; the ``processes`` fixture ends it."""
    return launcher(processes, tmp_path, store_url, ledger)
