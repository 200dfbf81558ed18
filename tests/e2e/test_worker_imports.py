"""A real ``jobq worker`` process never loads FastAPI, Starlette or uvicorn; ``jobq serve`` does,
and serves. A handler in the process itself says what is loaded (tests/apps/web_modules.py)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobq import JobQueue, JobState
from tests.apps.web_modules import WEB
from tests.apps.web_modules import jq as web_modules_app
from tests.helpers import JobqProcess

pytestmark = pytest.mark.slow

APP = "tests.apps.web_modules:jq"


async def run_in(
    command: list[str], db_url: str, tmp_path: Path, processes: list[JobqProcess]
) -> tuple[Any, JobqProcess]:
    """Enqueue one job for the handler, start ``jobq COMMAND`` with it, wait for the job to end;
    its result, and the process (still running)."""
    async with JobQueue(db_url, registry=web_modules_app.registry, builtins=False) as jq:
        job = await jq.enqueue("web.modules", {})
        process = JobqProcess(
            [*command, "--workers", "1", "--poll-interval", "0.1", "--app", APP],
            env={"JOBQ_DATABASE_URL": db_url},
            log_path=tmp_path / f"{command[0]}.log",
        )
        processes.append(process)
        done = await jq.wait(job.id, timeout=30)
    assert done.status is JobState.SUCCEEDED, process.log_text()[-3000:]
    return done.result, process


async def test_a_worker_process_loads_no_web_framework(
    db_url: str, tmp_path: Path, processes: list[JobqProcess]
) -> None:
    result, worker = await run_in(["worker"], db_url, tmp_path, processes)
    assert result == []
    worker.signal(signal.SIGTERM)
    assert await worker.wait_exit(20) == 0


async def test_serve_loads_them_and_serves(
    db_url: str, tmp_path: Path, processes: list[JobqProcess]
) -> None:
    result, serve = await run_in(["serve", "--port", "0"], db_url, tmp_path, processes)
    assert result == sorted(WEB)  # the handler sees them where they are loaded
    port = await serve.port()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        assert (await http.get("/health")).status_code == 200
    serve.signal(signal.SIGTERM)
    assert await serve.wait_exit(20) == 0
