"""The ``jobq`` command line run as a subprocess in tests, in an environment stripped of
inherited jobq settings (so a developer's JOBQ_DATABASE_URL never reaches a test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from jobq.config import ENV_NAMES
from tests.helpers import REPO

#: settings read from variables without the JOBQ_ prefix (PORT, ...)
PLAIN_ENV_NAMES = tuple(
    n for names in ENV_NAMES.values() for n in names if not n.startswith("JOBQ_")
)


def inherited_setting(name: str) -> bool:
    """Whether the environment variable ``name`` is a jobq setting."""
    return name.startswith("JOBQ_") or name in PLAIN_ENV_NAMES


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without any jobq setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not inherited_setting(k)}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def run_jobq(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: str | None = None,
    timeout: float = 60,
    cwd: str | os.PathLike[str] = REPO,
) -> subprocess.CompletedProcess[str]:
    feed: dict[str, Any] = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run(
        [sys.executable, "-m", "jobq", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env),
        cwd=cwd,
        check=False,
        **feed,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"{' '.join(map(str, result.args[3:]))} -> exit {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )


class Cli:
    """``jobq`` on one database, in a hermetic environment."""

    def __init__(self, db_url: str) -> None:
        self.env = clean_env({"JOBQ_DATABASE_URL": db_url})

    def __call__(
        self, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_jobq(args, {**self.env, **(env or {})}, stdin=stdin)

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        result = self(*args, **kwargs)
        assert result.returncode == 0, describe(result)
        assert "Traceback" not in result.stderr, describe(result)
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.ok(*args, "--json", **kwargs).stdout)
