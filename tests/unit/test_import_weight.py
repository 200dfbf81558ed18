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
