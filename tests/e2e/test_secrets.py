"""Canaries: a job type's secret payload fields, an API token and a database password never
show in the API's view of a job, the dashboard, stored errors or the logs of a real process."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

import httpx

from jobq.domain.tokens import Scope, new_token
from jobq.store import open_store
from tests.fleet import APP
from tests.helpers import JobqProcess, wait_for

PASSWORD = "Canary-Password-91b2"
API_KEY = "Canary-Key-0c7d44"


async def test_secret_fields_and_tokens_never_show(
    processes: list[JobqProcess], tmp_path: Path, db_url: str
) -> None:
    store = await open_store(db_url)
    token, token_text = new_token(Scope.ADMIN, "canary", datetime.now(UTC))
    await store.tokens.add(token)
    await store.close()
    serve = JobqProcess(
        ["serve", "--port", "0", "--workers", "2", "--log-level", "DEBUG",
         "--poll-interval", "0.05", "--app", APP],
        env={"JOBQ_DATABASE_URL": db_url},
        log_path=tmp_path / "serve.log",
    )  # fmt: skip
    processes.append(serve)
    url = f"http://127.0.0.1:{await serve.port()}"
    bearer = {"Authorization": f"Bearer {token_text}"}
    payload = {"user": "ada", "password": PASSWORD, "nested": [{"api_key": API_KEY}],
               "api_key": API_KEY}  # fmt: skip
    async with httpx.AsyncClient(base_url=url, headers=bearer, timeout=10) as http:
        created = await http.post("/jobs", json={"type": "ledger.login", "payload": payload})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]

        async def dead() -> bool:
            return (await http.get(f"/jobs/{job_id}")).json()["status"] == "dead"

        await wait_for(dead, timeout=20, what="the job to fail")
        job = (await http.get(f"/jobs/{job_id}")).json()
        page = await http.get(f"/ui/jobs/{job_id}", headers={"Accept": "text/html"})
        listed = await http.get("/jobs")
    assert job["payload"] == {
        "user": "ada", "password": "[redacted]", "nested": [{"api_key": "[redacted]"}],
        "api_key": "[redacted]",
    }  # fmt: skip
    assert job["last_error"]["type"] == "PermissionError"
    assert "'ada'" in job["last_error"]["message"]  # the rest of the message is kept
    assert "[redacted]" in job["last_error"]["message"]
    for text in (created.text, str(job), page.text, listed.text):
        assert PASSWORD not in text and API_KEY not in text
    assert page.status_code == 200 and "[redacted]" in page.text
    serve.signal(signal.SIGTERM)
    assert await serve.wait_exit(30) == 0
    log = serve.log_text()
    for canary in (PASSWORD, API_KEY, token_text, token_text.split("_", 2)[2]):
        assert canary not in log
    # the handler still got the real values, and the store keeps them as sent
    store = await open_store(db_url)
    try:
        stored = await store.reads.get(job_id)  # type: ignore[arg-type]
        assert stored is not None and stored.payload["password"] == PASSWORD
        [attempt] = await store.reads.attempts(stored.id)
        assert attempt.error is not None
        assert PASSWORD not in attempt.error.message and API_KEY not in attempt.error.message
        assert PASSWORD not in (attempt.error.traceback or "")
    finally:
        await store.close()
