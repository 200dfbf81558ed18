"""W12, typed jobs: what checking a payload of ten fields against its type's schema at submit
costs, as 20,000 jobs go in, 1,000 per batch (W1's shape):

- ``python_plain`` / ``python_typed`` / ``python_schema``: jobs/s through the Python API
  (``new_job`` for each job, then ``enqueue_many`` per batch): a type that takes a dict
  (nothing checked), one whose handler takes a pydantic model (pydantic checks it and dumps it
  back with its defaults), one with a JSON Schema (``jsonschema_rs`` checks it, jobq fills in
  its defaults: what a process without the code does);
- ``http_plain`` / ``http_typed``: jobs/s through ``POST /jobs/batch`` on a ``jobq serve``
  that has the code; ``http_published``: on one started without it (no ``--app``), which
  checks against the schema a worker process published (that worker works another queue);
- ``*_share``: each checked figure over its unchecked one. The goal: 80 % or more.

This VM's speed moves by 10-20 % from one second to the next, more than the checks cost: each
figure is the best of ``TRIES`` runs, the kinds taking turns (plain, typed, schema, plain...),
each run on a fresh database.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench import harness
from bench.app import ten_fields
from bench.throughput import BATCH, BATCHES

FIGURES = {
    "python_plain": harness.Figure("jobs/s", ceiling="insert_1000"),
    "python_typed": harness.Figure("jobs/s", ceiling="insert_1000"),
    "python_typed_share": harness.Figure("%", digits=0),
    "python_schema": harness.Figure("jobs/s", ceiling="insert_1000"),
    "python_schema_share": harness.Figure("%", digits=0),
    "http_plain": harness.Figure("jobs/s", ceiling="insert_1000"),
    "http_typed": harness.Figure("jobs/s", ceiling="insert_1000"),
    "http_typed_share": harness.Figure("%", digits=0),
    "http_published": harness.Figure("jobs/s", ceiling="insert_1000"),
    "http_published_share": harness.Figure("%", digits=0),
}


async def python_enqueue(url: str, job_type: str) -> float:
    """Jobs/s through ``new_job`` (the check) and ``enqueue_many``, 1,000 per call."""
    payloads = [[ten_fields(b * BATCH + n) for n in range(BATCH)] for b in range(BATCHES)]
    async with harness.queue(url) as jq:
        started = time.perf_counter()
        for batch in payloads:
            await jq.enqueue_many([jq.new_job(job_type, payload) for payload in batch])
        return BATCHES * BATCH / (time.perf_counter() - started)


async def http_enqueue(base: str, job_type: str) -> float:
    bodies = [
        {"jobs": [{"type": job_type, "payload": ten_fields(b * BATCH + n)} for n in range(BATCH)]}
        for b in range(BATCHES)
    ]
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        started = time.perf_counter()
        for body in bodies:
            response = await client.post("/jobs/batch", json=body)
            if response.status_code != 201:
                raise RuntimeError(f"POST /jobs/batch: {response.status_code} {response.text}")
        return BATCHES * BATCH / (time.perf_counter() - started)


async def with_code(url: str, job_type: str) -> float:
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    with harness.processes([harness.api(url, port)]) as (server,):
        await harness.wait_http(base, server)
        return await http_enqueue(base, job_type)


async def without_code(url: str) -> float:
    """``POST /jobs/batch`` of ``typed10`` on an API without the code, once a worker process
    (of another queue: it runs none of them) has published the type."""
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    worker = harness.spawn(
        ["worker", "--app", "bench.app:registry", "--workers", "1", "--queues", "elsewhere"], url
    )
    server = harness.spawn(
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "0"], url
    )
    with harness.processes([worker, server]):
        await harness.wait_http(base, server)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for _ in range(600):
                worker.check_alive()
                answer = (await client.get("/types/typed10")).json()
                if answer.get("payload_schema") and answer.get("processes"):
                    break
                await asyncio.sleep(0.05)
            else:
                raise TimeoutError("the worker did not publish typed10 within 30 s")
        return await http_enqueue(base, "typed10")


def share(figures: dict[str, float], checked: str, plain: str) -> None:
    figures[f"{checked}_share"] = 100 * figures[checked] / figures[plain]


TRIES = 3


async def run(store: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    python = (("plain", "plain10"), ("typed", "typed10"), ("schema", "schema10"))
    for _ in range(TRIES):
        for name, job_type in python:
            async with harness.database(store) as url:
                rate = await python_enqueue(url, job_type)
            figures[f"python_{name}"] = max(rate, figures.get(f"python_{name}", 0.0))
    for _ in range(TRIES):
        for name in ("plain", "typed", "published"):
            async with harness.database(store) as url:
                rate = await (
                    without_code(url) if name == "published" else with_code(url, f"{name}10")
                )
            figures[f"http_{name}"] = max(rate, figures.get(f"http_{name}", 0.0))
    share(figures, "python_typed", "python_plain")
    share(figures, "python_schema", "python_plain")
    share(figures, "http_typed", "http_plain")
    share(figures, "http_published", "http_plain")
    return figures
