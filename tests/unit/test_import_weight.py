"""``import jobq`` (every producer and worker pays it) and the ``jobq`` command's start-up load
no web framework: FastAPI, Starlette and uvicorn are for a process that serves HTTP."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

WEB = ("fastapi", "starlette", "uvicorn")


def loaded_after(statement: str) -> list[str]:
    """The web framework modules a fresh interpreter has loaded after ``statement``."""
    report = f"[m for m in {WEB!r} if m in sys.modules]"
    code = f"{statement}\nimport json, sys\nprint(json.dumps({report}))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return list(json.loads(done.stdout))


@pytest.mark.parametrize(
    "statement",
    [
        "import jobq",
        "import jobq.cli",
        "from jobq.cli import cli, main",
        "import jobq.client",
        "import jobq.wire",
        "import jobq.service",
    ],
)
def test_no_web_framework_is_imported(statement: str) -> None:
    assert loaded_after(statement) == []


def test_the_check_sees_a_web_framework_when_one_is_imported() -> None:
    assert loaded_after("import jobq.serving") == sorted(WEB)


#: what a worker process never needs: the HTTP client and its models, the terminal views, the
#: bulk loader and the token tools (issue 15: a worker's cold start)
NOT_FOR_A_WORKER = (
    "httpx",
    "jobq.builtin_payloads",
    "jobq.client",
    "jobq.wire",
    "jobq.cli.stats",
    "jobq.cli.bulk",
    "jobq.cli.tokens",
    "jobq.cli.admin",
)


def modules_loaded(statement: str, wanted: tuple[str, ...]) -> list[str]:
    code = (
        f"import sys\n{statement}\n"
        f"import json\nprint(json.dumps([m for m in {wanted!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_worker_command_loads_only_what_a_worker_needs() -> None:
    statement = (
        "from jobq.cli import cli\n"
        "try:\n    cli.main(['worker', '--help'], prog_name='jobq')\n"
        "except SystemExit:\n    pass"
    )
    assert modules_loaded(statement, NOT_FOR_A_WORKER) == []
    # the check can fail: the client is loaded when it is asked for
    assert modules_loaded("import jobq\njobq.Client", NOT_FOR_A_WORKER) == [
        "httpx",
        "jobq.client",
        "jobq.wire",
    ]


def test_import_jobq_loads_no_pydantic() -> None:
    """A producer that enqueues from Python needs no model of the API or of a built-in
    payload; the worker command loads pydantic for its settings only."""
    assert modules_loaded("import jobq", ("pydantic",)) == []


def test_the_lazy_names_and_the_version_are_there() -> None:
    import jobq
    from jobq.client import AsyncClient, Client, ClientError

    assert (jobq.Client, jobq.AsyncClient, jobq.ClientError) == (Client, AsyncClient, ClientError)
    assert jobq.__version__.count(".") >= 2
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        jobq.Nope  # noqa: B018
