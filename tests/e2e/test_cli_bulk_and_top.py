"""The friendlier command line: a JSON-lines file enqueued in batches with every refused line
named; `jobq top`; the spinner of `enqueue --wait` on a terminal; quiet one-shot commands."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jobq.cli.top import MINUTES
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from tests.fleet import APP, Launch
from tests.helpers import REPO


@pytest.fixture
def fleet_url(db_url: str) -> str:
    """The worker processes share the SQLite file the CLI commands here are given."""
    return db_url


def jobq(db_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobq", *args, "--database-url", db_url],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "JOBQ_LOG_FORMAT": "json"},
    )


LINES = [
    '{"type": "echo", "payload": {"n": 1}}',
    "",
    "not json at all",
    '{"type": "no.such.type"}',
    '{"type": "echo", "priority": 99999}',
    '{"type": "echo", "idempotency_key": "k", "payload": {"a": 1}}',
    '{"type": "echo", "idempotency_key": "k", "payload": {"a": 2}}',
    '{"type": "echo", "idempotency_key": "k", "payload": {"a": 1}}',
    '{"type": "sleep", "payload": {"seconds": 1}, "colour": "red"}',
    '{"type": "echo", "queue": "mail"}',
    '{"type": "echo", "payload": {"huge": 1e400}}',
]


async def test_a_file_is_enqueued_and_every_refused_line_is_named(
    tmp_path: Path, db_url: str
) -> None:
    source = tmp_path / "jobs.jsonl"
    source.write_text("\n".join(LINES) + "\n")
    first = jobq(db_url, "enqueue", "--from-file", str(source))
    assert first.returncode == 1  # some lines were refused
    assert first.stdout.strip() == "3 enqueued, 1 already there, 6 refused"
    refused = [line for line in first.stderr.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in refused] == [
        "line 3", "line 4", "line 5", "line 7", "line 9", "line 11",
    ]  # fmt: skip
    assert "not valid JSON" in refused[0]
    assert "unknown job type 'no.such.type'" in refused[1]
    assert "priority" in refused[2]
    assert "idempotency key 'k'" in refused[3] and "differs in payload" in refused[3]
    assert "colour" in refused[4]
    assert "not JSON-serializable" in refused[5]  # refused by the store: the batch went in
    assert "job_enqueued" not in first.stderr  # one-shot commands log warnings only

    again = jobq(db_url, "enqueue", "--from-file", "-", "--json", stdin=source.read_text())
    report = json.loads(again.stdout)
    assert report["created"] == 2 and report["existing"] == 2  # only the keyed job is not new
    assert [r["line"] for r in report["rejected"]] == [3, 4, 5, 7, 9, 11]

    async with JobQueue(db_url) as queue:
        counts = {(c.queue, c.status): c.count for c in await queue.store.reads.counts()}
    assert counts == {("default", JobState.PENDING): 3, ("mail", JobState.PENDING): 2}


async def test_a_clean_file_exits_0_and_a_big_one_goes_in_batches(
    tmp_path: Path, db_url: str
) -> None:
    source = tmp_path / "many.jsonl"
    source.write_text(
        "".join(json.dumps({"type": "echo", "payload": {"i": i}}) + "\n" for i in range(1234))
    )
    done = jobq(db_url, "enqueue", "--from-file", str(source))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1234 enqueued, 0 already there, 0 refused"
    async with JobQueue(db_url) as queue:
        [count] = await queue.store.reads.counts()
    assert count.count == 1234


def test_a_file_with_a_byte_order_mark_reads_its_first_line(tmp_path: Path, db_url: str) -> None:
    source = tmp_path / "bom.jsonl"
    source.write_bytes(b'\xef\xbb\xbf{"type": "echo"}\r\n{"type": "echo"}\r\n')
    done = jobq(db_url, "enqueue", "--from-file", str(source))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2 enqueued, 0 already there, 0 refused"


def test_from_file_refuses_a_type_argument(tmp_path: Path, db_url: str) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text('{"type": "echo"}\n')
    mixed = jobq(db_url, "enqueue", "echo", "--from-file", str(source))
    assert mixed.returncode == 2 and "--from-file takes no TYPE" in mixed.stderr
    missing = jobq(db_url, "enqueue")
    assert missing.returncode == 2 and "give a job TYPE" in missing.stderr


async def test_top_once_shows_queues_processes_and_throughput(
    launch: Launch, producer: JobQueue, db_url: str
) -> None:
    worker = launch("worker", "worker --workers 3 --poll-interval 0.05")
    await worker.wait_event("pool_started")
    enqueued = [await producer.enqueue("ledger.sleep", {"seconds": 0}) for _ in range(4)]
    done = [await producer.wait(job.id, timeout=20) for job in enqueued]
    await producer.enqueue("ledger.sleep", {"seconds": 0}, queue="later", delay=3600)
    shown = jobq(db_url, "top", "--once")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "Queues" in text and "Worker processes" in text
    default_row = next(line for line in text.splitlines() if "│ default" in line)
    assert default_row.split("│")[4].strip() == "4"  # the succeeded column
    assert f":{worker.pid}:" in text and "0/3" in text
    # "this minute" is top's own wall-clock minute: the four may straddle a minute boundary
    clock = re.search(r"^(\d\d):(\d\d):\d\d UTC$", text, re.MULTILINE)
    assert clock is not None, text
    this_minute = (int(clock[1]), int(clock[2]))
    ended = [job.finished_at for job in done if job.finished_at is not None]
    assert len(ended) == 4
    expected = sum(1 for at in ended if (at.hour, at.minute) == this_minute)
    assert re.search(rf"succeeded .{{{MINUTES}}} {expected}/min", text), text
    assert "nothing waiting" in text  # the delayed job is not due


async def test_wait_on_a_terminal_shows_a_spinner_then_the_outcome(
    launch: Launch, db_url: str
) -> None:
    worker = launch("worker", "worker --workers 1 --poll-interval 0.05")
    await worker.wait_event("pool_started")
    primary, secondary = os.openpty()  # stderr is a terminal; stdout a pipe
    try:
        waited = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jobq", "enqueue", "ledger.progress",
            '{"seconds": 1, "message": "reading [/data/in.csv] [bold]halfway there"}',
            "--wait", "--app", APP, "--database-url", db_url,
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=secondary,
            env={**os.environ, "TERM": "xterm", "COLUMNS": "200"},
        )  # fmt: skip
        os.close(secondary)
        out, _ = await asyncio.wait_for(waited.communicate(), 60)
        screen = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(primary)
    assert waited.returncode == 0
    assert out.decode().strip() == '"finished"'
    text = screen.decode(errors="replace")
    # the spinner followed the job's progress, its message shown as text, never as markup
    assert "reading [/data/in.csv] [bold]halfway there" in text
    assert "succeeded" in text.splitlines()[-1] or "succeeded" in text[-300:]
