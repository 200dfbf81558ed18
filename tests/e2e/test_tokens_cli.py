"""``jobq tokens`` and the start-up guard, as real processes: a token made by the CLI opens a
real server's API; a revoked one stops; a server that would listen beyond loopback with no
token refuses to start; no token or database password reaches a log or ``jobq config``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.cli import Cli
from tests.helpers import JobqProcess, wait_for

TOKEN = re.compile(r"^jobq_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def cli(db_url: str) -> Cli:
    return Cli(db_url)


def create(cli: Cli, scope: str, name: str) -> tuple[str, str]:
    """(token id, token text) of a new token; the text is ``create``'s last line."""
    result = cli.ok("tokens", "create", "--scope", scope, "--name", name)
    last = result.stdout.strip().splitlines()[-1]
    found = TOKEN.match(last)
    assert found is not None, result.stdout
    assert last not in result.stderr
    return found.group(1), last


async def test_a_token_from_the_cli_opens_the_api_until_revoked(
    cli: Cli, db_url: str, tmp_path: Path, processes: list[JobqProcess]
) -> None:
    token_id, token = create(cli, "enqueue", "billing")
    listed = cli.json("tokens", "list")
    assert [(t["id"], t["scope"], t["name"], t["revoked_at"]) for t in listed] == [
        (token_id, "enqueue", "billing", None)
    ]
    assert token.split("_", 2)[2] not in json.dumps(listed)  # the secret is never shown again
    table = cli.ok("tokens", "list").stdout
    assert token_id in table and "billing" in table and token.split("_", 2)[2] not in table

    serve = JobqProcess(
        ["serve", "--port", "0", "--workers", "0"],
        env={"JOBQ_DATABASE_URL": db_url, "JOBQ_LOG_LEVEL": "DEBUG"},
        log_path=tmp_path / "serve.log",
    )
    processes.append(serve)
    url = f"http://127.0.0.1:{await serve.port()}"
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.post("/jobs", json={"type": "echo"})).status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        created = await client.post("/jobs", json={"type": "echo"}, headers=bearer)
        assert created.status_code == 201, created.text
        assert (await client.post(f"/jobs/{created.json()['id']}/cancel", headers=bearer)
                ).status_code == 403  # fmt: skip

        assert cli.ok("tokens", "revoke", token_id).stdout.strip() == f"revoked {token_id}"
        again = cli("tokens", "revoke", token_id)
        assert again.returncode == 1 and "no active token" in again.stderr

        async def refused() -> bool:
            answer = await client.post("/jobs", json={"type": "echo"}, headers=bearer)
            return answer.status_code == 401

        await wait_for(refused, timeout=5, what="the revoked token to be refused")
    assert token not in serve.log_text()
    assert token.split("_", 2)[2] not in serve.log_text()


@pytest.mark.parametrize("scope", ["", "root", "READ"])
def test_a_bad_scope_exits_2(cli: Cli, scope: str) -> None:
    result = cli("tokens", "create", "--scope", scope)
    assert result.returncode == 2 and "--scope" in result.stderr
    assert cli.json("tokens", "list") == []


@pytest.mark.parametrize("command", ["serve --port 0", "worker --metrics-port 0"])
def test_listening_beyond_loopback_without_a_token_refuses_to_start(cli: Cli, command: str) -> None:
    """The guard runs before anything is bound: this test never listens beyond loopback."""
    result = cli(*command.split(), "--host", "0.0.0.0")
    assert result.returncode == 2, result.stderr
    assert "startup_refused" in result.stderr
    assert "jobq tokens create" in result.stderr and "--insecure" in result.stderr
    assert "http_listening" not in result.stderr and "metrics_listening" not in result.stderr


def test_config_and_errors_never_show_the_database_password(cli: Cli) -> None:
    canary = "Canary-Pw-7f3a9"
    url = f"postgresql://jobq:{canary}@127.0.0.1:1/jobq"
    shown = cli.ok("config", env={"JOBQ_DATABASE_URL": url})
    assert canary not in shown.stdout + shown.stderr
    as_json = cli.ok("config", "--json", env={"JOBQ_DATABASE_URL": url})
    assert canary not in as_json.stdout
    failed = cli("stats", env={"JOBQ_DATABASE_URL": url, "JOBQ_DB_CONNECT_TIMEOUT": "1"})
    assert failed.returncode != 0
    assert canary not in failed.stdout + failed.stderr
