"""The API process SIGKILLed again and again under a stream of enqueues: every job it answered
201 for is in the store afterwards (the row is committed, SQLite with ``synchronous=FULL``,
before the answer goes out), and the SQLite file passes ``PRAGMA integrity_check``.

``jobq serve --workers 0`` (the API alone) listens on one fixed port; four clients post
``echo`` jobs as fast as it answers, each recording the id of every 201. The process is killed
at a random moment 0-0.5 s after its first 201, and started again on the same port;
requests in flight at a kill get no answer (their jobs may or may not exist: the client never
learnt). 50 kills per store in both tiers.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sqlite3
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from jobq import JobQueue
from tests.faults.checker import Kill, check, write_figures
from tests.faults.tier import tier
from tests.helpers import JobqProcess, wait_for
from tests.jobs import statuses

pytestmark = pytest.mark.slow

CLIENTS = 4
#: a kill comes this long (seconds, uniformly at random) after the process answered its first 201
KILL_AFTER = (0.0, 0.5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(300)
async def test_every_201_survives_sigkill_of_the_api(
    store_url: str,
    tmp_path: Path,
    processes: list[JobqProcess],
    request: pytest.FixtureRequest,
) -> None:
    kills_wanted = tier().api_kills
    port = free_port()
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    seed = rng.randrange(2**31)
    rng.seed(seed)

    def start(number: int) -> JobqProcess:
        process = JobqProcess(
            ["serve", "--workers", "0", "--port", str(port), "--db-connect-timeout", "2"],
            env={"JOBQ_DATABASE_URL": store_url},
            log_path=tmp_path / f"serve{number}.log",
        )
        processes.append(process)
        return process

    accepted: list[str] = []
    answers: Counter[int] = Counter()
    no_answer: Counter[str] = Counter()  # transport errors: a request cut by a kill, or refused
    cut_mid_request = 0  # requests sent to a process that was killed before it answered
    stop = asyncio.Event()
    kills: list[Kill] = []

    async def client(number: int) -> None:
        nonlocal cut_mid_request
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            n = 0
            while not stop.is_set():
                n += 1
                body = {"type": "echo", "payload": {"client": number, "n": n}}
                try:
                    answer = await http.post("/jobs", json=body)
                except httpx.TransportError as exc:
                    no_answer[type(exc).__name__] += 1
                    if not isinstance(exc, httpx.ConnectError):
                        cut_mid_request += 1  # it reached a process that died under it
                    await asyncio.sleep(0.02)
                    continue
                answers[answer.status_code] += 1
                if answer.status_code == 201:
                    accepted.append(answer.json()["id"])
                else:
                    assert answer.status_code == 503, answer.text

    began = time.monotonic()
    clients = [asyncio.create_task(client(i)) for i in range(CLIENTS)]
    accepted_at_kill: list[int] = []
    try:
        for number in range(kills_wanted):
            serve = start(number)
            await serve.wait_event("http_listening", timeout=30)

            def answered(before: int = len(accepted)) -> bool:
                return len(accepted) > before

            # killed only once it has accepted a job: under load, not while it starts
            await wait_for(answered, timeout=15, what="a 201 from the new process")
            await asyncio.sleep(rng.uniform(*KILL_AFTER))
            assert serve.proc.poll() is None, serve.log_text()[-3000:]
            kills.append(Kill(serve.pid))
            os.kill(serve.pid, signal.SIGKILL)
            assert await serve.wait_exit(10) == -signal.SIGKILL
            accepted_at_kill.append(len(accepted))
        # One last process, left running: the clients see it answer, then stop.
        last = start(kills_wanted)
        await last.wait_event("http_listening", timeout=30)
        answered_before = len(accepted)
        await wait_for(
            lambda: len(accepted) > answered_before, timeout=15, what="a 201 from the last one"
        )
    finally:
        stop.set()
        await asyncio.gather(*clients, return_exceptions=True)
    for task in clients:
        task.result()  # an assertion in a client fails the test here
    elapsed = time.monotonic() - began
    last.signal(signal.SIGTERM)
    assert await last.wait_exit(30) == 0, last.log_text()[-3000:]

    async with JobQueue(store_url, accept_unknown_types=True) as reader:
        verdict = await check(reader.store, [], accepted=accepted, kills=kills)
        stored = {state.value: count for state, count in (await statuses(reader)).items()}
    total_rows = sum(stored.values())
    integrity = None
    if store_url.startswith("sqlite"):
        path = store_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            [(integrity,)] = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()

    figures = {
        **verdict.figures,
        # --workers 0 runs nothing: every job stays pending by design, so "stuck" counts them
        "stuck": None,
        "pending": stored.get("pending", 0),
        "seed": seed,
        "kills": len(kills),
        "accepted": len(accepted),
        "rows": total_rows,
        "rows_never_answered": total_rows - len(set(accepted)),
        "answers": {str(k): v for k, v in sorted(answers.items())},
        "no_answer": dict(no_answer),
        "cut_mid_request": cut_mid_request,
        "integrity": integrity,
        "seconds": round(elapsed, 1),
    }
    write_figures(figures, request)

    assert len(kills) == kills_wanted
    assert len(set(accepted)) == len(accepted)
    # Every process accepted jobs before its kill (the test waited for that).
    assert all(b > a for a, b in zip([0, *accepted_at_kill], accepted_at_kill, strict=False))
    assert verdict.figures["lost"] == 0, verdict.sample("lost")
    assert answers.keys() <= {201, 503}, answers
    # A row the client never heard of can only come from a request cut by a kill.
    assert 0 <= total_rows - len(accepted) <= cut_mid_request
    if integrity is not None:
        assert integrity == "ok"
