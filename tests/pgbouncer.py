"""A PgBouncer of the test's own, in transaction pooling mode, in front of the test server:
started on a free loopback port with its configuration in the test's tmp_path, ended by its
PID. Debian's ``pgbouncer`` (``scripts/ensure_pgbouncer.sh`` installs it for ``make test``).

PgBouncer refuses to run as root; run as root (as CI is), it is started with ``-u postgres``,
and reads its configuration before it switches user. It logs to its stderr, which goes to
``pgbouncer.log`` in tmp_path. The schema of the test (``pg_url``'s search_path) is set on each
server connection by ``connect_query``: a pooler refuses the ``options`` startup parameter."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import skip_unless_required
from tests.faults.pg import client_ports

BINARY_PLACES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
DATABASE = "jobq"


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or next(
        (place for place in BINARY_PLACES if os.access(place, os.X_OK)), None
    )
    if found is None:
        skip_unless_required(
            "the PgBouncer tests need pgbouncer (make test installs it: "
            "scripts/ensure_pgbouncer.sh; or apt-get install pgbouncer)"
        )
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def schema_of(pg_url: str) -> str:
    """The schema a ``pg_url`` names in its search_path option."""
    [options] = parse_qs(urlsplit(pg_url).query)["options"]
    return options.removeprefix("-csearch_path=")


class PgBouncer:
    """One pgbouncer process in transaction mode in front of the server of ``pg_url``, serving
    its database as ``jobq`` with at most ``server_connections`` connections to the server."""

    def __init__(self, tmp_path: Path, pg_url: str, *, server_connections: int) -> None:
        self.binary = pgbouncer_binary()
        self.port = free_port()
        self.server_connections = server_connections
        target = urlsplit(pg_url)
        self.user = target.username or "postgres"
        self.server_host = target.hostname or "127.0.0.1"
        self.server_port = target.port or 5432
        self.dbname = target.path.lstrip("/")
        self.schema = schema_of(pg_url)
        self.ini = tmp_path / "pgbouncer.ini"
        self.users = tmp_path / "userlist.txt"
        self.log_path = tmp_path / "pgbouncer.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _configure(self) -> None:
        self.users.write_text(f'"{self.user}" ""\n')
        self.ini.write_text(
            f"""[databases]
{DATABASE} = host={self.server_host} port={self.server_port} dbname={self.dbname} \
user={self.user} connect_query='SET search_path = {self.schema}'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.users}
pool_mode = transaction
default_pool_size = {self.server_connections}
max_db_connections = {self.server_connections}
reserve_pool_size = 0
max_client_conn = 2000
server_login_retry = 1
"""
        )

    @property
    def url(self) -> str:
        """The database through PgBouncer (no ``options``: it refuses them)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{DATABASE}"

    async def start(self, timeout: float = 20) -> None:
        self._configure()
        command = [self.binary, str(self.ini)]
        if os.geteuid() == 0:  # pgbouncer will not run as root
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                skip_unless_required("pgbouncer will not run as root, and no user postgres exists")
            command[1:1] = ["-u", "postgres"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self.proc.poll() is not None:
                raise AssertionError(f"pgbouncer exited:\n{self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"pgbouncer did not listen within {timeout} s")
            await asyncio.sleep(0.05)

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def server_connections_now(self) -> int:
        """Connections pgbouncer holds to the server at this moment."""
        assert self.proc is not None
        return len(client_ports([self.proc.pid], self.server_port))

    def stop(self) -> None:
        """End the pgbouncer this object started, by its PID."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def pgbouncer(tmp_path: Path, pg_url: str) -> Iterator[PgBouncer]:
    """A PgBouncer (not started yet) in front of the test's schema, 20 server connections at
    most; ended by its PID after the test."""
    bouncer = PgBouncer(tmp_path, pg_url, server_connections=20)
    try:
        yield bouncer
    finally:
        bouncer.stop()
