"""Cancelling many jobs at once: ``jq.cancel_many``, ``POST /jobs/cancel`` and ``jobq jobs
cancel-many`` cancel the jobs of a type, a queue or a state, bounded by a limit and reported;
a running job among them has its attempt recorded as cancelled; bad input changes nothing."""

from __future__ import annotations

import httpx
import pytest

from jobq.domain.ids import PoolId
from jobq.domain.job import Outcome
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.store.claim import ClaimRequest
from tests.cli import Cli
from tests.helpers import live_server


async def statuses(jq: JobQueue) -> dict[tuple[str, str], dict[str, int]]:
    """(type, queue) -> status -> jobs."""
    found: dict[tuple[str, str], dict[str, int]] = {}
    page = await jq.list_jobs(limit=1000)
    for job in page.jobs:
        row = found.setdefault((job.type, job.queue), {})
        row[job.status.value] = row.get(job.status.value, 0) + 1
    return found


async def test_cancel_many_is_bounded_reported_and_leaves_the_rest(jq: JobQueue) -> None:
    await jq.enqueue_many([jq.new_job("echo", {"n": n}, queue="q1") for n in range(5)])
    await jq.enqueue_many([jq.new_job("sleep", {"seconds": 0}, queue="q1") for n in range(3)])
    await jq.enqueue("echo", {}, queue="q2")
    # one echo of q1 runs (claimed by a pool that is not there: its lease holds)
    [running] = await jq.store.claims.claim(
        ClaimRequest(owner=PoolId("p"), limit=1, lease_seconds=60, types=("echo",), queues=("q1",))
    )

    first = await jq.cancel_many(job_type="echo", queue="q1", limit=3)
    assert (first.cancelled, first.more) == (3, True)
    rest = await jq.cancel_many(job_type="echo", queue="q1")
    assert (rest.cancelled, rest.more) == (2, False)
    assert await statuses(jq) == {
        ("echo", "q1"): {"cancelled": 5},
        ("sleep", "q1"): {"pending": 3},
        ("echo", "q2"): {"pending": 1},
    }
    [attempt] = await jq.attempts(running.id)
    assert attempt.outcome is Outcome.CANCELLED
    nothing = await jq.cancel_many(job_type="echo", queue="q1")
    assert (nothing.cancelled, nothing.more) == (0, False)
    by_state = await jq.cancel_many(status=JobState.PENDING, queue="q1")
    assert by_state.cancelled == 3


async def test_bad_requests_change_nothing(jq: JobQueue) -> None:
    await jq.enqueue("echo", {})
    for bad, said in (
        ({}, "say which jobs"),
        ({"status": JobState.SUCCEEDED}, "cannot be cancelled"),
        ({"job_type": "echo", "limit": 0}, "limit must be"),
        ({"job_type": "echo", "limit": 10_001}, "limit must be"),
    ):
        with pytest.raises(ValueError, match=said):
            await jq.cancel_many(**bad)  # type: ignore[arg-type]
    async with live_server(jq) as url, httpx.AsyncClient(base_url=url) as http:
        for body in (
            {},
            {"status": "succeeded"},
            {"type": "echo", "limit": 0},
            {"type": "no spaces"},
            {"type": "echo", "extra": 1},
        ):
            answer = await http.post("/jobs/cancel", json=body)
            assert answer.status_code == 422, (body, answer.text)
        assert (await http.get("/jobs/cancel")).status_code == 405
        assert await statuses(jq) == {("echo", "default"): {"pending": 1}}
        done = await http.post("/jobs/cancel", json={"type": "echo", "limit": 5})
        assert done.status_code == 200, done.text
        assert done.json() == {"cancelled": 1, "more": False}


def test_the_command_line(db_url: str) -> None:
    cli = Cli(db_url)
    cli.ok("migrate")
    for n in range(3):
        cli.ok("enqueue", "echo", f'{{"n": {n}}}')
    refused = cli("jobs", "cancel-many")
    assert refused.returncode == 2 and "say which jobs" in refused.stderr
    assert cli.json("jobs", "cancel-many", "--type", "echo", "--limit", "2") == {
        "cancelled": 2,
        "more": True,
    }
    assert cli.ok("jobs", "cancel-many", "--status", "pending").stdout.strip() == (
        "cancelled 1 jobs"
    )
