"""``jobq schedules`` as real processes on a real SQLite file: a schedule made by the CLI is
fired by a running worker process; list, pause, resume, remove; bad input exits 2 and makes
nothing; an unknown name exits 1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jobq import JobQueue
from jobq.store import JobFilter
from tests.cli import Cli
from tests.helpers import JobqProcess, wait_for


@pytest.fixture
def cli(db_url: str) -> Cli:
    made = Cli(db_url)
    made.ok("migrate")
    return made


def names(cli: Cli, *extra: str) -> list[tuple[str, str, bool]]:
    return [(s["name"], s["source"], s["paused"]) for s in cli.json("schedules", "list", *extra)]


async def test_a_schedule_made_by_the_cli_is_fired_by_a_worker_and_can_be_paused(
    cli: Cli, db_url: str, tmp_path: Path, processes: list[JobqProcess]
) -> None:
    made = cli.ok(
        "schedules", "add", "every-second", "echo", "* * * * * *", "--payload", '{"n": 1}'
    )
    assert "made schedule 'every-second': Every second" in made.stdout
    worker = JobqProcess(
        ["worker", "--workers", "2"],
        env={"JOBQ_DATABASE_URL": db_url},
        log_path=tmp_path / "worker.log",
    )
    processes.append(worker)
    await worker.wait_event("schedule_fired", schedule="every-second", timeout=30)
    await worker.wait_event("job_succeeded", job_type="echo", timeout=30)
    assert cli.ok("schedules", "pause", "every-second").stdout.strip() == "paused 'every-second'"
    assert names(cli) == [("every-second", "stored", True)]

    async def jobs() -> int:
        jq = JobQueue(db_url)
        async with jq:
            return len((await jq.list_jobs(JobFilter(type="echo"), limit=1000)).jobs)

    # paused: within a reload (5 s) the worker stops even trying, and the store refuses at once
    await asyncio.sleep(1.5)
    paused_at = await jobs()
    await asyncio.sleep(2.5)
    assert await jobs() == paused_at
    assert (
        "resumed 'every-second'; next run" in cli.ok("schedules", "resume", "every-second").stdout
    )

    async def more() -> bool:
        return await jobs() > paused_at

    await wait_for(more, timeout=20, what="a job after resuming")
    table = cli.ok("schedules", "list").stdout
    assert "every-second" in table and "stored" in table and "active" in table
    assert cli.ok("schedules", "remove", "every-second").stdout.strip() == "removed 'every-second'"
    assert names(cli) == []


def test_app_schedules_are_listed_with_app(cli: Cli) -> None:
    listed = names(cli, "--app", "tests.apps.periodic:jq")
    assert listed == [("heartbeat.second", "code", False)]
    assert (
        cli("schedules", "remove", "heartbeat.second", "--app", "tests.apps.periodic:jq").returncode
        == 1
    )
    cli.ok("schedules", "pause", "heartbeat.second", "--app", "tests.apps.periodic:jq")
    assert names(cli, "--app", "tests.apps.periodic:jq") == [("heartbeat.second", "code", True)]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["bad name", "echo", "* * * * *"], "invalid NAME"),
        (["n", "echo", "61 * * * *"], "invalid CRON: invalid cron expression '61 * * * *'"),
        (["n", "echo", "* * * * *", "--timezone", "Mars/Base"], "invalid --timezone"),
        (["n", "nope", "* * * * *"], "invalid TYPE"),
        (["n", "echo", "* * * * *", "--payload", "[1]"], "--payload must be a JSON object"),
        (["n", "echo", "* * * * *", "--payload", "{"], "--payload is not valid JSON"),
        (["n", "echo", "* * * * *", "--catch-up", "0"], "invalid --catch-up"),
        (["n", "echo", "* * * * *", "--missed", "some"], "Invalid value for '--missed'"),
    ],
)
def test_bad_input_exits_2_and_makes_nothing(cli: Cli, args: list[str], says: str) -> None:
    result = cli("schedules", "add", *args)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert names(cli) == []


def test_unknown_names_and_taken_names_exit_1(cli: Cli) -> None:
    cli.ok("schedules", "add", "n", "echo", "0 7 * * *")
    taken = cli("schedules", "add", "n", "echo", "0 8 * * *")
    assert taken.returncode == 1 and "exists already" in taken.stderr
    for command in ("pause", "resume", "remove"):
        result = cli("schedules", command, "none")
        assert result.returncode == 1 and "no schedule is named 'none'" in result.stderr
