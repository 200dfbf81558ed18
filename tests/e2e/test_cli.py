"""End-to-end tests of the ``jobq`` command line.

Every test runs the real CLI (``python -m jobq``) in a subprocess against a real SQLite file, with
an environment stripped of inherited jobq settings. Long-running commands (``worker``, ``serve``)
run as ``JobqProcess`` and are ended by PID at teardown.

The big tables (``--help`` of every command, every invalid setting through the environment and
through a flag) only start short-lived processes. So that the file stays quick, an autouse module
fixture starts them, a few at a time, in background threads while the other tests run; the
parametrised tests at the end of the file each check the outcome of their own process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from jobq import __version__
from jobq.config import ENV_NAMES, FIELDS, FLAG_NAMES
from jobq.domain.job import Job
from jobq.jobqueue import JobQueue
from tests.cli import PLAIN_ENV_NAMES, Cli, clean_env, describe, inherited_setting
from tests.fleet import APP
from tests.helpers import REPO, JobqProcess, start_jobq

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: how long a command that must refuse to start may take, at most (Python starts in ~0.5 s)
REFUSE_WITHIN = 5.0


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    """``JobqProcess`` copies ``os.environ``: drop inherited jobq settings from it too."""
    for name in list(os.environ):
        if inherited_setting(name):
            monkeypatch.delenv(name)


@pytest.fixture
def cli(db_url: str) -> Cli:
    return Cli(db_url)


def stored_jobs(db_path: Path) -> int:
    """How many jobs the database file holds (0 if it does not exist)."""
    if not db_path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])


def parse_table(text: str, columns: Sequence[str]) -> list[dict[str, str]]:
    """Read an aligned table whose header is ``columns``; check every cell starts in its column."""
    lines = text.splitlines()
    assert lines, "no table printed"
    header = lines[0]
    assert header.split() == " ".join(columns).split(), header
    starts: list[int] = []
    position = 0
    for column in columns:
        position = header.index(column, position)
        assert not starts or header[position - 2 : position] == "  ", header
        starts.append(position)
        position += len(column)
    rows = []
    for line in lines[1:]:
        row = {}
        for i, column in enumerate(columns):
            start = starts[i]
            end = starts[i + 1] if i + 1 < len(starts) else None
            if i > 0 and len(line) > start:
                assert line[start - 2 : start] == "  ", f"column {column} misaligned:\n{text}"
                assert line[start] != " " or not line[start:end].strip(), text
            row[column] = line[start:end].strip()
        rows.append(row)
    return rows


def job_ids(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [row["ID"] for row in parse_table(result.stdout, JOB_COLUMNS)]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


JOB_COLUMNS = ("ID", "TYPE", "QUEUE", "STATUS", "ATTEMPT", "CREATED", "LAST ERROR")
STATES = ("waiting", "pending", "running", "succeeded", "failed", "dead", "cancelled")


# -- the tables run in the background -----------------------------------------------------------

#: every command that opens the store takes these
DATABASE_SETTINGS = (
    "database_url", "db_connect_timeout", "db_statement_timeout", "db_pooler", "log_level",
    "log_format",
)  # fmt: skip
#: a long-running process's connections, and the handlers: only where they are used
CONNECTION_SETTINGS = ("db_pool_size", "notify", "listen_url")
APP_SETTINGS = ("app", "accept_unknown_types")
STORE_SETTINGS = (*DATABASE_SETTINGS, *CONNECTION_SETTINGS, *APP_SETTINGS)
POOL_SETTINGS = (
    "worker_count",
    "queue_capacity",
    "prefetch",
    "shutdown_timeout",
    "lease_seconds",
    "poll_interval",
    "queues",
)
HELP_SETTINGS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("serve",): ("host", "port", *POOL_SETTINGS, *STORE_SETTINGS),
    ("worker",): (*POOL_SETTINGS, *STORE_SETTINGS),
    ("config",): ("host", "port", *POOL_SETTINGS, *STORE_SETTINGS),
    ("enqueue",): (*DATABASE_SETTINGS, *APP_SETTINGS),
    ("jobs",): (),
    ("jobs", "list"): DATABASE_SETTINGS,
    ("jobs", "show"): DATABASE_SETTINGS,
    ("jobs", "cancel"): DATABASE_SETTINGS,
    ("jobs", "retry"): DATABASE_SETTINGS,
    ("stats",): DATABASE_SETTINGS,
    ("top",): DATABASE_SETTINGS,
    ("migrate",): DATABASE_SETTINGS,
    ("tokens", "create"): DATABASE_SETTINGS,
    ("tokens", "list"): DATABASE_SETTINGS,
    ("tokens", "revoke"): DATABASE_SETTINGS,
}

#: one value that is not allowed, for every setting
BAD_VALUES: dict[str, str] = {
    "database_url": "mysql://db.example/jobs",
    "host": "",
    "port": "abc",
    "worker_count": "-1",
    "queue_capacity": "0",
    "prefetch": "some",
    "shutdown_timeout": "-5",
    "lease_seconds": "0.01",
    "poll_interval": "0",
    "log_level": "LOUD",
    "log_format": "xml",
    "app": "not a module path",
    "queues": "default,no spaces",
    "accept_unknown_types": "maybe",
    "max_body_bytes": "100",
    "max_json_depth": "65",
    "max_page_size": "0",
    "max_header_bytes": "1e6",
    "read_timeout": "nan",
    "retain_succeeded": "1 day",
    "retain_cancelled": "-1",
    "retain_dead": "ever",
    "prune_interval": "0",
    "insecure": "perhaps",
    "metrics_public": "open",
    "rate_limit": "-1",
    "http_allow": "http://bad",
    "session_key": "Kanary-42",
    "metrics_port": "70000",
    "allowed_hosts": "not a host!",
    "db_pool_size": "-1",
    "db_connect_timeout": "forever",
    "db_statement_timeout": "-1",
    "db_pooler": "session",
    "notify": "shout",
    "listen_url": "mysql://jobq@db/jobs",
}
#: --accept-unknown-types is an on/off flag: it cannot carry a bad value
VALUED_FLAGS = tuple(
    name for name in FLAG_NAMES if name not in ("accept_unknown_types", "insecure")
)
PLAIN_BAD_VALUES = {"PORT": "x", "WORKER_COUNT": "x", "JOB_QUEUE_CAPACITY": "0"}
REFUSING_COMMANDS = ("config", "serve")


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: still running after the bound, then killed
    stdout: str
    stderr: str
    seconds: float
    db_created: bool

    def describe(self) -> str:
        return (
            f"exit {self.returncode} after {self.seconds:.1f} s\n"
            f"stdout:\n{self.stdout[-2000:]}\nstderr:\n{self.stderr[-2000:]}"
        )


def run_bounded(args: Sequence[str], env: Mapping[str, str], db_path: Path) -> Outcome:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobq", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env),
        cwd=REPO,
    )
    returncode: int | None
    try:
        stdout, stderr = proc.communicate(timeout=15)
        returncode = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()  # the process this function started, through its own handle
        stdout, stderr = proc.communicate(timeout=10)
        returncode = None
    return Outcome(returncode, stdout, stderr, time.monotonic() - started, db_path.exists())


def _cases() -> dict[tuple[str, ...], tuple[list[str], dict[str, str]]]:
    """key -> (arguments, environment additions) of every background case."""
    cases: dict[tuple[str, ...], tuple[list[str], dict[str, str]]] = {}
    for command in HELP_SETTINGS:
        cases[("help", *command)] = ([*command, "--help"], {})
    for command in REFUSING_COMMANDS:
        for name, value in BAD_VALUES.items():
            env = {} if name == "port" else {"JOBQ_PORT": "0"}  # never bind 8080 by mistake
            cases[("env", command, name)] = ([command], {**env, ENV_NAMES[name][0]: value})
        for env_name, value in PLAIN_BAD_VALUES.items():
            env = {} if env_name == "PORT" else {"JOBQ_PORT": "0"}
            cases[("plain", command, env_name)] = ([command], {**env, env_name: value})
    for name in VALUED_FLAGS:
        flag = f"{FLAG_NAMES[name]}={BAD_VALUES[name]}"
        cases[("flag", "serve", name)] = (["serve", flag], {"JOBQ_PORT": "0"})
    return cases


@pytest.fixture(scope="module", autouse=True)
def background(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[tuple[str, ...], Future[Outcome]]]:
    base = tmp_path_factory.mktemp("cli-cases")
    # one CPU for the tests that run meanwhile, the others for these
    workers = max(1, min(4, (os.cpu_count() or 2) - 1))
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jobq-case")
    futures: dict[tuple[str, ...], Future[Outcome]] = {}
    for number, (key, (args, extra)) in enumerate(_cases().items()):
        db_path = base / f"case{number}" / "jobq.db"
        db_path.parent.mkdir()
        env = clean_env({"JOBQ_DATABASE_URL": f"sqlite:///{db_path}", **extra})
        futures[key] = executor.submit(run_bounded, args, env, db_path)
    try:
        yield futures
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def outcome(background: dict[tuple[str, ...], Future[Outcome]], *key: str) -> Outcome:
    return background[key].result(timeout=100)


def assert_refused(result: Outcome, label: str, value: str, *, command: str) -> None:
    """Exit 2 at once, one line naming ``label``, ``value`` and what is allowed."""
    assert result.returncode == 2, result.describe()
    assert result.seconds < REFUSE_WITHIN, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    lines = [line for line in result.stderr.splitlines() if "allowed" in line]
    assert len(lines) == 1, result.describe()
    assert re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", lines[0]), result.describe()
    if "SESSION_KEY" in label:  # a secret: named, never shown
        assert value not in lines[0] and "'***'" in lines[0], result.describe()
    else:
        assert repr(value) in lines[0] or value in lines[0], result.describe()
    assert result.stdout == "", result.describe()
    if command == "serve":
        assert "http_listening" not in result.stderr, result.describe()
        assert "store_opened" not in result.stderr, result.describe()
        assert not result.db_created, "serve opened the store before refusing a bad setting"


# -- help and version -----------------------------------------------------------------------------


def test_tables_cover_every_setting() -> None:
    assert set(BAD_VALUES) == set(FIELDS)
    assert set(FLAG_NAMES) <= set(FIELDS)
    assert set(PLAIN_BAD_VALUES) == set(PLAIN_ENV_NAMES)


def test_top_level_help_lists_every_command(cli: Cli) -> None:
    for option in ("--help", "-h"):
        result = cli.ok(option)
        assert result.stdout.startswith("Usage: jobq"), describe(result)
        commands = result.stdout.split("Commands:", 1)[1].split()
        for command in ("config", "enqueue", "jobs", "serve", "stats", "worker"):
            assert command in commands, describe(result)


def test_version(cli: Cli) -> None:
    result = cli.ok("--version")
    assert result.stdout.strip() == f"jobq, version {__version__}"


# -- invalid settings ------------------------------------------------------------------------------


def test_several_invalid_settings_give_one_line_each(cli: Cli) -> None:
    result = cli("config", "--workers=x", env={"JOBQ_PORT": "abc", "JOBQ_LOG_LEVEL": "LOUD"})
    assert result.returncode == 2, describe(result)
    lines = [line for line in result.stderr.splitlines() if "allowed" in line]
    assert len(lines) == 3, describe(result)
    for label, value in (("JOBQ_PORT", "abc"), ("JOBQ_LOG_LEVEL", "LOUD"), ("--workers", "x")):
        assert sum(label in line and repr(value) in line for line in lines) == 1, describe(result)
    assert result.stdout == ""


def test_worker_needs_at_least_one_worker(cli: Cli) -> None:
    for args, env, label in (
        (["worker", "--workers", "0"], {}, "--workers"),
        (["worker"], {"JOBQ_WORKER_COUNT": "0"}, "JOBQ_WORKER_COUNT"),
    ):
        started = time.monotonic()
        result = cli(*args, env=env)
        assert result.returncode == 2, describe(result)
        assert time.monotonic() - started < REFUSE_WITHIN
        assert label in result.stderr and "at least one worker" in result.stderr, describe(result)
        assert "pool_started" not in result.stderr


# -- config ----------------------------------------------------------------------------------------


def test_config_table_lists_every_setting_with_its_source(cli: Cli, db_url: str) -> None:
    result = cli.ok("config")
    rows = parse_table(result.stdout, ("SETTING", "VALUE", "SOURCE", "ENV", "FLAG"))
    assert [row["SETTING"] for row in rows] == list(FIELDS)
    by_name = {row["SETTING"]: row for row in rows}
    assert by_name["database_url"]["SOURCE"] == "env JOBQ_DATABASE_URL"
    assert json.loads(by_name["database_url"]["VALUE"]) == db_url
    for name in FIELDS:
        if name != "database_url":
            assert by_name[name]["SOURCE"] == "default", by_name[name]
        assert by_name[name]["ENV"] == "/".join(ENV_NAMES[name])
        assert by_name[name]["FLAG"] == FLAG_NAMES.get(name, "-")
    assert json.loads(by_name["port"]["VALUE"]) == 8080


def test_config_json_env_and_flag_sources(cli: Cli) -> None:
    shown = cli.json("config", "--workers", "3", env={"JOBQ_PORT": "9000"})
    assert set(shown) == set(FIELDS)
    assert shown["port"] == {"value": 9000, "source": "env JOBQ_PORT"}
    assert shown["worker_count"] == {"value": 3, "source": "flag --workers"}
    assert shown["host"] == {"value": "127.0.0.1", "source": "default"}


def test_config_json_plain_env_names(cli: Cli) -> None:
    shown = cli.json(
        "config", env={"PORT": "9001", "WORKER_COUNT": "4", "JOB_QUEUE_CAPACITY": "50"}
    )
    assert shown["port"] == {"value": 9001, "source": "env PORT"}
    assert shown["worker_count"] == {"value": 4, "source": "env WORKER_COUNT"}
    assert shown["queue_capacity"] == {"value": 50, "source": "env JOB_QUEUE_CAPACITY"}


def test_config_precedence_flag_then_jobq_env_then_plain_env(cli: Cli) -> None:
    shown = cli.json(
        "config",
        "--workers=3",
        "--accept-unknown-types",
        env={"JOBQ_PORT": "9000", "PORT": "9001", "JOBQ_WORKER_COUNT": "5", "WORKER_COUNT": "6"},
    )
    assert shown["port"] == {"value": 9000, "source": "env JOBQ_PORT"}
    assert shown["worker_count"] == {"value": 3, "source": "flag --workers"}
    assert shown["accept_unknown_types"] == {"value": True, "source": "flag --accept-unknown-types"}


# -- enqueue ---------------------------------------------------------------------------------------


def test_enqueue_prints_id_and_stores_the_job(cli: Cli) -> None:
    result = cli.ok("enqueue", "echo", '{"a":1}')
    match = re.fullmatch(rf"({UUID_RE}) pending \(echo on default\)\n", result.stdout)
    assert match, describe(result)
    job_id = match.group(1)
    assert str(uuid.UUID(job_id)) == job_id
    shown = cli.json("jobs", "show", job_id)
    assert shown["id"] == job_id
    assert (shown["type"], shown["queue"], shown["status"]) == ("echo", "default", "pending")
    assert shown["payload"] == {"a": 1}
    assert shown["attempts"] == []


def test_enqueue_json_and_stdin_payload(cli: Cli) -> None:
    printed = cli.json("enqueue", "echo", '{"k": "v", "n": [1, 2]}')
    assert printed["payload"] == {"k": "v", "n": [1, 2]}
    assert printed["status"] == "pending" and printed["type"] == "echo"
    assert cli.json("jobs", "show", printed["id"])["payload"] == printed["payload"]

    from_stdin = cli.json("enqueue", "echo", "-", stdin='{"from": "stdin", "ü": "ß"}\n')
    assert from_stdin["payload"] == {"from": "stdin", "ü": "ß"}
    assert cli.json("jobs", "show", from_stdin["id"])["payload"] == from_stdin["payload"]


def test_enqueue_options_land_in_the_job_and_idempotency_key_repeats(
    cli: Cli, db_path: Path
) -> None:
    args = [
        "enqueue",
        "echo",
        '{"x": 1}',
        "--queue",
        "reports",
        "--priority",
        "7",
        "--delay",
        "3600",
        "--max-attempts",
        "5",
        "--timeout",
        "2.5",
        "--idempotency-key",
        "key-1",
    ]
    first = cli.ok(*args)
    match = re.fullmatch(rf"({UUID_RE}) pending \(echo on reports\)\n", first.stdout)
    assert match, describe(first)
    job_id = match.group(1)
    shown = cli.json("jobs", "show", job_id)
    assert shown["queue"] == "reports"
    assert shown["priority"] == 7
    assert shown["max_attempts"] == 5
    assert shown["timeout"] == 2.5
    assert shown["idempotency_key"] == "key-1"
    due_in = parse_time(shown["run_at"]) - parse_time(shown["created_at"])
    assert timedelta(seconds=3590) <= due_in <= timedelta(seconds=3610), shown

    again = cli.ok(*args)
    assert again.stdout.split()[0] == job_id, describe(again)
    assert stored_jobs(db_path) == 1


BAD_ENQUEUES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "invalid-json": (["echo", "{not json"], ("PAYLOAD is not valid JSON",)),
    "json-array": (["echo", "[1, 2]"], ("JSON object", "list")),
    "unknown-type": (["no.such.type", "{}"], ("no.such.type", "echo", "sleep", "http.request")),
    "bad-queue": (["echo", "--queue", "no spaces"], ("queue", "no spaces")),
    "priority-high": (["echo", "--priority", "40000"], ("priority", "40000")),
    "max-attempts-0": (["echo", "--max-attempts", "0"], ("max_attempts", "0")),
    "negative-delay": (["echo", "--delay=-1"], ("delay",)),
    "zero-timeout": (["echo", "--timeout", "0"], ("timeout",)),
}


@pytest.mark.parametrize("case", list(BAD_ENQUEUES))
def test_bad_enqueue_exits_2_and_stores_nothing(cli: Cli, db_path: Path, case: str) -> None:
    args, fragments = BAD_ENQUEUES[case]
    result = cli("enqueue", *args)
    assert result.returncode == 2, describe(result)
    assert result.stdout == "", describe(result)
    assert result.stderr.startswith("jobq: error: "), describe(result)
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, describe(result)
    assert stored_jobs(db_path) == 0


def test_rejected_enqueue_leaves_stats_unchanged(cli: Cli) -> None:
    cli.ok("enqueue", "echo", "{}")
    before = cli.json("stats")
    assert before == {"default": {**dict.fromkeys(STATES, 0), "pending": 1}}
    rejected = cli("enqueue", "echo", "{}", "--priority", "99999")
    assert rejected.returncode == 2, describe(rejected)
    assert cli.json("stats") == before


# -- --app -----------------------------------------------------------------------------------------


def test_app_adds_its_job_types(cli: Cli) -> None:
    unknown = cli("enqueue", "ledger.sleep", '{"seconds": 0}')
    assert unknown.returncode == 2, describe(unknown)
    assert "ledger.sleep" in unknown.stderr
    by_flag = cli.ok("enqueue", "ledger.sleep", '{"seconds": 0}', "--app", APP)
    assert re.fullmatch(rf"{UUID_RE} pending \(ledger\.sleep on default\)\n", by_flag.stdout)
    by_env = cli.ok("enqueue", "ledger.fail", env={"JOBQ_APP": APP})
    assert "(ledger.fail on default)" in by_env.stdout


BAD_APPS = {
    "no-module": ("no.such.module:jq", ("no module named 'no'", "working directory")),
    "no-attribute": ("tests.apps.ledger:nothere", ("nothere",)),
    "not-a-jobqueue": ("tests.apps.ledger:record", ("function", "not a jobq.JobQueue")),
}


@pytest.mark.parametrize("via", ["flag", "env"])
@pytest.mark.parametrize("case", list(BAD_APPS))
def test_bad_app_exits_2_naming_it(cli: Cli, db_path: Path, case: str, via: str) -> None:
    app, problem = BAD_APPS[case]
    if via == "flag":  # enqueue loads the app before it opens the store
        result, label = cli("enqueue", "echo", "{}", "--app", app), "--app"
    else:  # the worker loads it before it starts
        result, label = cli("worker", env={"JOBQ_APP": app}), "JOBQ_APP"
    assert result.returncode == 2, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    line = next((ln for ln in result.stderr.splitlines() if label in ln), "")
    assert app in line, describe(result)
    for fragment in problem:
        assert fragment in line, describe(result)
    assert "pool_started" not in result.stderr
    assert stored_jobs(db_path) == 0


# -- jobs list / show / cancel / retry, stats ------------------------------------------------------


async def seed(jq: JobQueue) -> dict[str, Job]:
    """Five jobs, oldest first: a..e; d is cancelled."""
    jobs = {
        "a": await jq.enqueue("echo", {"n": 1}),
        "b": await jq.enqueue("sleep", {"seconds": 1}, queue="q1"),
        "c": await jq.enqueue("echo", {"n": 3}, queue="q1"),
        "d": await jq.enqueue("echo", {"n": 4}),
        "e": await jq.enqueue("sleep", {"seconds": 2}),
    }
    jobs["d"] = await jq.cancel(jobs["d"].id)
    return jobs


async def test_jobs_list_table_newest_first(cli: Cli, sqlite_jq: JobQueue) -> None:
    jobs = await seed(sqlite_jq)
    result = cli.ok("jobs", "list")
    rows = parse_table(result.stdout, JOB_COLUMNS)
    assert [row["ID"] for row in rows] == [jobs[k].id for k in "edcba"]
    by_id = {row["ID"]: row for row in rows}
    assert by_id[jobs["b"].id]["TYPE"] == "sleep"
    assert by_id[jobs["b"].id]["QUEUE"] == "q1"
    assert by_id[jobs["d"].id]["STATUS"] == "cancelled"
    assert by_id[jobs["a"].id]["STATUS"] == "pending"
    assert by_id[jobs["a"].id]["ATTEMPT"] == "0/3"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", by_id[jobs["a"].id]["CREATED"])
    assert "--cursor" not in result.stderr  # five rows fit the default page of 50


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--status", "cancelled"], "d"),
        (["--status", "pending"], "ecba"),
        (["--type", "sleep"], "eb"),
        (["--queue", "q1"], "cb"),
        (["--queue", "q1", "--type", "echo"], "c"),
        (["--queue", "nowhere"], ""),
        (["--limit", "5"], "edcba"),
    ],
    ids=["status-cancelled", "status-pending", "type", "queue", "queue-and-type", "empty", "limit"],
)
async def test_jobs_list_filters(
    cli: Cli, sqlite_jq: JobQueue, args: list[str], expected: str
) -> None:
    jobs = await seed(sqlite_jq)
    result = cli.ok("jobs", "list", *args)
    assert job_ids(result) == [jobs[k].id for k in expected], describe(result)
    assert "--cursor" not in result.stderr, describe(result)  # the page was not full


async def test_jobs_list_pages_with_cursor(cli: Cli, sqlite_jq: JobQueue) -> None:
    jobs = await seed(sqlite_jq)
    first = cli.ok("jobs", "list", "--limit", "2")
    assert job_ids(first) == [jobs["e"].id, jobs["d"].id]
    hint = re.search(rf"--cursor ({UUID_RE})", first.stderr)
    assert hint, describe(first)
    assert hint.group(0) not in first.stdout  # the hint goes to stderr, the table to stdout
    second = cli.ok("jobs", "list", "--limit", "2", "--cursor", hint.group(1))
    assert job_ids(second) == [jobs["c"].id, jobs["b"].id]
    hint = re.search(rf"--cursor ({UUID_RE})", second.stderr)
    assert hint, describe(second)
    third = cli.ok("jobs", "list", "--limit", "2", "--cursor", hint.group(1))
    assert job_ids(third) == [jobs["a"].id]
    assert "--cursor" not in third.stderr, describe(third)


async def test_jobs_list_json(cli: Cli, sqlite_jq: JobQueue) -> None:
    jobs = await seed(sqlite_jq)
    page = cli.json("jobs", "list", "--limit", "3", "--type", "echo")
    assert [j["id"] for j in page["jobs"]] == [jobs[k].id for k in "dca"]
    assert page["jobs"][0]["status"] == "cancelled"
    assert page["jobs"][2]["payload"] == {"n": 1}
    full = cli.json("jobs", "list", "--limit", "2")
    assert [j["id"] for j in full["jobs"]] == [jobs["e"].id, jobs["d"].id]
    assert full["next_cursor"] == jobs["d"].id
    rest = cli.json("jobs", "list", "--limit", "10", "--cursor", full["next_cursor"])
    assert [j["id"] for j in rest["jobs"]] == [jobs[k].id for k in "cba"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["not-a-job-id", "1234"])
def test_jobs_list_bad_cursor_exits_2(cli: Cli, cursor: str) -> None:
    result = cli("jobs", "list", "--cursor", cursor)
    assert result.returncode == 2, describe(result)
    assert "--cursor" in result.stderr and cursor in result.stderr, describe(result)
    assert result.stdout == ""


async def test_jobs_show_human_and_unknown_id(cli: Cli, sqlite_jq: JobQueue) -> None:
    job = await sqlite_jq.enqueue("echo", {"hello": "world"}, queue="q9", priority=3)
    result = cli.ok("jobs", "show", job.id)
    fields = dict(
        re.split(r"\s{2,}", line, maxsplit=1) for line in result.stdout.splitlines() if line
    )
    assert fields["id"] == job.id
    assert fields["type"] == "echo"
    assert fields["queue"] == "q9"
    assert fields["status"] == "pending"
    assert fields["priority"] == "3"
    assert fields["attempt"] == "0 of 3"
    assert json.loads(fields["payload"]) == {"hello": "world"}
    assert "attempts:" not in result.stdout

    for missing in (str(uuid.uuid4()), "nonsense"):
        absent = cli("jobs", "show", missing)
        assert absent.returncode == 1, describe(absent)
        assert f"no job has the id {missing}" in absent.stderr, describe(absent)
        assert absent.stdout == ""


@pytest.mark.slow
async def test_jobs_cancel_and_retry(cli: Cli, sqlite_jq: JobQueue) -> None:
    job = await sqlite_jq.enqueue("echo", {})
    refused = cli("jobs", "retry", job.id)
    assert refused.returncode == 1, describe(refused)
    assert "cannot retry" in refused.stderr and "pending" in refused.stderr, describe(refused)

    cancelled = cli.ok("jobs", "cancel", job.id)
    assert cancelled.stdout == f"{job.id} cancelled\n"
    assert (await sqlite_jq.get(job.id)).status.value == "cancelled"

    again = cli("jobs", "cancel", job.id)
    assert again.returncode == 1, describe(again)
    assert re.search(r"cannot cancel a job that is cancelled", again.stderr), describe(again)
    assert (await sqlite_jq.get(job.id)).status.value == "cancelled"

    retried = cli.json("jobs", "retry", job.id)
    assert (retried["id"], retried["status"]) == (job.id, "pending")
    assert (await sqlite_jq.get(job.id)).status.value == "pending"

    for action in ("cancel", "retry"):
        missing = cli("jobs", action, str(uuid.uuid4()))
        assert missing.returncode == 1, describe(missing)
        assert "no job has the id" in missing.stderr, describe(missing)


async def test_stats_table_and_json(cli: Cli, sqlite_jq: JobQueue) -> None:
    assert cli.json("stats") == {}
    await seed(sqlite_jq)
    expected = {
        "default": {**dict.fromkeys(STATES, 0), "pending": 2, "cancelled": 1},
        "q1": {**dict.fromkeys(STATES, 0), "pending": 2},
    }
    assert cli.json("stats") == expected
    shown = cli.ok("stats")
    by_queue, by_type = shown.stdout.split("\n\n")
    shown_states = STATES[1:]  # no job waits for another: no WAITING column
    rows = parse_table(by_queue, ("QUEUE", *(s.upper() for s in shown_states)))
    assert [row["QUEUE"] for row in rows] == ["default", "q1"]
    for row in rows:
        assert {s: int(row[s.upper()]) for s in shown_states} == {
            s: n for s, n in expected[row["QUEUE"]].items() if s != "waiting"
        }
    # then due jobs by type: no worker process runs here, so none of them has a worker
    types = parse_table(by_type, ("WAITING TYPE", "DUE", "OLDEST", "PROCESSES", "NO WORKER"))
    assert {(r["WAITING TYPE"], r["DUE"], r["PROCESSES"], r["NO WORKER"]) for r in types} == {
        ("echo", "2", "0", "2"),
        ("sleep", "2", "0", "2"),
    }
    assert "warning: no worker for `echo`: 2 waiting, oldest" in shown.stderr


# -- with a worker running ---------------------------------------------------------------------


start = start_jobq


@pytest.mark.slow
async def test_enqueue_wait_with_a_worker(
    cli: Cli, processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    worker = start(
        processes, tmp_path, db_url, "worker",
        "worker", "--app", APP, "--queues", "default", "--poll-interval", "0.1",
    )  # fmt: skip
    await worker.wait_event("pool_started")

    done = cli("enqueue", "echo", '{"a": 1, "b": "two"}', "--wait", "--wait-timeout", "30")
    assert done.returncode == 0, describe(done)
    assert json.loads(done.stdout) == {"a": 1, "b": "two"}
    waiting = re.search(rf"({UUID_RE}) enqueued; waiting", done.stderr)
    assert waiting, describe(done)
    job_id = waiting.group(1)
    shown = cli.json("jobs", "show", job_id)
    assert shown["status"] == "succeeded"
    assert shown["result"] == {"a": 1, "b": "two"}
    assert [a["outcome"] for a in shown["attempts"]] == ["succeeded"]
    human = cli.ok("jobs", "show", job_id).stdout
    assert "attempts:" in human and "succeeded" in human.split("attempts:")[1]

    failed = cli(
        "enqueue", "ledger.fail", '{"message": "boom-42"}',
        "--app", APP, "--max-attempts", "1", "--wait", "--wait-timeout", "30",
    )  # fmt: skip
    assert failed.returncode == 1, describe(failed)
    assert failed.stdout == "", describe(failed)
    assert "dead" in failed.stderr and "RuntimeError: boom-42" in failed.stderr, describe(failed)

    started = time.monotonic()
    stuck = cli("enqueue", "echo", "--queue", "elsewhere", "--wait", "--wait-timeout", "0.5")
    assert stuck.returncode == 3, describe(stuck)  # its own status: the wait ran out
    assert "still pending" in stuck.stderr, describe(stuck)
    assert "no live worker process runs `echo` on queue `elsewhere`" in stuck.stderr
    assert time.monotonic() - started < 10
    assert worker.proc.poll() is None, worker.log_text()[-3000:]


@pytest.mark.slow
async def test_serve_on_port_0_then_sigint(
    processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    server = start(processes, tmp_path, db_url, "serve", "serve", "--port", "0", "--workers", "1")
    port = await server.port()
    assert port > 0
    response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    assert response.status_code == 200
    server.signal(signal.SIGINT)
    assert await server.wait_exit(30) == 0, server.log_text()[-3000:]
    events = [r["event"] for r in server.events()]
    assert "shutdown_started" in events and "shutdown_finished" in events, events
    assert events.index("shutdown_started") < events.index("shutdown_finished")
    assert server.find("shutdown_finished")[0]["exit_status"] == 0
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass


async def run_worker_with_secret(
    cli: Cli,
    processes: list[JobqProcess],
    tmp_path: Path,
    db_url: str,
    job: list[str],
    secret: str,
    end_event: str,
) -> JobqProcess:
    """Run ``job`` (enqueue arguments) on a worker to its end, stop the worker, return it."""
    worker = start(
        processes, tmp_path, db_url, "worker", "worker", "--workers", "1", "--poll-interval", "0.1"
    )
    await worker.wait_event("pool_started")
    result = cli("enqueue", *job, "--json")
    assert result.returncode == 0, describe(result)
    job_id = json.loads(result.stdout)["id"]
    assert secret in result.stdout  # the payload did carry the secret
    await worker.wait_event(end_event, job_id=job_id)
    worker.signal(signal.SIGINT)
    assert await worker.wait_exit(30) == 0, worker.log_text()[-3000:]
    return worker


def assert_json_lines_without(worker: JobqProcess, secret: str) -> None:
    text = worker.log_text()
    lines = text.splitlines()
    assert lines
    for line in lines:
        record = json.loads(line)  # raises on any line that is not JSON
        assert isinstance(record, dict) and "event" in record, line
    events = {json.loads(line)["event"] for line in lines}
    assert {"pool_started", "job_started", "shutdown_finished"} <= events, events
    leaked = [line for line in lines if secret in line]
    assert not leaked, f"the worker logged a payload value:\n{leaked[0][:500]}"


@pytest.mark.slow
async def test_worker_logs_json_lines_without_payload_values(
    cli: Cli, processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    job = ["echo", json.dumps({"token": secret, "nested": {"also": secret}})]
    worker = await run_worker_with_secret(
        cli, processes, tmp_path, db_url, job, secret, "job_succeeded"
    )
    assert_json_lines_without(worker, secret)


@pytest.mark.slow
async def test_worker_logs_no_payload_value_when_a_payload_is_rejected(
    cli: Cli, processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    """The built-in ``sleep`` rejects a payload; the worker must still not log its values."""
    secret = f"secret-{uuid.uuid4().hex}"
    job = ["sleep", json.dumps({"seconds": secret})]
    worker = await run_worker_with_secret(cli, processes, tmp_path, db_url, job, secret, "job_dead")
    assert_json_lines_without(worker, secret)


# -- the background tables: help, and every invalid setting ---------------------------------------


@pytest.mark.parametrize("command", list(HELP_SETTINGS), ids=" ".join)
def test_subcommand_help_shows_env_hints(
    background: dict[tuple[str, ...], Future[Outcome]], command: tuple[str, ...]
) -> None:
    result = outcome(background, "help", *command)
    assert result.returncode == 0, result.describe()
    assert result.stdout.startswith(f"Usage: jobq {' '.join(command)}"), result.describe()
    text = " ".join(result.stdout.split())  # help text wraps wherever the width says
    options = text.split(" Options: ", 1)[1]
    for name in HELP_SETTINGS[command]:
        hint = f"[env: JOBQ_{name.upper()}]"
        assert FLAG_NAMES[name] in text, f"{FLAG_NAMES[name]} missing\n{result.stdout}"
        assert hint in text, f"{hint} missing\n{result.stdout}"
        # the hint belongs to the flag's own entry: after the flag, before the next option
        entry = options.split(f"{FLAG_NAMES[name]} ", 1)[1].split(" --", 1)[0]
        assert hint in entry, f"{hint} not in the entry of {FLAG_NAMES[name]}: {entry!r}"
    # and only the options it uses: no --app on `jobs list`, no pool size on `tokens revoke`
    for name in set(CONNECTION_SETTINGS + APP_SETTINGS) - set(HELP_SETTINGS[command]):
        flag = re.escape(FLAG_NAMES[name])
        assert not re.search(rf"(?<![\w-]){flag}(?![\w-])", options), (name, result.stdout)


@pytest.mark.parametrize("name", list(BAD_VALUES))
@pytest.mark.parametrize("command", REFUSING_COMMANDS)
def test_invalid_setting_in_env_exits_2_naming_it(
    background: dict[tuple[str, ...], Future[Outcome]], command: str, name: str
) -> None:
    result = outcome(background, "env", command, name)
    assert_refused(result, ENV_NAMES[name][0], BAD_VALUES[name], command=command)


@pytest.mark.parametrize("name", VALUED_FLAGS)
def test_invalid_setting_flag_exits_2_naming_it(
    background: dict[tuple[str, ...], Future[Outcome]], name: str
) -> None:
    """``jobq serve --port=abc`` and the like."""
    result = outcome(background, "flag", "serve", name)
    assert_refused(result, FLAG_NAMES[name], BAD_VALUES[name], command="serve")


@pytest.mark.parametrize("env_name", list(PLAIN_BAD_VALUES))
@pytest.mark.parametrize("command", REFUSING_COMMANDS)
def test_invalid_plain_env_name_exits_2_naming_it(
    background: dict[tuple[str, ...], Future[Outcome]], command: str, env_name: str
) -> None:
    result = outcome(background, "plain", command, env_name)
    assert_refused(result, env_name, PLAIN_BAD_VALUES[env_name], command=command)
