"""schemathesis against a real ``jobq serve`` on loopback, every operation in ``/openapi.json``,
every check but one: no server error, no answer outside the schema (status, content type,
headers, body), invalid requests refused, undeclared methods answered 405 with ``Allow``.

``schemathesis.toml`` beside this file counts 413 (a body over the size limit) as a refusal of
a request that breaks the schema. ``fuzz_hooks.py`` puts lone surrogates (``"\\ud800"``, valid
JSON, not valid Unicode) into about half the bodies of ``POST /jobs`` and ``/jobs/batch``.

Left out: ``positive_data_acceptance``. A request can fit the schema and still be refused for
what a schema cannot know: a job type no handler here knows, a cursor this server did not give
out, an ``Idempotency-Key`` header that differs from the body's field, a string that is not
Unicode.

The fast tier runs a fixed seed (a red run is then reproducible); ``JOBQ_TEST_TIER=full`` runs
a fresh seed and more examples.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import JobqProcess

FULL = os.environ.get("JOBQ_TEST_TIER") == "full"
EXAMPLES = 100 if FULL else 20
SEED = None if FULL else "20261129"
CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("fuzz_hooks.py")


@pytest.mark.slow
@pytest.mark.timeout(400 if FULL else 200)
async def test_every_operation_holds_to_its_schema(
    tmp_path: Path, store_url: str, processes: list[JobqProcess]
) -> None:
    serve = JobqProcess(
        ["serve", "--port", "0", "--workers", "2"],
        env={"JOBQ_DATABASE_URL": store_url},
        log_path=tmp_path / "serve.log",
    )
    processes.append(serve)
    port = await serve.port()
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        f"--config-file={CONFIG}",
        "run",
        f"http://127.0.0.1:{port}/openapi.json",
        "--checks=all",
        "--exclude-checks=positive_data_acceptance",
        f"--max-examples={EXAMPLES}",
        "--workers=1",
        "--request-timeout=10",
        "--suppress-health-check=too_slow",
    ]
    if SEED is not None:
        command.append(f"--seed={SEED}")
    injected = tmp_path / "injected.txt"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "JOBQ_FUZZ_INJECTED": str(injected)}
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=380, cwd=tmp_path, env=env
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert injected.exists() and injected.read_text(), "the hook put no lone surrogate in a body"
    assert "Tested: 12" in result.stdout or "Tested:" in result.stdout, report
    crashed = serve.find("request_crashed")
    assert crashed == [], crashed
