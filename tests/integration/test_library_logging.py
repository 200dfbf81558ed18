"""jobq used as a library logs through the standard ``logging`` tree, never to stdout.

Tried as a new user would: a script that enqueues with ``JobQueue`` and prints its own output
got jobq's ``job_enqueued`` lines mixed into its stdout, though the docs said stderr. Each test
runs a real Python process with the script, and reads its two streams apart."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import REPO

SCRIPT = """
import asyncio, logging
{setup}
from jobq import JobQueue

async def main():
    async with JobQueue({url!r}) as jq:
        job = await jq.enqueue("echo", {{"n": 1}})
        print("enqueued", job.id)

asyncio.run(main())
"""


def run_script(tmp_path: Path, setup: str) -> subprocess.CompletedProcess[str]:
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT.format(setup=setup, url=url)))
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        check=True,
    )


def test_a_script_s_stdout_is_its_own(tmp_path: Path) -> None:
    """No logging configured: stdout has only what the script printed; jobq's INFO events go
    nowhere (Python's last-resort handler shows warnings and errors only)."""
    done = run_script(tmp_path, setup="")
    [line] = done.stdout.splitlines()
    assert line.startswith("enqueued "), done.stdout
    assert "job_enqueued" not in done.stderr


def test_the_application_s_logging_configuration_decides(tmp_path: Path) -> None:
    """``logging.basicConfig(level=INFO)`` on stderr: jobq's events arrive as records of the
    loggers ``jobq.*``, with their event name and ids in the message."""
    setup = 'logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")'
    done = run_script(tmp_path, setup=setup)
    assert done.stdout.startswith("enqueued ") and "job_enqueued" not in done.stdout
    job_id = done.stdout.split()[1]
    records = [line for line in done.stderr.splitlines() if "event=job_enqueued" in line]
    assert len(records) == 1, done.stderr
    level, name, message = records[0].split(" ", 2)
    assert (level, name) == ("INFO", "jobq.queue")
    assert f"job_id={job_id}" in message and "job_type=echo" in message
