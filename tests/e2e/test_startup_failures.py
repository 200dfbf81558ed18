"""Start-up failures that are not bad setting values: a clear log line and exit 1, no traceback."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import httpx

from tests.helpers import JobqProcess


async def test_a_port_in_use_is_a_clear_error(
    processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        serve = JobqProcess(
            ["serve", "--port", str(port)],
            env={"JOBQ_DATABASE_URL": db_url},
            log_path=tmp_path / "serve.log",
        )
        processes.append(serve)
        assert await serve.wait_exit(20) == 1
    finally:
        taken.close()
    [failed] = serve.find("startup_failed")
    assert f"cannot listen on 127.0.0.1:{port}" in failed["error"]
    assert "Traceback" not in serve.log_text()
    assert not serve.find("store_opened"), "nothing may start before the port is bound"


async def test_a_database_in_a_missing_directory_is_a_clear_error(
    processes: list[JobqProcess], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/missing/dir/jobq.db"
    worker = JobqProcess(
        ["worker"], env={"JOBQ_DATABASE_URL": url}, log_path=tmp_path / "worker.log"
    )
    processes.append(worker)
    assert await worker.wait_exit(20) == 1
    [failed] = worker.find("startup_failed")
    assert "is not a directory" in failed["error"]
    assert "Traceback" not in worker.log_text()


async def test_serve_with_no_workers_answers_but_runs_nothing(
    processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    serve = JobqProcess(
        ["serve", "--port", "0", "--workers", "0"],
        env={"JOBQ_DATABASE_URL": db_url},
        log_path=tmp_path / "serve.log",
    )
    processes.append(serve)
    port = await serve.port()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        created = await http.post("/jobs", json={"type": "echo", "payload": {"n": 1}})
        assert created.status_code == 201
        # Nothing to wait for: what is asserted is that nothing happens. A pool in this process
        # would be woken by the enqueue itself and run an echo job in milliseconds; 1.5 s is
        # also longer than a poll interval (1 s by default), the latest it could notice it.
        await asyncio.sleep(1.5)
        job = (await http.get(f"/jobs/{created.json()['id']}")).json()
        assert job["status"] == "pending"
        assert (await http.get("/stats")).json()["workers"] is None
    assert not serve.find("pool_started")
    serve.signal(signal.SIGTERM)
    assert await serve.wait_exit(20) == 0
