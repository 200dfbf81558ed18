"""Exactly-once claim across processes: 10,000 jobs, 50 concurrent claimers (each its own
connections) in 2 processes, on one SQLite file and on one PostgreSQL schema. Every job is
claimed exactly once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobq.domain.states import JobState
from jobq.store import open_store
from tests.contract.support import new
from tests.helpers import REPO

JOBS = 10_000
PROCESSES = 2
CLAIMERS_PER_PROCESS = 25

CLAIMER = r"""
import asyncio, json, os, sys, time
from jobq.store import PostgresOptions, open_store
from jobq.store.sqlite import SQLiteStore

async def connect(url):
    if url.startswith("sqlite:///"):
        return await SQLiteStore.open(url.removeprefix("sqlite:///"), busy_timeout=60)
    return await open_store(url, postgres=PostgresOptions(pool_size=1, connect_timeout=30))

async def main(url, out, count, tag):
    stores = [await connect(url) for _ in range(count)]
    open(out + ".ready", "w").close()  # the start barrier: all claimers begin together
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(os.path.dirname(out), "go")):
        assert time.monotonic() < deadline, "no go signal"
        await asyncio.sleep(0.005)

    async def drain(i):
        got = []
        while batch := await stores[i].claim(f"{tag}-{i}", queues=None, limit=10,
                                             lease_seconds=600):
            got.extend(job.id for job in batch)
        return got

    results = await asyncio.gather(*(drain(i) for i in range(count)))
    for store in stores:
        await store.close()
    with open(out, "w") as handle:
        json.dump([i for ids in results for i in ids], handle)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
"""


@pytest.mark.slow
async def test_every_job_is_claimed_exactly_once(tmp_path: Path, store_url: str) -> None:
    store = await open_store(store_url)
    try:
        for start in range(0, JOBS, 1000):
            await store.enqueue([new(payload={"i": i}) for i in range(start, start + 1000)])
        outputs = [tmp_path / f"claimed-{n}.json" for n in range(PROCESSES)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CLAIMER,
                    store_url,
                    str(out),
                    str(CLAIMERS_PER_PROCESS),
                    f"p{n}",
                ],
                cwd=REPO,
                stderr=subprocess.PIPE,
            )
            for n, out in enumerate(outputs)
        ]
        deadline = asyncio.get_running_loop().time() + 60
        while not all(Path(f"{out}.ready").exists() for out in outputs):
            assert all(p.poll() is None for p in procs), "a claimer process died at start"
            assert asyncio.get_running_loop().time() < deadline, "claimers did not get ready"
            await asyncio.sleep(0.01)
        (tmp_path / "go").touch()
        for proc in procs:
            _, err = await asyncio.to_thread(proc.communicate, timeout=100)
            assert proc.returncode == 0, err.decode()[-2000:]

        per_process = [json.loads(out.read_text()) for out in outputs]
        claimed = [job_id for ids in per_process for job_id in ids]
        assert len(claimed) == JOBS, "some job was claimed twice, or not at all"
        assert len(set(claimed)) == JOBS, "a job was claimed twice"
        assert all(per_process), "one process claimed nothing: the race was not a race"
        counts = {(c.queue, c.status): c.count for c in await store.counts()}
        assert counts == {("default", JobState.RUNNING): JOBS}
    finally:
        await store.close()
