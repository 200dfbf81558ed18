"""A mixed fleet: one service's processes run ``mail.*``, another's ``video.*``, on the same
queue. Each process claims only the types it has handlers for; a job no live process can run
waits ``pending`` (never ``dead``), and ``jobq stats``, ``jobq top`` and ``/stats`` say which
type has no worker.

Tried as a new user would (issue 13): a pool claimed by queue, and a job whose type the claiming
process had no handler for became ``dead`` (``unknown_type``): the two services killed each
other's jobs."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from jobq import JobQueue
from jobq.domain.states import JobState
from jobq.registry import Registry
from tests.apps.ledger import read_ledger
from tests.apps.mixed import mail, video
from tests.cli import clean_env, run_jobq
from tests.fleet import broken
from tests.helpers import JobqProcess

pytestmark = pytest.mark.slow


def service(
    processes: list[JobqProcess], tmp_path: Path, url: str, ledger: Path, app: str
) -> JobqProcess:
    pool = " --db-pool-size 4" if url.startswith("postgres") else ""
    process = JobqProcess(
        [*f"worker --workers 2 --poll-interval 0.2{pool}".split(), "--app", app],
        env={"JOBQ_DATABASE_URL": url, "JOBQ_TEST_LEDGER": str(ledger)},
        log_path=tmp_path / f"{app.rsplit(':', 1)[1]}.log",
    )
    processes.append(process)
    return process


async def test_each_service_runs_only_its_types_and_none_is_killed(
    processes: list[JobqProcess], tmp_path: Path, store_url: str, ledger: Path
) -> None:
    both = Registry()
    both.include(mail.registry)
    both.include(video.registry)
    mailer = service(processes, tmp_path, store_url, ledger, "tests.apps.mixed:mail")
    encoder = service(processes, tmp_path, store_url, ledger, "tests.apps.mixed:video")
    async with JobQueue(store_url, registry=both, builtins=False) as producer:
        jobs = [await producer.enqueue(t) for t in ("mail.send", "video.encode") * 10]
        for job in jobs:
            done = await producer.wait(job.id, timeout=30)
            assert done.status is JobState.SUCCEEDED and done.attempt == 1, done

        ran = Counter((r["pid"], r["type"]) for r in read_ledger(ledger))
        assert ran == {(mailer.pid, "mail.send"): 10, (encoder.pid, "video.encode"): 10}

        # The video service goes away; its jobs wait, and every view says why.
        encoder.signal(signal.SIGTERM)
        assert await encoder.wait_exit(20) == 0
        waiting = [await producer.enqueue("video.encode") for _ in range(3)]
        sent = await producer.enqueue("mail.send")
        assert (await producer.wait(sent.id, timeout=30)).status is JobState.SUCCEEDED
        for job in waiting:
            assert (await producer.get(job.id)).status is JobState.PENDING
            assert await producer.attempts(job.id) == []  # never claimed, never failed

        env = clean_env({"JOBQ_DATABASE_URL": store_url})
        stats = run_jobq(["stats"], env)
        assert stats.returncode == 0, stats.stderr
        row = next(line for line in stats.stdout.splitlines() if line.startswith("video.encode"))
        assert row.split()[1] == "3" and row.split()[-1] == "3"  # due, and no worker for them
        assert "warning: no worker for `video.encode`: 3 waiting, oldest" in stats.stderr
        top = run_jobq(["top", "--once"], env)
        assert top.returncode == 0, top.stderr
        assert "Waiting by type" in top.stdout
        assert "no worker for `video.encode`: 3 waiting" in top.stdout

        # A video process comes back: the waiting jobs run there.
        again = service(processes, tmp_path, store_url, ledger, "tests.apps.mixed:video")
        for job in waiting:
            done = await producer.wait(job.id, timeout=30)
            assert done.status is JobState.SUCCEEDED and done.result == "encoded"
        assert {
            r["pid"] for r in read_ledger(ledger) if r["job_id"] in {j.id for j in waiting}
        } == {again.pid}
    assert broken([mailer, encoder, again]) == {}
