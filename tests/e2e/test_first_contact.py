"""What a new user met the first time they tried jobq (issue 14), kept as regression tests with
the real ``jobq`` command, run in a directory of the test's own as a user's project would be."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import psycopg
import pytest

from jobq import JobQueue
from jobq.domain.states import JobState
from tests.cli import clean_env, describe, run_jobq
from tests.helpers import REPO, JobqProcess, wait_for

#: a user's module: a JobQueue that names its database, and one handler of its own
APP = """
from jobq import JobQueue

jq = JobQueue({url!r})


@jq.job("thumbnail")
async def thumbnail(payload, ctx):
    return {{"made": payload.get("name")}}
"""


def jobq_in(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``jobq ARGS`` in ``project``, with no jobq setting from the test's environment."""
    return run_jobq(args, clean_env(env), cwd=project)


def write_app(project: Path, url: str) -> None:
    (project / "trial.py").write_text(textwrap.dedent(APP.format(url=url)))


async def start_worker(
    project: Path, processes: list[JobqProcess], url: str | None, *args: str
) -> JobqProcess:
    """``jobq worker ARGS`` in ``project`` (on ``url``, or the database its app names), once
    its presence row says it is up."""
    env = clean_env({} if url is None else {"JOBQ_DATABASE_URL": url})
    worker = JobqProcess(["worker", *args], env=env, log_path=project / "worker.log", cwd=project)
    processes.append(worker)
    async with JobQueue(url or f"sqlite:///{project / 'jobq.db'}") as jq:

        async def present() -> bool:
            assert worker.proc.poll() is None, worker.log_text()[-2000:]
            return bool(await jq.store.reads.processes(max_age=60))

        await wait_for(present, timeout=30, what="the worker process's presence")
    return worker


def stored_jobs(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])


# -- 2. the app's database URL ---------------------------------------------------------------


def test_the_app_s_database_is_used_when_no_setting_names_one(tmp_path: Path) -> None:
    app_db = tmp_path / "app.db"
    write_app(tmp_path, f"sqlite:///{app_db}")
    done = jobq_in(tmp_path, "enqueue", "thumbnail", '{"name": "a.png"}', "--app", "trial:jq")
    assert done.returncode == 0, describe(done)
    assert stored_jobs(app_db) == 1
    assert not (tmp_path / "jobq.db").exists()  # before: a new local file took the job
    shown = jobq_in(tmp_path, "config", "--json", "--app", "trial:jq")
    assert shown.returncode == 0, describe(shown)
    assert f'"sqlite:///{app_db}"' in shown.stdout and '"app trial:jq"' in shown.stdout


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_worker_runs_the_jobs_of_the_postgresql_database_its_app_names(
    tmp_path: Path, pg_url: str, processes: list[JobqProcess]
) -> None:
    """The issue's story: ``jq = JobQueue("postgresql://.../trial")`` run by ``jobq worker
    --app mod:jq`` logged ``sqlite:///jobq.db`` and worked on a new local file."""
    write_app(tmp_path, pg_url)
    worker = JobqProcess(
        ["worker", "--workers", "1", "--app", "trial:jq"],
        env=clean_env(),
        log_path=tmp_path / "worker.log",
        cwd=tmp_path,
    )
    processes.append(worker)
    opened = await worker.wait_event("store_opened", timeout=30)
    assert str(opened["database_url"]).startswith("postgresql://"), opened
    async with JobQueue(pg_url, accept_unknown_types=True) as producer:
        job = await producer.enqueue("thumbnail", {"name": "b.png"})

        async def done() -> bool:
            return (await producer.get(job.id)).status is JobState.SUCCEEDED

        await wait_for(done, timeout=30, what="the worker to run the app's job")
    assert not (tmp_path / "jobq.db").exists()


def test_a_setting_naming_another_database_than_the_app_exits_2(tmp_path: Path) -> None:
    app_db, other_db = tmp_path / "app.db", tmp_path / "other.db"
    write_app(tmp_path, f"sqlite:///{app_db}")
    env = {"JOBQ_DATABASE_URL": f"sqlite:///{other_db}"}
    done = jobq_in(tmp_path, "worker", "--app", "trial:jq", env=env)
    assert done.returncode == 2, describe(done)
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("jobq: error:")]
    assert "JOBQ_DATABASE_URL" in line and str(other_db) in line, line
    assert "trial:jq" in line and str(app_db) in line, line
    assert not app_db.exists() and not other_db.exists()


# -- 7. an app module that raises ------------------------------------------------------------


def test_an_app_module_that_raises_shows_its_own_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import json\n\nratio = 1 / 0\n")
    done = jobq_in(tmp_path, "worker", "--app", "broken:jq")
    assert done.returncode == 1, describe(done)
    assert f'File "{tmp_path / "broken.py"}", line 3, in <module>' in done.stderr, done.stderr
    assert "ZeroDivisionError: division by zero" in done.stderr
    assert "importlib" not in done.stderr and "jobq/cli" not in done.stderr, done.stderr
    assert "jobq: error: the app module 'broken'" in done.stderr
    assert not (tmp_path / "jobq.db").exists()


# -- 3. commands that only read create nothing -------------------------------------------------

LOOKING = {
    "jobs list": ("jobs", "list"),
    "jobs show": ("jobs", "show", "01a242d7-0056-706f-991a-2684b8e8bc1d"),
    "jobs cancel": ("jobs", "cancel", "01a242d7-0056-706f-991a-2684b8e8bc1d"),
    "stats": ("stats",),
    "top": ("top", "--once"),
}


@pytest.mark.parametrize("command", list(LOOKING))
def test_a_command_that_only_reads_creates_no_database(tmp_path: Path, command: str) -> None:
    """Before: an empty table, exit 0, and a new ``jobq.db`` in the working directory, while
    the user's fleet ran on PostgreSQL with 200 jobs."""
    done = jobq_in(tmp_path, *LOOKING[command])
    assert done.returncode == 1, describe(done)
    [line] = done.stderr.splitlines()
    assert line.startswith(f"jobq: error: no jobq database at {tmp_path / 'jobq.db'}"), line
    assert "JOBQ_DATABASE_URL" in line and "--database-url" in line
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_config_creates_no_database(tmp_path: Path) -> None:
    done = jobq_in(tmp_path, "config")
    assert done.returncode == 0, describe(done)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["jobs list", "stats"])
def test_a_command_that_only_reads_migrates_no_postgresql_schema(
    tmp_path: Path, pg_url: str, command: str
) -> None:
    done = jobq_in(tmp_path, *LOOKING[command], env={"JOBQ_DATABASE_URL": pg_url})
    assert done.returncode == 1, describe(done)
    assert "holds no jobq tables" in done.stderr and "jobq migrate" in done.stderr
    with psycopg.connect(pg_url) as conn:
        [(tables,)] = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    assert tables == 0


def test_a_command_that_only_reads_works_on_the_database_it_finds(tmp_path: Path) -> None:
    enqueued = jobq_in(tmp_path, "enqueue", "echo", '{"n": 1}')  # enqueue may create it
    assert enqueued.returncode == 0, describe(enqueued)
    listed = jobq_in(tmp_path, "jobs", "list", "--json")
    assert listed.returncode == 0, describe(listed)
    assert enqueued.stdout.split()[0] in listed.stdout


# -- 4. --wait for a job nothing can run -----------------------------------------------------


def test_wait_says_no_worker_is_running_and_its_timeout_ends_it(tmp_path: Path) -> None:
    """Before: ``pending · attempt 0/3``, then nothing, for ever."""
    done = jobq_in(tmp_path, "enqueue", "echo", "{}", "--wait", "--wait-timeout", "1.5")
    assert done.returncode == 3, describe(done)
    job_id = done.stderr.split()[0]
    assert f"{job_id}: no worker process is running" in done.stderr, done.stderr
    assert "still pending after 1.5 s (--wait-timeout)" in done.stderr
    shown = jobq_in(tmp_path, "jobs", "show", job_id, "--json")
    assert '"status": "pending"' in shown.stdout  # it stays enqueued


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_wait_says_no_live_worker_runs_the_type(
    tmp_path: Path, processes: list[JobqProcess]
) -> None:
    """A worker process is up, with the built-in handlers only; the job's type is the app's."""
    url = f"sqlite:///{tmp_path / 'jobq.db'}"
    write_app(tmp_path, url)
    await start_worker(tmp_path, processes, url, "--workers", "1")
    done = jobq_in(
        tmp_path, "enqueue", "thumbnail", "{}", "--app", "trial:jq", "--wait", "--wait-timeout", "2"
    )
    assert done.returncode == 3, describe(done)
    assert "no live worker process runs `thumbnail` on queue `default`" in done.stderr
    assert "(1 worker process up" in done.stderr, done.stderr


# -- 6 and 10. an enqueue of a type this command does not know ---------------------------------


def test_an_unknown_type_says_to_pass_the_app(tmp_path: Path) -> None:
    """Before: ``unknown job type 'thumbnail'; this process knows: echo, http.request, sleep``
    though the running server knew it."""
    done = jobq_in(tmp_path, "enqueue", "thumbnail", "{}")
    assert done.returncode == 2, describe(done)
    assert "no live worker process runs it" in done.stderr
    assert "--app module:attribute" in done.stderr and "echo, http.request, sleep" in done.stderr
    typo = jobq_in(tmp_path, "enqueue", "ecoh", "{}")
    assert "unknown job type 'ecoh' (did you mean `echo`?)" in typo.stderr, describe(typo)


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_type_a_live_worker_process_runs_is_enqueued_without_the_app(
    tmp_path: Path, processes: list[JobqProcess]
) -> None:
    """The worker processes publish the types they run (their presence rows): the CLI needs no
    ``--app`` to enqueue one of them."""
    url = f"sqlite:///{tmp_path / 'jobq.db'}"
    write_app(tmp_path, url)  # the app names the database: the worker needs no setting
    await start_worker(tmp_path, processes, None, "--workers", "1", "--app", "trial:jq")
    done = jobq_in(tmp_path, "enqueue", "thumbnail", '{"name": "c.png"}', "--wait")
    assert done.returncode == 0, describe(done)
    assert done.stdout.strip() == '{"made": "c.png"}'


# -- 8. jobs show and its tracebacks ---------------------------------------------------------


async def test_jobs_show_prints_each_attempt_s_traceback(tmp_path: Path) -> None:
    """The README said ``jobq jobs show ID`` shows tracebacks; only ``--json`` had them."""
    url = f"sqlite:///{tmp_path / 'jobq.db'}"
    async with JobQueue(url) as jq:

        @jq.job("crop", max_attempts=1)
        def crop(payload: dict[str, object]) -> None:
            raise ValueError(f"no such image: {payload['name']}")

        job = await jq.enqueue("crop", {"name": "d.png"})
        await jq.run(until_idle=True)  # attempt 1: dead
        await jq.retry(job.id)
        await jq.run(until_idle=True)  # attempt 2: dead again
        assert (await jq.get(job.id)).attempt == 2
    shown = jobq_in(tmp_path, "jobs", "show", job.id, env={"JOBQ_DATABASE_URL": url})
    assert shown.returncode == 0, describe(shown)
    for attempt in (1, 2):
        section = shown.stdout.split(f"attempt {attempt} traceback:\n", 1)[1]
        assert section.startswith("Traceback (most recent call last):"), shown.stdout
        assert "ValueError: no such image: d.png" in section.split("\n\n")[0]


# -- 12. make run installs what running needs --------------------------------------------------


def make_plan(target: str, venv: Path) -> list[str]:
    """The commands ``make TARGET`` would run for a checkout without a venv (``make -n``)."""
    # as from a shell: not as a sub-make of the `make test` that may be running this test
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={venv}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.splitlines()


def test_make_run_installs_only_what_running_needs(tmp_path: Path) -> None:
    """Before: ``make run`` installed mypy, schemathesis, Selenium and py-spy to run the
    service."""
    venv = tmp_path / "venv"
    plan = make_plan("run", venv)
    installs = [line for line in plan if " -e " in line]
    assert installs == [
        f"{venv}/bin/python -m pip install --quiet -c constraints.txt -e '.[postgres]'"
    ]
    assert plan[-1].startswith(f"{venv}/bin/jobq serve ")
    tested = [line for line in make_plan("test", venv) if " -e " in line]
    assert tested == [f"{venv}/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'"]


# -- 9. the CLI and the API agree; click's errors look like jobq's -----------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("jobs", "list", "--limit", "0"), ("'--limit'", "1<=x<=500", "jobq jobs list --help")),
        (("jobs", "list", "--limit", "501"), ("'--limit'", "1<=x<=500")),
        (("jobs", "list", "--colour", "red"), ("--colour",)),
        (("nosuch",), ("'nosuch'", "jobq --help")),
    ],
    ids=["limit-0", "limit-501", "no-such-option", "no-such-command"],
)
def test_a_usage_error_says_jobq_error_and_exits_2(
    tmp_path: Path, args: tuple[str, ...], names: tuple[str, ...]
) -> None:
    """Before: click's ``Usage: ... Error: Invalid value`` where every other error was
    ``jobq: error: ...``."""
    done = jobq_in(tmp_path, *args)
    assert done.returncode == 2, describe(done)
    [line] = done.stderr.splitlines()
    assert line.startswith("jobq: error: "), line
    for name in names:
        assert name in line, line
    assert list(tmp_path.iterdir()) == []


async def test_jobs_list_pages_as_get_jobs_does(tmp_path: Path) -> None:
    """The same default page (50) and the same largest page (500) as ``GET /jobs``."""
    url = f"sqlite:///{tmp_path / 'jobq.db'}"
    async with JobQueue(url) as jq:
        await jq.enqueue_many([jq.new_job("echo", {"n": n}) for n in range(60)])
    env = {"JOBQ_DATABASE_URL": url}
    listed = jobq_in(tmp_path, "jobs", "list", "--json", env=env)
    assert listed.returncode == 0, describe(listed)
    assert listed.stdout.count('"type": "echo"') == 50
    helped = jobq_in(tmp_path, "jobs", "list", "--help")
    assert "Jobs per page, 1..500 (as GET /jobs)." in " ".join(helped.stdout.split())
