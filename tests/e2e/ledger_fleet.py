"""Real jobq processes running the ledger handlers (tests/apps/ledger.py) on one database, and
the test's own JobQueue beside them: shared by the crash, signal and fleet tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from jobq import JobQueue
from tests.apps.ledger import jq as ledger_app
from tests.helpers import JobqProcess

APP = "tests.apps.ledger:jq"
Launch = Callable[[str, str], JobqProcess]


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
