"""The local PostgreSQL cluster, for the tests that restart it (tests/e2e, tests/faults): its
version, whether it answers, and the ``local_cluster`` fixture (registered by
tests/conftest.py) that makes sure it answers again whatever the test did."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import POSTGRES_DSN_VARIABLE, skip_unless_required


def cluster_version() -> str:
    """The local cluster the test DSN names, or skip: restarting is only for a local server."""
    dsn = os.environ.get(POSTGRES_DSN_VARIABLE, "")
    host = urlsplit(dsn).hostname
    if host not in ("127.0.0.1", "localhost") or urlsplit(dsn).port not in (None, 5432):
        skip_unless_required("restarting PostgreSQL needs the local cluster on 127.0.0.1:5432")
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        skip_unless_required("restarting PostgreSQL needs pg_ctlcluster (postgresql-common)")
    versions = sorted(os.listdir("/etc/postgresql"))
    if len(versions) != 1:
        skip_unless_required(f"expected one cluster version in /etc/postgresql, found {versions}")
    return versions[0]


def pg_ctlcluster(version: str, action: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pg_isready() -> bool:
    answer = subprocess.run(
        ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], timeout=10, check=False
    )
    return answer.returncode == 0


def make_sure_postgres_answers(version: str) -> None:
    """Whatever happened in the test: the server answers again (started if it does not),
    within 60 seconds, or the teardown says so."""
    deadline = time.monotonic() + 60
    started = False
    while not pg_isready():
        if time.monotonic() > deadline:
            raise AssertionError("PostgreSQL does not answer 60 s after the restart test")
        if not started:
            pg_ctlcluster(version, "start", timeout=50)
            started = True
        time.sleep(0.5)


@pytest.fixture
def local_cluster(pg_url: str) -> Iterator[str]:
    """The version of the local cluster this test may restart. Its teardown (before the
    schema's, which needs the server) makes sure the server answers again, whatever happened:
    an assertion, an exception, or pytest-timeout stopping the test mid-restart."""
    version = cluster_version()
    try:
        yield version
    finally:
        make_sure_postgres_answers(version)
